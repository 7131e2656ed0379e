package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	// secrets reads the Secrets a MessageBroker names (uncached: get only, no watch).
	secrets client.Reader
	// snapshotTTL is how long a snapshot answers before the next read refreshes it.
	snapshotTTL time.Duration

	mu      sync.Mutex
	entries map[types.NamespacedName]*poolEntry
}

type poolEntry struct {
	// specKey identifies the broker's connection settings; key adds digests of the Secret
	// data they name, so rotated credentials replace the connection.
	specKey string
	key     string
	admin   kafka.Admin

	// snapshot holds the state of the topics in known (missing ones are known and absent).
	snapshotMu sync.Mutex
	takenAt    time.Time
	known      map[string]bool
	snapshot   map[string]kafka.TopicState
}

func newAdminPool(snapshotTTL time.Duration, secrets client.Reader) *adminPool {
	return &adminPool{newAdmin: kafka.NewAdmin, secrets: secrets, snapshotTTL: snapshotTTL, entries: map[types.NamespacedName]*poolEntry{}}
}

// secretReadTimeout bounds reading a broker's Secrets when a caller has no context to give.
const secretReadTimeout = 10 * time.Second

// get returns the admin for broker, connecting if needed.
func (p *adminPool) get(b *v1alpha1.MessageBroker) (kafka.Admin, error) {
	e, err := p.entry(b)
	if err != nil {
		return nil, err
	}
	return e.admin, nil
}

// entry returns the connection of broker b. An existing one for the same settings is used
// without reading b's Secrets again: the broker reconciler's refresh notices rotated
// credentials, so a resync of many topics costs no Secret reads.
func (p *adminPool) entry(b *v1alpha1.MessageBroker) (*poolEntry, error) {
	nn := types.NamespacedName{Namespace: b.Namespace, Name: b.Name}
	p.mu.Lock()
	e, ok := p.entries[nn]
	p.mu.Unlock()
	if ok && e.specKey == specKey(b) {
		return e, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), secretReadTimeout)
	defer cancel()
	return p.connect(ctx, b)
}

// refresh reads b's Secrets and returns its admin, replacing the connection when the settings
// or the Secret data changed. A missing or unusable Secret is a *secretError.
func (p *adminPool) refresh(ctx context.Context, b *v1alpha1.MessageBroker) (kafka.Admin, error) {
	e, err := p.connect(ctx, b)
	if err != nil {
		return nil, err
	}
	return e.admin, nil
}

func (p *adminPool) connect(ctx context.Context, b *v1alpha1.MessageBroker) (*poolEntry, error) {
	cfg, key, err := clientConfig(ctx, p.secrets, b)
	if err != nil {
		return nil, err
	}
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
	e := &poolEntry{specKey: specKey(b), key: key, admin: admin}
	p.entries[nn] = e
	return e, nil
}

// describe reports topic name on broker b. A fresh snapshot that knows the topic answers
// directly; a fresh one that does not (a new topic, or one Junction just changed) is completed
// with a read of that topic alone; a stale one is refreshed for all of listNames (plus name) at
// once. So a resync of N topics costs a constant number of requests, and creating N topics costs
// a few requests each rather than a full refresh each. A nil state means the topic does not exist.
func (p *adminPool) describe(ctx context.Context, b *v1alpha1.MessageBroker, name string, listNames func() ([]string, error)) (*kafka.TopicState, error) {
	e, err := p.entry(b)
	if err != nil {
		return nil, err
	}
	e.snapshotMu.Lock()
	defer e.snapshotMu.Unlock()
	fresh := e.known != nil && time.Since(e.takenAt) <= p.snapshotTTL
	switch {
	case fresh && e.known[name]:
	case fresh:
		states, err := e.admin.DescribeTopics(ctx, []string{name})
		if err != nil {
			return nil, err
		}
		delete(e.snapshot, name)
		if state, ok := states[name]; ok {
			e.snapshot[name] = state
		}
		e.known[name] = true
	default:
		names, err := listNames()
		if err != nil {
			return nil, err
		}
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
