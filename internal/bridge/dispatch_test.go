package bridge

import (
	"errors"
	"net/http"
	"regexp"
	"testing"
	"time"
)

func TestBackoffIsExponentialWithEqualJitter(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond, 3: 800 * time.Millisecond, 4: time.Second, 10: time.Second} {
		for range 200 {
			d := backoff(200*time.Millisecond, time.Second, n)
			if d < want/2 || d > want {
				t.Fatalf("retry %d waited %s, want %s..%s", n, d, want/2, want)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":     0,
		"3":    3 * time.Second,
		" 0 ":  0,
		"-1":   0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat):  90 * time.Second,
		now.Add(-90 * time.Second).Format(http.TimeFormat): 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestAttemptClassification(t *testing.T) {
	for _, c := range []struct {
		a       attemptResult
		outcome string
	}{
		{attemptResult{status: 200}, "delivered"},
		{attemptResult{status: 204}, "delivered"},
		{attemptResult{err: errors.New("connection refused")}, "retryable"},
		{attemptResult{status: 408}, "retryable"},
		{attemptResult{status: 429}, "retryable"},
		{attemptResult{status: 500}, "retryable"},
		{attemptResult{status: 503}, "retryable"},
		{attemptResult{status: 400}, "rejected"},
		{attemptResult{status: 404}, "rejected"},
		{attemptResult{status: 409}, "rejected"},
	} {
		if got := c.a.outcome(); got != c.outcome {
			t.Errorf("%+v: %s, want %s", c.a, got, c.outcome)
		}
	}
}

func TestRequestIDIsUUIDv4(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id, err := newRequestID()
		if err != nil || !re.MatchString(id) || seen[id] {
			t.Fatalf("request id %q (err %v)", id, err)
		}
		seen[id] = true
	}
}

func TestPassHeaders(t *testing.T) {
	got := passHeaders(http.Header{"X-Tenant": {"acme"}, "Authorization": {"secret"}}, []string{"x-tenant", "X-Missing"})
	if len(got) != 1 || got["x-tenant"] != "acme" {
		t.Fatalf("passHeaders = %v", got)
	}
}

func TestAttemptsMetadataRoundTrip(t *testing.T) {
	as := []attemptState{{offset: 57, attempts: 1, status: 0}, {offset: 42, attempts: 3, status: 503}}
	md := attemptsMetadata(as)
	if md != "junction-attempts/2 42:3:503 57:1:0" {
		t.Fatalf("metadata %q", md)
	}
	got := parseAttemptsMetadata(md)
	if len(got) != 2 || got[42] != (attemptState{offset: 42, attempts: 3, status: 503}) || got[57] != (attemptState{offset: 57, attempts: 1}) {
		t.Fatalf("round trip of %q: %+v", md, got)
	}
	if attemptsMetadata(nil) != "" {
		t.Errorf("no failed records must commit empty metadata")
	}
	for _, md := range []string{"", "other metadata", "junction-attempts/1 42 3 503", "junction-attempts/2 42:0:503", "junction-attempts/2 x:y:z"} {
		if got := parseAttemptsMetadata(md); len(got) != 0 {
			t.Errorf("parseAttemptsMetadata(%q) = %v, want nothing", md, got)
		}
	}
	many := make([]attemptState, 100)
	for i := range many {
		many[i] = attemptState{offset: int64(1000 - i), attempts: 100, status: 503}
	}
	if md := attemptsMetadata(many); len(md) > 4096 || len(parseAttemptsMetadata(md)) != maxSavedAttempts || parseAttemptsMetadata(md)[901].attempts != 100 {
		t.Errorf("100 failed records: %d bytes, %d kept (want the %d lowest offsets within Kafka's 4 KiB)", len(md), len(parseAttemptsMetadata(md)), maxSavedAttempts)
	}
}
