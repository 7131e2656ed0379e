package bridgeconfig

import (
	"strings"
	"testing"
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
