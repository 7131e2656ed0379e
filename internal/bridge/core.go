// Package bridge is the data plane: REST and gRPC adapters over one core that authenticates,
// looks up the route, checks content type and size, validates against the topic's schema,
// bounds the work in flight and produces.
package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/kafka"
	"github.com/junction-dev/junction/internal/schema"
)

const (
	contentTypeJSON  = "application/json"
	contentTypeBytes = "application/octet-stream"
	// contentTypeBatch selects the batch envelope {"records":[...]}. A separate media type
	// (rather than sniffing the body) keeps a topic whose schema has a "records" property
	// unambiguous; Confluent's REST proxy made the same choice.
	contentTypeBatch = "application/vnd.junction.batch+json"
	// headerContentType is added to each record so consumers know how to read the value.
	headerContentType = "content-type"
	// headerTraceparent carries the W3C trace context of the request into the record.
	headerTraceparent = "traceparent"
	// MaxBatchRecords bounds one batch request.
	MaxBatchRecords = 500
)

// Message is one record as a client sent it.
type Message struct {
	// Key is the Kafka record key; empty means no key.
	Key string
	// ContentType is the media type of Body; empty is read as application/octet-stream.
	ContentType string
	Body        []byte
	Headers     map[string]string
	// Partition pins the record to a partition; nil lets the key choose.
	Partition *int32
	// TraceParent is the request's W3C traceparent; invalid values are dropped.
	TraceParent string
	// wellFormed says Body was already checked to be one JSON value (a batch's values are,
	// by decoding the batch), so a route without a schema need not scan it again.
	wellFormed bool
}

// Limits bound the work one bridge process accepts at once.
type Limits struct {
	// MaxInFlight is the number of publish requests served at once (default 256).
	MaxInFlight int
	// MaxInFlightBytes bounds the request bodies held at once (default 64 MiB).
	MaxInFlightBytes int64
	// MaxStreams bounds open SSE streams, each with its own Kafka consumer (default 256).
	MaxStreams int
}

func (l *Limits) defaults() {
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = 256
	}
	if l.MaxInFlightBytes <= 0 {
		l.MaxInFlightBytes = 64 << 20
	}
	if l.MaxStreams <= 0 {
		l.MaxStreams = 256
	}
}

// Core publishes messages for the routes of one bridge config. It is safe for concurrent use.
type Core struct {
	cfg      *bridgeconfig.Config
	versions map[string]map[string]*route
	producer kafka.Producer
	timeout  time.Duration
	keys     map[string]*Principal // by hex SHA-256 of the key
	limiter  *rate.Limiter         // the whole exposure; nil means unlimited
	limits   Limits
	metrics  *metrics

	mu            sync.Mutex
	inFlight      int
	inFlightBytes int64
	streams       int
}

// Principal is an authenticated API key.
type Principal struct {
	Name    string
	grants  []bridgeconfig.Grant
	limiter *rate.Limiter
}

type route struct {
	version string
	cfg     bridgeconfig.Route
	schema  *schema.Schema // nil when the route has no schema
}

// NewCore compiles every route's schema up front, so a bad schema stops the bridge at start
// instead of failing requests.
func NewCore(cfg *bridgeconfig.Config, p kafka.Producer, timeout time.Duration) (*Core, error) {
	return newCore(cfg, p, timeout, Limits{}, nil)
}

func newCore(cfg *bridgeconfig.Config, p kafka.Producer, timeout time.Duration, limits Limits, m *metrics) (*Core, error) {
	limits.defaults()
	c := &Core{cfg: cfg, versions: map[string]map[string]*route{}, producer: p, timeout: timeout, limits: limits, metrics: m}
	for _, v := range cfg.Versions {
		routes := map[string]*route{}
		for _, r := range v.Routes {
			rt := &route{version: v.Name, cfg: r}
			if r.Schema != "" {
				s, err := schema.Compile(r.Schema)
				if err != nil {
					return nil, fmt.Errorf("route %s/%s: %w", v.Name, r.Name, err)
				}
				rt.schema = s
			}
			routes[r.Name] = rt
		}
		c.versions[v.Name] = routes
	}
	c.limiter = newLimiter(cfg.RateLimit)
	if cfg.Auth != nil {
		c.keys = map[string]*Principal{}
		for _, k := range cfg.Auth.Keys {
			c.keys[k.SHA256] = &Principal{Name: k.Name, grants: k.Grants, limiter: newLimiter(k.RateLimit)}
		}
	}
	return c, nil
}

func newLimiter(rl *bridgeconfig.RateLimit) *rate.Limiter {
	if rl == nil || rl.RequestsPerSecond <= 0 {
		return nil
	}
	burst := int(rl.Burst)
	if burst <= 0 {
		burst = int(rl.RequestsPerSecond)
	}
	return rate.NewLimiter(rate.Limit(rl.RequestsPerSecond), burst)
}

// Authenticate maps a presented API key to its principal. Without auth configured every
// request is anonymous (nil principal).
func (c *Core) Authenticate(key string) (*Principal, error) {
	if c.keys == nil {
		return nil, nil
	}
	if key == "" {
		return nil, newError(KindUnauthenticated, "this API requires an API key (Authorization: Bearer <key> or X-API-Key)")
	}
	sum := sha256.Sum256([]byte(key))
	p, ok := c.keys[hex.EncodeToString(sum[:])]
	if !ok {
		return nil, newError(KindUnauthenticated, "the API key is not valid")
	}
	return p, nil
}

// Authorize finds /version/route, checks that it offers op and that p's grants cover it, and
// takes a token from the key's and the exposure's rate limits.
func (c *Core) Authorize(p *Principal, version, routeName string, op bridgeconfig.Operation) (*route, error) {
	rt, err := c.lookup(version, routeName)
	if err != nil {
		return nil, err
	}
	if !rt.cfg.Allows(op) {
		return nil, newError(KindOperationNotAllowed, "route %s/%s does not allow %s", version, routeName, op)
	}
	if c.keys != nil {
		granted := false
		for _, g := range p.grants {
			granted = granted || g.Allows(version, routeName, op)
		}
		if !granted {
			return nil, newError(KindForbidden, "API key %q is not granted %s on %s/%s", p.Name, op, version, routeName)
		}
		if err := take(p.limiter, fmt.Sprintf("API key %q", p.Name)); err != nil {
			return nil, err
		}
	}
	if err := take(c.limiter, "this API"); err != nil {
		return nil, err
	}
	return rt, nil
}

// deprecationHeaders are the headers a deprecated version answers with: RFC 9745 Deprecation,
// RFC 8594 Sunset, and Links to its docs and to the same route in the successor version.
// REST sends them as HTTP headers, gRPC as response metadata.
func (c *Core) deprecationHeaders(version, routeName string) map[string]string {
	for _, v := range c.cfg.Versions {
		if v.Name != version || !v.Deprecated {
			continue
		}
		var since int64
		if v.DeprecatedSince != nil {
			since = v.DeprecatedSince.Unix()
		}
		h := map[string]string{"Deprecation": "@" + strconv.FormatInt(since, 10)}
		if v.Sunset != nil {
			h["Sunset"] = v.Sunset.UTC().Format(http.TimeFormat)
		}
		links := []string{fmt.Sprintf(`</docs#%s>; rel="deprecation"; type="text/html"`, version)}
		if succ := c.cfg.Successor(version); succ != "" {
			target := "/" + succ + "/"
			if _, err := c.lookup(succ, routeName); err == nil {
				target += routeName
			}
			links = append(links, fmt.Sprintf(`<%s>; rel="successor-version"`, target))
		}
		h["Link"] = strings.Join(links, ", ")
		return h
	}
	return nil
}

// take spends one token or says how long to wait for one.
func take(l *rate.Limiter, who string) error {
	if l == nil {
		return nil
	}
	r := l.Reserve()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	r.Cancel()
	if d == rate.InfDuration {
		d = time.Minute
	}
	e := newError(KindRateLimited, "%s allows %g requests per second (burst %d)", who, float64(l.Limit()), l.Burst())
	e.RetryAfter = d
	return e
}

// acquire reserves room for one request carrying up to size bytes; the bridge answers 503
// instead of queueing, so memory stays bounded however hard clients push.
func (c *Core) acquire(size int64) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inFlight >= c.limits.MaxInFlight || c.inFlightBytes+size > c.limits.MaxInFlightBytes {
		e := newError(KindOverloaded, "%d requests (%d bytes) in flight; the bridge accepts at most %d (%d bytes)",
			c.inFlight, c.inFlightBytes, c.limits.MaxInFlight, c.limits.MaxInFlightBytes)
		e.RetryAfter = time.Second
		return nil, e
	}
	c.inFlight++
	c.inFlightBytes += size
	c.metrics.inFlight(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.inFlight--
			c.inFlightBytes -= size
			c.mu.Unlock()
			c.metrics.inFlight(-1)
		})
	}, nil
}

// acquireStream reserves one of the SSE stream slots.
func (c *Core) acquireStream() (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams >= c.limits.MaxStreams {
		e := newError(KindOverloaded, "%d event streams open; the bridge serves at most %d", c.streams, c.limits.MaxStreams)
		e.RetryAfter = 5 * time.Second
		return nil, e
	}
	c.streams++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.streams--
			c.mu.Unlock()
		})
	}, nil
}

// Published is where Kafka stored a published message, and its request id on a route with
// a backend ("" otherwise).
type Published struct {
	kafka.Result
	RequestID string
}

// Publish authorizes, validates and produces one message for /version/route, returning once
// Kafka acknowledged it. Errors are always *Error.
func (c *Core) Publish(ctx context.Context, p *Principal, version, routeName string, m Message) (Published, error) {
	rt, err := c.Authorize(p, version, routeName, bridgeconfig.OperationPublish)
	if err != nil {
		return Published{}, err
	}
	release, err := c.acquire(int64(len(m.Body)))
	if err != nil {
		return Published{}, err
	}
	defer release()
	rec, err := rt.record(m, "")
	if err != nil {
		return Published{}, err
	}
	if err := c.checkPartitions(ctx, rt, []kafka.Record{rec}, func(int) string { return "" }); err != nil {
		return Published{}, err
	}
	o := c.produceRequests(ctx, []*route{rt}, []kafka.Record{rec})[0]
	if o.Err != nil {
		return Published{}, asError(o.Err)
	}
	return Published{Result: o.Result, RequestID: rec.Headers[headerRequestID]}, nil
}

func (c *Core) lookup(version, routeName string) (*route, error) {
	routes, ok := c.versions[version]
	if !ok {
		return nil, newError(KindNotFound, "no API version %q", version)
	}
	rt, ok := routes[routeName]
	if !ok {
		return nil, newError(KindNotFound, "no route %q in version %s", routeName, version)
	}
	return rt, nil
}

// mediaType accepts JSON on every route and raw bytes only where no schema must be enforced.
func (rt *route) mediaType(contentType string) (string, error) {
	mt := contentTypeBytes
	if contentType != "" {
		parsed, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return "", newError(KindUnsupportedMedia, "cannot parse content type %q: %v", contentType, err)
		}
		mt = parsed
	}
	switch {
	case mt == contentTypeJSON:
		return mt, nil
	case mt == contentTypeBytes && rt.schema == nil:
		return mt, nil
	case rt.schema != nil:
		return "", newError(KindUnsupportedMedia, "this route has a schema and accepts only %s or %s, got %s", contentTypeJSON, contentTypeBatch, mt)
	}
	return "", newError(KindUnsupportedMedia, "this route accepts %s, %s or %s, got %s", contentTypeJSON, contentTypeBatch, contentTypeBytes, mt)
}

// validTraceparent checks the W3C trace-context shape (2-32-16-2 lowercase hex digits joined
// by dashes), rejecting the all-zero ids and version ff. It runs twice per request, so it is a
// loop rather than a regular expression.
func validTraceparent(s string) bool {
	if len(s) != 55 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 2, 35, 52:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return s[:2] != "ff" && s[3:35] != "00000000000000000000000000000000" && s[36:52] != "0000000000000000"
}

// record checks m against the route and builds the Kafka record. at is the JSON pointer of the
// value inside the request body ("" for a single message, "/records/3/value" in a batch), so
// every violation points into what the client sent.
func (rt *route) record(m Message, at string) (kafka.Record, error) {
	mt, err := rt.mediaType(m.ContentType)
	if err != nil {
		return kafka.Record{}, err
	}
	if limit := rt.cfg.MessageLimit(); int64(len(m.Body)) > limit {
		return kafka.Record{}, newError(KindTooLarge, "the message%s is %d bytes; this route accepts at most %d", where(at), len(m.Body), limit)
	}
	if m.Partition != nil && *m.Partition < 0 {
		return kafka.Record{}, newError(KindInvalidPartition, "partition%s is %d; partitions start at 0", where(at), *m.Partition)
	}
	if mt == contentTypeJSON && (rt.schema != nil || (!m.wellFormed && !json.Valid(m.Body))) {
		// Without a schema only well-formedness matters: json.Valid checks it in one pass
		// without building the value; Decode runs when there is a value to validate or an
		// error to describe.
		v, err := schema.Decode(m.Body)
		if err != nil {
			return kafka.Record{}, newError(KindMalformed, "%v", err)
		}
		if rt.schema != nil {
			if vs := rt.schema.Validate(v); len(vs) > 0 {
				for i := range vs {
					vs[i].Pointer = at + vs[i].Pointer
				}
				e := newError(KindSchemaViolation, "%d schema violation(s)", len(vs))
				e.Violations = vs
				return kafka.Record{}, e
			}
		}
	}
	rec := kafka.Record{Topic: rt.cfg.Topic, Value: m.Body, Partition: m.Partition, Headers: map[string]string{}}
	for k, v := range m.Headers {
		rec.Headers[k] = v
	}
	// Set last: the bridge, not the client, says what the value is and which trace it belongs to.
	rec.Headers[headerContentType] = mt
	delete(rec.Headers, headerTraceparent)
	if validTraceparent(m.TraceParent) {
		rec.Headers[headerTraceparent] = m.TraceParent
	}
	if m.Key != "" {
		rec.Key = []byte(m.Key)
	}
	if rt.cfg.Backend != nil {
		// Every record of a backend route carries its request id: the 202's id, the
		// CloudEvents id and the backend's idempotency key.
		id, err := newRequestID()
		if err != nil {
			return kafka.Record{}, newError(KindInternal, "request id: %v", err)
		}
		rec.Headers[headerRequestID] = id
	}
	return rec, nil
}

func where(at string) string {
	if at == "" {
		return ""
	}
	return " at " + at
}

// checkPartitions refuses pinned partitions the topic does not have, before anything is
// produced, so a bad batch moves no offsets.
func (c *Core) checkPartitions(ctx context.Context, rt *route, recs []kafka.Record, at func(int) string) error {
	var n int32 = -1
	for i, r := range recs {
		if r.Partition == nil {
			continue
		}
		if n < 0 {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			var err error
			n, err = c.producer.Partitions(pctx, rt.cfg.Topic)
			cancel()
			if err != nil {
				return asError(err)
			}
		}
		if *r.Partition >= n {
			return newError(KindInvalidPartition, "partition%s is %d; the topic has %d partition(s)", where(at(i)), *r.Partition, n)
		}
	}
	return nil
}

// produce writes recs in order and waits for every acknowledgement.
func (c *Core) produce(ctx context.Context, recs []kafka.Record) []kafka.Outcome {
	return c.startProduce(ctx, recs)()
}

// startProduce enqueues recs in order and returns the wait for their acknowledgements, so a
// stream can enqueue its next records while these are on their way to Kafka.
func (c *Core) startProduce(ctx context.Context, recs []kafka.Record) (wait func() []kafka.Outcome) {
	cancel := context.CancelFunc(func() {})
	if c.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	start := time.Now()
	w := c.producer.StartBatch(ctx, recs)
	return func() []kafka.Outcome {
		defer cancel()
		out := w()
		c.metrics.observeProduce(time.Since(start), len(recs))
		return out
	}
}

// maxMessageLimit is the largest limit of any route, for transport-level caps.
func (c *Core) maxMessageLimit() int64 {
	var limit int64 = bridgeconfig.DefaultMaxMessageBytes
	for _, routes := range c.versions {
		for _, rt := range routes {
			limit = max(limit, rt.cfg.MessageLimit())
		}
	}
	return limit
}

// batchLimit is the largest batch body a route accepts: room for MaxBatchRecords small records
// or a few large ones, never less than one record at the route's limit.
func (rt *route) batchLimit() int64 {
	return max(rt.cfg.MessageLimit()+64<<10, min(int64(math.MaxInt32), 4<<20))
}
