// Command manager is the Junction operator.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/junction-dev/junction/controllers"
)

func main() {
	var opts controllers.Options
	flag.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8443", `metrics listen address; "0" disables it`)
	flag.BoolVar(&opts.MetricsSecure, "metrics-secure", true, "serve metrics over HTTPS, only to callers authorized for GET /metrics")
	flag.StringVar(&opts.ProbeAddr, "health-probe-bind-address", ":8081", "health probe listen address")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", false, "enable leader election")
	flag.DurationVar(&opts.SyncPeriod, "sync-period", 0, "full resync period (default 10m)")
	flag.StringVar(&opts.BridgeImage, "bridge-image", controllers.DefaultBridgeImage, "container image of the bridge")
	flag.BoolVar(&opts.Webhooks, "enable-webhooks", false, "serve the validating admission webhook (needs a serving certificate)")
	flag.IntVar(&opts.TopicWorkers, "topic-workers", controllers.DefaultTopicWorkers, "MessageTopics reconciled at once")
	flag.IntVar(&opts.WebhookPort, "webhook-port", 9443, "admission webhook listen port")
	flag.StringVar(&opts.WebhookCertDir, "webhook-cert-dir", "", "directory holding tls.crt and tls.key for the webhook (default /tmp/k8s-webhook-server/serving-certs)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := controllers.Run(ctx, ctrl.GetConfigOrDie(), opts); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
