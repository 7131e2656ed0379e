package bridgeconfig

import (
	"strings"
	"testing"
	"time"
)

func TestGrantAllows(t *testing.T) {
	g := Grant{Version: "v2", Route: "*", Operations: []Operation{OperationPublish}}
	for _, tt := range []struct {
		version, route string
		op             Operation
		want           bool
	}{
		{"v2", "orders", OperationPublish, true},
		{"v2", "anything", OperationPublish, true},
		{"v1", "orders", OperationPublish, false},
		{"v2", "orders", OperationSubscribe, false},
	} {
		if got := g.Allows(tt.version, tt.route, tt.op); got != tt.want {
			t.Errorf("Allows(%s, %s, %s) = %v", tt.version, tt.route, tt.op, got)
		}
	}
}

func TestSuccessorSkipsDeprecated(t *testing.T) {
	c := &Config{Versions: []Version{{Name: "v1", Deprecated: true}, {Name: "v2", Deprecated: true}, {Name: "v3"}}}
	if got := c.Successor("v1"); got != "v3" {
		t.Errorf("Successor(v1) = %q", got)
	}
	if got := c.Successor("v3"); got != "" {
		t.Errorf("Successor(v3) = %q", got)
	}
}

func TestParseRejectsPlaintextKeys(t *testing.T) {
	_, err := Parse([]byte(`{"kafka": {"bootstrapServers": ["k:9092"]}, "versions": [], "auth": {"keys": [{"name": "ci", "sha256": "my-plain-key"}]}}`))
	if err == nil || !strings.Contains(err.Error(), "64 lowercase hex") {
		t.Fatalf("err = %v", err)
	}
	ok := `{"kafka": {"bootstrapServers": ["k:9092"]}, "versions": [], "auth": {"keys": [{"name": "ci", "sha256": "` + strings.Repeat("ab", 32) + `"}]}}`
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatal(err)
	}
}

func TestBackendRoundTripAndChecks(t *testing.T) {
	c := &Config{Kafka: Kafka{BootstrapServers: []string{"k:9092"}}, Versions: []Version{{Name: "v1", Routes: []Route{{
		Name: "pay", Topic: "pay", Backend: &Backend{URL: "http://pay.svc:8080/p", Timeout: Duration(1500 * time.Millisecond),
			Retry: Retry{MaxAttempts: 3, InitialBackoff: Duration(200 * time.Millisecond)}}}}}}}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"timeout": "1.5s"`) {
		t.Errorf("durations are not written as strings:\n%s", data)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	b := back.Versions[0].Routes[0].Backend.WithDefaults()
	if b.Timeout != Duration(1500*time.Millisecond) || b.Method != "POST" || b.Retry.MaxAttempts != 3 ||
		b.Retry.MaxBackoff != Duration(30*time.Second) || b.Retry.MaxRetryAfter != Duration(time.Minute) || b.Ordering != "perKey" {
		t.Errorf("backend with defaults: %+v", b)
	}
	for _, bad := range []string{"pay.svc:8080", "ftp://pay.svc/", "http:///p"} {
		c.Versions[0].Routes[0].Backend.URL = bad
		data, _ := c.Marshal()
		if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), "backend url") {
			t.Errorf("url %q: err %v, want a backend url error", bad, err)
		}
	}
}

func TestRepliesChecks(t *testing.T) {
	c := &Config{Kafka: Kafka{BootstrapServers: []string{"k:9092"}}, Versions: []Version{{Name: "v1", Routes: []Route{{
		Name: "pay", Topic: "pay", Backend: &Backend{URL: "http://pay.svc/p", Replies: &Replies{Topic: "pay.replies"}}}}}}}
	data, _ := c.Marshal()
	back, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if r := back.Versions[0].Routes[0].Backend.Replies; r.Topic != "pay.replies" || r.BodyLimit() != DefaultMaxReplyBytes {
		t.Errorf("replies: %+v (limit %d)", r, r.BodyLimit())
	}
	c.Versions[0].Routes[0].Backend.Replies.Topic = ""
	data, _ = c.Marshal()
	if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), "replies need a topic") {
		t.Errorf("replies without a topic: err %v", err)
	}
}
