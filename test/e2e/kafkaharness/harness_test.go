package kafkaharness

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These tests start no Kafka: they run in the plain `go test ./...` tier.

func TestServerPropertiesForThreeNodes(t *testing.T) {
	p := ServerProperties(2, 3, "127.0.0.1:9092", "127.0.0.1:9093",
		[]string{"127.0.0.1:1", "127.0.0.1:9093", "127.0.0.1:3"}, "/tmp/d")
	want := map[string]string{
		"process.roles":                            "broker,controller",
		"node.id":                                  "2",
		"controller.quorum.bootstrap.servers":      "127.0.0.1:1,127.0.0.1:9093,127.0.0.1:3",
		"listeners":                                "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
		"auto.create.topics.enable":                "false",
		"delete.topic.enable":                      "true",
		"num.partitions":                           "1",
		"offsets.topic.replication.factor":         "3",
		"transaction.state.log.replication.factor": "3",
		"transaction.state.log.min.isr":            "1",
		"group.initial.rebalance.delay.ms":         "0",
		"log.dirs":                                 "/tmp/d",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if _, ok := p["controller.quorum.voters"]; ok {
		t.Error("controller.quorum.voters is set; the storage is formatted for a dynamic quorum")
	}
	out := string(renderProperties(p))
	if !strings.Contains(out, "\nnode.id=2\n") {
		t.Errorf("rendered properties lack node.id=2:\n%s", out)
	}
}

func TestNewUUIDIsAKafkaUuid(t *testing.T) {
	for i := 0; i < 1000; i++ {
		s := newUUID()
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 16 || len(s) != 22 || s[0] == '-' {
			t.Fatalf("newUUID() = %q (%d bytes, %v)", s, len(b), err)
		}
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := freePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v", ports)
		}
		seen[p] = true
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Tail(path, 2); got != "c\nd" {
		t.Errorf("Tail = %q", got)
	}
}

func TestHomeFindsThePom(t *testing.T) {
	home, err := Home()
	if err != nil {
		t.Fatal(err)
	}
	if !isFile(filepath.Join(home, "install.sh")) {
		t.Errorf("Home() = %s has no install.sh", home)
	}
}

func TestExtraListenersJoinTheGeneratedOnes(t *testing.T) {
	p := ServerProperties(1, 1, "127.0.0.1:9092", "127.0.0.1:9093", []string{"127.0.0.1:9093"}, "/tmp/d")
	addListeners(p, []Listener{{"SCRAM", "SASL_PLAINTEXT"}, {"TLS", "SSL"}}, []string{"SCRAM://127.0.0.1:9094", "TLS://127.0.0.1:9095"})
	want := map[string]string{
		"listeners":                      "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SCRAM://127.0.0.1:9094,TLS://127.0.0.1:9095",
		"advertised.listeners":           "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SCRAM://127.0.0.1:9094,TLS://127.0.0.1:9095",
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SCRAM:SASL_PLAINTEXT,TLS:SSL",
		"inter.broker.listener.name":     "PLAINTEXT",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
}
