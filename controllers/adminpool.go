package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
)

// adminPool keeps one Kafka admin connection per MessageBroker, shared by every reconciler, so a
// resync of thousands of topics opens no new connections. An entry is replaced when the broker's
// connection settings change.
//
// Each entry also keeps a snapshot of its topics, read in one batch, so that a resync of N
// topics costs a constant number of Kafka requests rather than N rounds.
type adminPool struct {
	newAdmin func(kafka.ClientConfig) (kafka.Admin, error)
	// snapshotTTL is how long a snapshot answers before the next read refreshes it.
	snapshotTTL time.Duration

	mu      sync.Mutex
	entries map[types.NamespacedName]*poolEntry
}

type poolEntry struct {
	key   string
	admin kafka.Admin

	// snapshot holds the state of the topics in known (missing ones are known and absent).
	snapshotMu sync.Mutex
	takenAt    time.Time
	known      map[string]bool
	snapshot   map[string]kafka.TopicState
}

func newAdminPool(snapshotTTL time.Duration) *adminPool {
	return &adminPool{newAdmin: kafka.NewAdmin, snapshotTTL: snapshotTTL, entries: map[types.NamespacedName]*poolEntry{}}
}

// clientConfig is the Kafka client configuration a MessageBroker describes.
func clientConfig(b *v1alpha1.MessageBroker) kafka.ClientConfig {
	return kafka.ClientConfig{BootstrapServers: b.Spec.Kafka.BootstrapServers, ClientID: b.Spec.Kafka.ClientID}
}

// get returns the admin for broker, connecting if needed.
func (p *adminPool) get(b *v1alpha1.MessageBroker) (kafka.Admin, error) {
	e, err := p.entry(b)
	if err != nil {
		return nil, err
	}
	return e.admin, nil
}

func (p *adminPool) entry(b *v1alpha1.MessageBroker) (*poolEntry, error) {
	cfg := clientConfig(b)
	key := fmt.Sprintf("%s|%s", strings.Join(cfg.BootstrapServers, ","), cfg.ClientID)
	nn := types.NamespacedName{Namespace: b.Namespace, Name: b.Name}

	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.entries[nn]; ok {
		if e.key == key {
			return e, nil
		}
		_ = e.admin.Close()
		delete(p.entries, nn)
	}
	admin, err := p.newAdmin(cfg)
	if err != nil {
		return nil, err
	}
	e := &poolEntry{key: key, admin: admin}
	p.entries[nn] = e
	return e, nil
}

// describe reports topic name on broker b, from the snapshot while it is fresh and knows the
// topic; otherwise it refreshes the snapshot for all of names (which include name) at once.
// A nil state means the topic does not exist.
func (p *adminPool) describe(ctx context.Context, b *v1alpha1.MessageBroker, name string, names []string) (*kafka.TopicState, error) {
	e, err := p.entry(b)
	if err != nil {
		return nil, err
	}
	e.snapshotMu.Lock()
	defer e.snapshotMu.Unlock()
	if !e.known[name] || time.Since(e.takenAt) > p.snapshotTTL {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		states, err := e.admin.DescribeTopics(ctx, names)
		if err != nil {
			return nil, err
		}
		e.takenAt, e.snapshot, e.known = time.Now(), states, map[string]bool{}
		for _, n := range names {
			e.known[n] = true
		}
	}
	state, ok := e.snapshot[name]
	if !ok {
		return nil, nil
	}
	return &state, nil
}

// invalidate drops a topic from b's snapshot after Junction changed it, so the next read asks Kafka.
func (p *adminPool) invalidate(b *v1alpha1.MessageBroker, name string) {
	p.mu.Lock()
	e, ok := p.entries[types.NamespacedName{Namespace: b.Namespace, Name: b.Name}]
	p.mu.Unlock()
	if !ok {
		return
	}
	e.snapshotMu.Lock()
	delete(e.known, name)
	e.snapshotMu.Unlock()
}

// forget closes and drops the admin of a deleted broker.
func (p *adminPool) forget(nn types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.entries[nn]; ok {
		_ = e.admin.Close()
		delete(p.entries, nn)
	}
}

// closeAll releases every connection when the manager stops.
func (p *adminPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for nn, e := range p.entries {
		_ = e.admin.Close()
		delete(p.entries, nn)
	}
}
