package controllers

import (
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
)

// adminPool keeps one Kafka admin connection per MessageBroker, shared by every reconciler, so a
// resync of thousands of topics opens no new connections. An entry is replaced when the broker's
// connection settings change.
type adminPool struct {
	newAdmin func(kafka.ClientConfig) (kafka.Admin, error)

	mu      sync.Mutex
	entries map[types.NamespacedName]poolEntry
}

type poolEntry struct {
	key   string
	admin kafka.Admin
}

func newAdminPool() *adminPool {
	return &adminPool{newAdmin: kafka.NewAdmin, entries: map[types.NamespacedName]poolEntry{}}
}

// clientConfig is the Kafka client configuration a MessageBroker describes.
func clientConfig(b *v1alpha1.MessageBroker) kafka.ClientConfig {
	return kafka.ClientConfig{BootstrapServers: b.Spec.Kafka.BootstrapServers, ClientID: b.Spec.Kafka.ClientID}
}

// get returns the admin for broker, connecting if needed.
func (p *adminPool) get(b *v1alpha1.MessageBroker) (kafka.Admin, error) {
	cfg := clientConfig(b)
	key := fmt.Sprintf("%s|%s", strings.Join(cfg.BootstrapServers, ","), cfg.ClientID)
	nn := types.NamespacedName{Namespace: b.Namespace, Name: b.Name}

	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.entries[nn]; ok {
		if e.key == key {
			return e.admin, nil
		}
		_ = e.admin.Close()
		delete(p.entries, nn)
	}
	admin, err := p.newAdmin(cfg)
	if err != nil {
		return nil, err
	}
	p.entries[nn] = poolEntry{key: key, admin: admin}
	return admin, nil
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
