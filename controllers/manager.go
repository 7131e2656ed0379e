package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
	admission "github.com/junction-dev/junction/internal/webhook"
)

// DefaultBridgeImage is the bridge image used when none is configured.
const DefaultBridgeImage = "junction/bridge:latest"

// Options configure the manager.
type Options struct {
	// MetricsAddr and ProbeAddr are listen addresses; "0" disables the server.
	MetricsAddr string
	ProbeAddr   string
	// MetricsSecure serves metrics over HTTPS to callers the API server authorizes for GET /metrics.
	MetricsSecure bool
	// LeaderElection lets several replicas run with one active.
	LeaderElection bool
	// LeaderElectionNamespace holds the Lease; empty means the pod's own namespace (in-cluster only).
	LeaderElectionNamespace string
	// SyncPeriod is how often every object is reconciled even without changes; 0 means 10 minutes.
	SyncPeriod time.Duration
	// BridgeImage is the image of the bridge Deployments.
	BridgeImage string
	// Webhooks serves the validating admission webhook (internal/webhook) on WebhookPort with the
	// certificate in WebhookCertDir (tls.crt, tls.key); zero values are controller-runtime's
	// defaults, 9443 and /tmp/k8s-webhook-server/serving-certs.
	Webhooks       bool
	WebhookPort    int
	WebhookCertDir string
	// TopicWorkers is how many MessageTopics are reconciled at once; 0 means DefaultTopicWorkers.
	// One reconcile waits on Kafka and the API server most of its time, so creating thousands of
	// topics at once is bound by this number, not by CPU.
	TopicWorkers int
}

// DefaultTopicWorkers is the default number of MessageTopics reconciled at once.
const DefaultTopicWorkers = 8

// NewScheme returns a scheme with the built-in kinds and Junction's kinds.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Setup registers every Junction reconciler with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	pool := newAdminPool(snapshotTTL(opts.SyncPeriod), mgr.GetAPIReader())
	if err := ctrlmetrics.Registry.Register(kafka.AdminRequests); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			return err
		}
	}
	if err := mgr.Add(closeOnStop(pool.closeAll)); err != nil {
		return err
	}
	image := opts.BridgeImage
	if image == "" {
		image = DefaultBridgeImage
	}
	rec := mgr.GetEventRecorder("junction")
	if err := (&MessageBrokerReconciler{Client: mgr.GetClient(), Recorder: rec, pool: pool}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("messagebroker controller: %w", err)
	}
	workers := opts.TopicWorkers
	if workers <= 0 {
		workers = DefaultTopicWorkers
	}
	if err := (&MessageTopicReconciler{Client: mgr.GetClient(), Recorder: rec, pool: pool, workers: workers}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("messagetopic controller: %w", err)
	}
	if err := (&ApiExposureReconciler{Client: mgr.GetClient(), Recorder: rec, BridgeImage: image}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("apiexposure controller: %w", err)
	}
	return nil
}

// snapshotTTL is how long a batched read of a broker's topics answers reconciles: short enough
// to notice drift within a resync period, long enough that one resync reads each broker once.
func snapshotTTL(syncPeriod time.Duration) time.Duration {
	if syncPeriod == 0 {
		syncPeriod = defaultSyncPeriod
	}
	return min(max(syncPeriod/2, time.Second), 30*time.Second)
}

// defaultSyncPeriod is how often every object is reconciled when nothing changes.
const defaultSyncPeriod = 10 * time.Minute

// Run starts the manager with every controller and blocks until ctx is done.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	sync := opts.SyncPeriod
	if sync == 0 {
		sync = defaultSyncPeriod
	}
	metricsAddr := opts.MetricsAddr
	if metricsAddr == "" {
		metricsAddr = "0"
	}
	metrics := metricsserver.Options{BindAddress: metricsAddr}
	if opts.MetricsSecure {
		// A self-signed certificate unless one is mounted; TokenReview and SubjectAccessReview decide who reads.
		metrics.SecureServing = true
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	var webhookServer webhook.Server
	if opts.Webhooks {
		webhookServer = webhook.NewServer(webhook.Options{Port: opts.WebhookPort, CertDir: opts.WebhookCertDir})
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		WebhookServer:           webhookServer,
		Scheme:                  NewScheme(),
		Metrics:                 metrics,
		HealthProbeBindAddress:  opts.ProbeAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "junction-manager.messaging.junction.dev",
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		Cache:                   cache.Options{SyncPeriod: &sync},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := Setup(mgr, opts); err != nil {
		return err
	}
	if opts.Webhooks {
		if err := admission.Setup(mgr, mgr.GetAPIReader()); err != nil {
			return err
		}
	}
	if opts.ProbeAddr != "" && opts.ProbeAddr != "0" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
			return err
		}
		if opts.Webhooks {
			if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
				return err
			}
		}
	}
	return mgr.Start(ctx)
}

// closeOnStop runs fn when the manager stops.
type closeOnStop func()

func (f closeOnStop) Start(ctx context.Context) error {
	<-ctx.Done()
	f()
	return nil
}
