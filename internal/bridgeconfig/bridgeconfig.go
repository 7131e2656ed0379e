// Package bridgeconfig is the typed contract between the operator, which renders it into a
// ConfigMap, and the bridge, which reads it at start-up.
package bridgeconfig

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// FileName is the ConfigMap key and the file name under which the bridge finds its config.
const FileName = "bridge.json"

// Operation names what a route allows.
type Operation string

const (
	OperationPublish   Operation = "publish"
	OperationSubscribe Operation = "subscribe"
)

// Config is everything one bridge process needs to serve an ApiExposure.
type Config struct {
	// Namespace and Name identify the ApiExposure this bridge serves.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Kafka is how to reach the cluster every route's topic lives in.
	Kafka Kafka `json:"kafka"`
	// HTTPPort and GRPCPort are the container ports the bridge listens on.
	HTTPPort int32 `json:"httpPort"`
	GRPCPort int32 `json:"grpcPort"`
	// Versions are served side by side, in this order.
	Versions []Version `json:"versions"`
	// Auth, when set, requires an API key on every route; nil serves routes openly.
	Auth *Auth `json:"auth,omitempty"`
	// RateLimit bounds the requests of all clients together, per bridge replica.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// CORS, when set, answers browser preflights and adds CORS headers for the listed origins.
	CORS *CORS `json:"cors,omitempty"`
}

// Auth lists the API keys the bridge accepts. Keys are stored as SHA-256 digests so the
// ConfigMap never holds a usable secret.
type Auth struct {
	Keys []APIKey `json:"keys"`
}

// APIKey is one client's key and what it may do.
type APIKey struct {
	// Name identifies the key in logs and metrics (never the key itself).
	Name string `json:"name"`
	// SHA256 is the lowercase hex SHA-256 digest of the key.
	SHA256 string  `json:"sha256"`
	Grants []Grant `json:"grants"`
	// RateLimit bounds this key's requests per bridge replica.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
}

// Grant allows operations on one route; "*" as Version or Route matches any.
type Grant struct {
	Version    string      `json:"version"`
	Route      string      `json:"route"`
	Operations []Operation `json:"operations"`
}

// Allows reports whether g covers op on /version/route.
func (g Grant) Allows(version, route string, op Operation) bool {
	if (g.Version != "*" && g.Version != version) || (g.Route != "*" && g.Route != route) {
		return false
	}
	for _, o := range g.Operations {
		if o == op {
			return true
		}
	}
	return false
}

// RateLimit is a token bucket: RequestsPerSecond sustained, Burst at once.
type RateLimit struct {
	RequestsPerSecond int32 `json:"requestsPerSecond"`
	Burst             int32 `json:"burst,omitempty"`
}

// CORS is the browser cross-origin policy of the REST API.
type CORS struct {
	// AllowedOrigins are exact origins ("https://shop.example") or "*".
	AllowedOrigins []string `json:"allowedOrigins"`
	// AllowedHeaders are request headers browsers may send besides the CORS-safelisted ones.
	AllowedHeaders []string `json:"allowedHeaders,omitempty"`
	// MaxAgeSeconds is how long a browser may cache a preflight answer.
	MaxAgeSeconds int32 `json:"maxAgeSeconds,omitempty"`
}

// Kafka is the client configuration of the bridge's producer and consumers. Credentials are
// never in the config: it names files where the operator mounts the MessageBroker's Secrets.
type Kafka struct {
	BootstrapServers []string   `json:"bootstrapServers"`
	ClientID         string     `json:"clientID,omitempty"`
	TLS              *KafkaTLS  `json:"tls,omitempty"`
	SASL             *KafkaSASL `json:"sasl,omitempty"`
}

// KafkaTLS enables TLS; empty CAFile means the system roots, CertFile/KeyFile are both or neither.
type KafkaTLS struct {
	CAFile   string `json:"caFile,omitempty"`
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
}

// KafkaSASL authenticates with a username and password read from files.
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism    string `json:"mechanism"`
	UsernameFile string `json:"usernameFile"`
	PasswordFile string `json:"passwordFile"`
}

// Version is one API version, e.g. "v1".
type Version struct {
	Name       string `json:"name"`
	Deprecated bool   `json:"deprecated,omitempty"`
	// DeprecatedSince is the date sent in the Deprecation header (RFC 9745).
	DeprecatedSince *time.Time `json:"deprecatedSince,omitempty"`
	Sunset          *time.Time `json:"sunset,omitempty"`
	Routes          []Route    `json:"routes"`
}

// Successor is the first version after v in c that is not deprecated, or "" if none.
func (c *Config) Successor(v string) string {
	after := false
	for _, x := range c.Versions {
		if after && !x.Deprecated {
			return x.Name
		}
		if x.Name == v {
			after = true
		}
	}
	return ""
}

// Route maps a path segment to a Kafka topic.
type Route struct {
	Name       string      `json:"name"`
	Topic      string      `json:"topic"`
	Operations []Operation `json:"operations"`
	// Schema is the topic's JSON Schema (2020-12) text; empty means no schema.
	Schema string `json:"schema,omitempty"`
	// MaxMessageBytes bounds one record's value; 0 means the bridge default.
	MaxMessageBytes int32 `json:"maxMessageBytes,omitempty"`
	// Backend, when set, makes the route a queue in front of a REST API: publish answers 202
	// and the bridge's dispatcher delivers each record to the backend.
	Backend *Backend `json:"backend,omitempty"`
}

// Backend is where the dispatcher delivers a route's records and how it retries.
type Backend struct {
	URL string `json:"url"`
	// Method is the HTTP method of each delivery; empty means POST.
	Method string `json:"method,omitempty"`
	// Timeout bounds one delivery attempt; 0 means 10s.
	Timeout Duration `json:"timeout,omitempty"`
	Retry   Retry    `json:"retry"`
	// DeadLetterTopic is the Kafka topic that receives records that cannot be delivered;
	// empty means they are logged, counted and skipped.
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
	// PassHeaders are request headers copied into the record at publish and sent to the
	// backend on delivery (case-insensitive names).
	PassHeaders []string `json:"passHeaders,omitempty"`
	// Ordering is "perKey" (default) or "unordered".
	Ordering string `json:"ordering,omitempty"`
	// MaxConcurrency bounds the deliveries in flight at once in one bridge when Ordering is
	// "unordered"; 0 means 16. perKey delivers one record per partition at a time.
	MaxConcurrency int32 `json:"maxConcurrency,omitempty"`
	// Replies, when set, keeps each request's outcome in a compacted reply topic.
	Replies *Replies `json:"replies,omitempty"`
}

// Replies is where and how a route keeps the backend's answers.
type Replies struct {
	// Topic is the Kafka topic (compacted, keyed by request id) holding pending markers and
	// outcomes.
	Topic string `json:"topic"`
	// Headers are backend response headers kept besides Content-Type (case-insensitive).
	Headers []string `json:"headers,omitempty"`
	// MaxBytes bounds the kept reply body; 0 means DefaultMaxReplyBytes, negative keeps none.
	MaxBytes int32 `json:"maxBytes,omitempty"`
}

// DefaultMaxReplyBytes is the largest reply body kept when a route sets no limit.
const DefaultMaxReplyBytes = 64 << 10

// BodyLimit is the largest reply body kept, in bytes.
func (r Replies) BodyLimit() int {
	switch {
	case r.MaxBytes > 0:
		return int(r.MaxBytes)
	case r.MaxBytes < 0:
		return 0
	}
	return DefaultMaxReplyBytes
}

// Retry is the dispatcher's retry policy; zero values mean the defaults of WithDefaults.
type Retry struct {
	MaxAttempts    int32    `json:"maxAttempts,omitempty"`
	InitialBackoff Duration `json:"initialBackoff,omitempty"`
	MaxBackoff     Duration `json:"maxBackoff,omitempty"`
	// MaxRetryAfter caps how long a backend's Retry-After may hold a partition.
	MaxRetryAfter Duration `json:"maxRetryAfter,omitempty"`
}

// WithDefaults fills unset fields: POST, 10s timeout, 5 attempts, 200ms..30s backoff, 60s
// Retry-After cap, perKey ordering, 16 concurrent deliveries when unordered.
func (b Backend) WithDefaults() Backend {
	if b.Method == "" {
		b.Method = "POST"
	}
	if b.Timeout <= 0 {
		b.Timeout = Duration(10 * time.Second)
	}
	if b.Retry.MaxAttempts <= 0 {
		b.Retry.MaxAttempts = 5
	}
	if b.Retry.InitialBackoff <= 0 {
		b.Retry.InitialBackoff = Duration(200 * time.Millisecond)
	}
	if b.Retry.MaxBackoff <= 0 {
		b.Retry.MaxBackoff = Duration(30 * time.Second)
	}
	if b.Retry.MaxBackoff < b.Retry.InitialBackoff {
		b.Retry.MaxBackoff = b.Retry.InitialBackoff
	}
	if b.Retry.MaxRetryAfter <= 0 {
		b.Retry.MaxRetryAfter = Duration(60 * time.Second)
	}
	if b.Ordering == "" {
		b.Ordering = "perKey"
	}
	if b.MaxConcurrency <= 0 {
		b.MaxConcurrency = 16
	}
	return b
}

// Duration is a time.Duration written as a Go duration string ("200ms", "30s").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// DefaultMaxMessageBytes is the bridge's limit on one record's value when a route sets none;
// it matches Kafka's default message.max.bytes (about 1 MiB).
const DefaultMaxMessageBytes = 1 << 20

// MessageLimit is the largest record value, in bytes, the bridge accepts on this route.
func (r Route) MessageLimit() int64 {
	if r.MaxMessageBytes > 0 {
		return int64(r.MaxMessageBytes)
	}
	return DefaultMaxMessageBytes
}

// Allows reports whether the route permits op.
func (r Route) Allows(op Operation) bool {
	for _, o := range r.Operations {
		if o == op {
			return true
		}
	}
	return false
}

// Marshal renders c deterministically (the operator hashes it to roll the Deployment).
func (c *Config) Marshal() ([]byte, error) {
	return json.MarshalIndent(c, "", "  ")
}

// Parse reads a Config and checks the fields the bridge cannot do without.
func Parse(data []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("bridge config: %w", err)
	}
	if len(c.Kafka.BootstrapServers) == 0 {
		return nil, fmt.Errorf("bridge config: kafka.bootstrapServers is empty")
	}
	for _, v := range c.Versions {
		for _, r := range v.Routes {
			if r.Topic == "" {
				return nil, fmt.Errorf("bridge config: route %s/%s has no topic", v.Name, r.Name)
			}
			if b := r.Backend; b != nil {
				if u, err := url.Parse(b.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return nil, fmt.Errorf("bridge config: route %s/%s: backend url %q must be an absolute http(s) URL", v.Name, r.Name, b.URL)
				}
				if b.Ordering != "" && b.Ordering != "perKey" && b.Ordering != "unordered" {
					return nil, fmt.Errorf("bridge config: route %s/%s: backend ordering %q must be perKey or unordered", v.Name, r.Name, b.Ordering)
				}
				if b.MaxConcurrency < 0 || b.MaxConcurrency > 256 {
					return nil, fmt.Errorf("bridge config: route %s/%s: backend maxConcurrency %d must be between 1 and 256", v.Name, r.Name, b.MaxConcurrency)
				}
				if b.Replies != nil && b.Replies.Topic == "" {
					return nil, fmt.Errorf("bridge config: route %s/%s: backend replies need a topic", v.Name, r.Name)
				}
			}
		}
	}
	if c.Auth != nil {
		for _, k := range c.Auth.Keys {
			if len(k.SHA256) != 64 || strings.Trim(k.SHA256, "0123456789abcdef") != "" {
				return nil, fmt.Errorf("bridge config: API key %q: sha256 must be 64 lowercase hex digits", k.Name)
			}
		}
	}
	return &c, nil
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}
