// Package bridge is the data plane: REST and gRPC adapters over one core that looks up the
// route, checks content type and size, validates against the topic's schema and produces.
package bridge

import (
	"context"
	"fmt"
	"mime"
	"time"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/kafka"
	"github.com/junction-dev/junction/internal/schema"
)

const (
	contentTypeJSON  = "application/json"
	contentTypeBytes = "application/octet-stream"
	// headerContentType is added to each record so consumers know how to read the value.
	headerContentType = "content-type"
)

// Message is one record as a client sent it.
type Message struct {
	// Key is the Kafka record key; empty means no key.
	Key string
	// ContentType is the media type of Body; empty is read as application/octet-stream.
	ContentType string
	Body        []byte
	Headers     map[string]string
}

// Core publishes messages for the routes of one bridge config. It is safe for concurrent use.
type Core struct {
	versions map[string]map[string]*route
	producer kafka.Producer
	timeout  time.Duration
}

type route struct {
	cfg    bridgeconfig.Route
	schema *schema.Schema // nil when the route has no schema
}

// NewCore compiles every route's schema up front, so a bad schema stops the bridge at start
// instead of failing requests.
func NewCore(cfg *bridgeconfig.Config, p kafka.Producer, timeout time.Duration) (*Core, error) {
	c := &Core{versions: map[string]map[string]*route{}, producer: p, timeout: timeout}
	for _, v := range cfg.Versions {
		routes := map[string]*route{}
		for _, r := range v.Routes {
			rt := &route{cfg: r}
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
	return c, nil
}

// Publish validates m for /version/route and produces it, returning once Kafka acknowledged.
// Errors are always *Error.
func (c *Core) Publish(ctx context.Context, version, routeName string, m Message) (kafka.Result, error) {
	rt, err := c.prepare(version, routeName, m.ContentType)
	if err != nil {
		return kafka.Result{}, err
	}
	return c.publish(ctx, rt, m)
}

// prepare does the checks that need no body, so REST can refuse before reading it.
func (c *Core) prepare(version, routeName, contentType string) (*route, error) {
	rt, err := c.lookup(version, routeName)
	if err != nil {
		return nil, err
	}
	if !rt.cfg.Allows(bridgeconfig.OperationPublish) {
		return nil, newError(KindOperationNotAllowed, "route %s/%s does not allow publish", version, routeName)
	}
	if _, err := rt.mediaType(contentType); err != nil {
		return nil, err
	}
	return rt, nil
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
		return "", newError(KindUnsupportedMedia, "this route has a schema and accepts only %s, got %s", contentTypeJSON, mt)
	}
	return "", newError(KindUnsupportedMedia, "this route accepts %s or %s, got %s", contentTypeJSON, contentTypeBytes, mt)
}

func (c *Core) publish(ctx context.Context, rt *route, m Message) (kafka.Result, error) {
	mt, err := rt.mediaType(m.ContentType)
	if err != nil {
		return kafka.Result{}, err
	}
	if limit := rt.cfg.MessageLimit(); int64(len(m.Body)) > limit {
		return kafka.Result{}, newError(KindTooLarge, "the message is %d bytes; this route accepts at most %d", len(m.Body), limit)
	}
	if mt == contentTypeJSON {
		v, err := schema.Decode(m.Body)
		if err != nil {
			return kafka.Result{}, newError(KindMalformed, "%v", err)
		}
		if rt.schema != nil {
			if vs := rt.schema.Validate(v); len(vs) > 0 {
				e := newError(KindSchemaViolation, "%d schema violation(s)", len(vs))
				e.Violations = vs
				return kafka.Result{}, e
			}
		}
	}
	rec := kafka.Record{Topic: rt.cfg.Topic, Value: m.Body, Headers: map[string]string{headerContentType: mt}}
	for k, v := range m.Headers {
		rec.Headers[k] = v
	}
	if m.Key != "" {
		rec.Key = []byte(m.Key)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	res, err := c.producer.Produce(ctx, rec)
	if err != nil {
		return kafka.Result{}, asError(err)
	}
	return res, nil
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
