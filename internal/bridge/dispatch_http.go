package bridge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// deliverer sends one record to the backend as a CloudEvents binary-mode request.
type deliverer struct {
	client  *http.Client
	backend bridgeconfig.Backend
	source  string // ce-source
	ceType  string // ce-type
	pass    map[string]bool
	replies *bridgeconfig.Replies // nil: the backend's answers are not kept
}

func newDeliverer(cfg *bridgeconfig.Config, rt *route, b bridgeconfig.Backend) *deliverer {
	pass := map[string]bool{}
	for _, h := range b.PassHeaders {
		pass[strings.ToLower(h)] = true
	}
	return &deliverer{
		client: &http.Client{Transport: &http.Transport{
			DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			// Every delivery in flight keeps its connection: fewer idle slots would close and
			// redial connections under load.
			MaxIdleConnsPerHost: int(max(b.MaxConcurrency, 32)),
			IdleConnTimeout:     90 * time.Second,
		}},
		backend: b,
		source:  fmt.Sprintf("/junction/%s/%s/%s/%s", cfg.Namespace, cfg.Name, rt.version, rt.cfg.Name),
		ceType:  fmt.Sprintf("dev.junction.%s.%s", rt.version, rt.cfg.Name),
		pass:    pass,
		replies: b.Replies,
	}
}

// attemptResult is what one delivery attempt came back with.
type attemptResult struct {
	status     int // 0 when no response arrived
	err        error
	body       string // the start of an error response, for the dead-letter metadata
	retryAfter time.Duration
	reply      *reply // the backend's answer to a delivered record, when the route keeps replies
}

// retryable: connection errors, timeouts, 408, 429 and 5xx; any other status is final.
func (a attemptResult) retryable() bool {
	return a.err != nil || a.status == http.StatusRequestTimeout || a.status == http.StatusTooManyRequests || a.status >= 500
}

func (a attemptResult) outcome() string {
	switch {
	case a.err == nil && a.status >= 200 && a.status < 300:
		return "delivered"
	case a.retryable():
		return "retryable"
	}
	return "rejected"
}

func (a attemptResult) errText() string {
	if a.err != nil {
		return a.err.Error()
	}
	s := fmt.Sprintf("HTTP %d", a.status)
	if a.body != "" {
		s += ": " + a.body
	}
	return s
}

func (d *deliverer) send(ctx context.Context, rec *kgo.Record, attempt int) attemptResult {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d.backend.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, d.backend.Method, d.backend.URL, bytes.NewReader(rec.Value))
	if err != nil {
		return attemptResult{err: err}
	}
	h := req.Header
	id := requestIDOf(rec)
	for _, x := range rec.Headers {
		switch k := strings.ToLower(x.Key); {
		case k == headerContentType:
			h.Set("Content-Type", string(x.Value))
		case k == headerTraceparent:
			h.Set("traceparent", string(x.Value))
		case d.pass[k]:
			h.Set(k, string(x.Value))
		}
	}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-id", id)
	h.Set("ce-source", d.source)
	h.Set("ce-type", d.ceType)
	if !rec.Timestamp.IsZero() {
		h.Set("ce-time", rec.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	h.Set("Idempotency-Key", id)
	h.Set("Junction-Delivery-Attempt", strconv.Itoa(attempt))
	resp, err := d.client.Do(req)
	if err != nil {
		return attemptResult{err: err}
	}
	defer resp.Body.Close()
	out := attemptResult{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	if d.replies != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		out.reply = readReply(resp, d.replies)
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		out.body = strings.TrimSpace(string(b))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	return out
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
