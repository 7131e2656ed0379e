// Package bridgeconfig is the typed contract between the operator, which renders it into a
// ConfigMap, and the bridge, which reads it at start-up.
package bridgeconfig

import (
	"encoding/json"
	"fmt"
	"os"
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
}

// Kafka is the client configuration of the bridge's producer.
type Kafka struct {
	BootstrapServers []string `json:"bootstrapServers"`
	ClientID         string   `json:"clientID,omitempty"`
}

// Version is one API version, e.g. "v1".
type Version struct {
	Name       string     `json:"name"`
	Deprecated bool       `json:"deprecated,omitempty"`
	Sunset     *time.Time `json:"sunset,omitempty"`
	Routes     []Route    `json:"routes"`
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
