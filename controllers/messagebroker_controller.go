package controllers

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
)

const (
	// brokerRecheck is how often a broker is asked whether it still answers, and its Secrets
	// re-read.
	brokerRecheck = 60 * time.Second
	// brokerRetry is how soon an unreachable or refusing broker is tried again.
	brokerRetry = 15 * time.Second
	// secretRetry is how soon a missing or unusable Secret is read again: Secrets are not
	// watched, and one applied together with its MessageBroker should be noticed quickly.
	secretRetry = 5 * time.Second
)

// MessageBrokerReconciler reports whether a Kafka cluster answers.
type MessageBrokerReconciler struct {
	client.Client
	Recorder events.EventRecorder
	pool     *adminPool
}

// brokerScope carries what the steps observed.
type brokerScope struct {
	broker *v1alpha1.MessageBroker
	info   *kafka.ClusterInfo
	err    error
}

// +kubebuilder:rbac:groups=messaging.junction.dev,resources=messagebrokers,verbs=get;list;watch
// +kubebuilder:rbac:groups=messaging.junction.dev,resources=messagebrokers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconcile connects to the cluster and records what it reports.
func (r *MessageBrokerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	broker := &v1alpha1.MessageBroker{}
	if err := r.Get(ctx, req.NamespacedName, broker); err != nil {
		if apierrors.IsNotFound(err) {
			r.pool.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	s := &brokerScope{broker: broker}
	before := broker.DeepCopy()
	defer func() {
		setBrokerStatus(broker, s)
		if err := patchStatus(ctx, r.Client, r.Recorder, before, broker); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "patching status")
		}
	}()

	// refresh re-reads the Secrets on every recheck, so rotated credentials take effect
	// within brokerRecheck without a watch on Secrets.
	admin, err := r.pool.refresh(ctx, broker)
	if err == nil {
		var info kafka.ClusterInfo
		info, err = admin.DescribeCluster(ctx)
		s.info = &info
	}
	if err != nil {
		// A cluster that does not answer, or a Secret not there yet, is a dependency we wait
		// for, not a crash loop; a fixed Secret is picked up on the next attempt.
		s.err = err
		r.pool.forget(req.NamespacedName)
		if errors.Is(err, errReadingSecret) {
			return ctrl.Result{}, err
		}
		if _, ok := asSecretError(err); ok {
			return ctrl.Result{RequeueAfter: secretRetry}, nil
		}
		return ctrl.Result{RequeueAfter: brokerRetry}, nil
	}
	return ctrl.Result{RequeueAfter: brokerRecheck}, nil
}

// SetupWithManager registers the reconciler.
func (r *MessageBrokerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.MessageBroker{}).Named("messagebroker").Complete(r)
}

// brokerReady reports whether the named broker is Ready.
func brokerReady(b *v1alpha1.MessageBroker) bool {
	return meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionReady) &&
		b.Status.ObservedGeneration == b.Generation
}
