package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
)

// dependencyRecheck is how long to wait before looking again at a missing or unready dependency
// that no watch reports (the watches below cover the common cases).
const dependencyRecheck = 30 * time.Second

// brokerRefIndex indexes MessageTopics by the MessageBroker they use; kafkaTopicIndex by the
// broker and Kafka topic they name.
const (
	brokerRefIndex  = "spec.brokerRef.name"
	kafkaTopicIndex = "kafkaTopic"
)

// MessageTopicReconciler keeps a Kafka topic in line with its MessageTopic.
type MessageTopicReconciler struct {
	client.Client
	Recorder events.EventRecorder
	pool     *adminPool
	workers  int // reconciles at once
}

// topicScope carries what the steps observed and decided.
type topicScope struct {
	topic    *v1alpha1.MessageTopic
	broker   *v1alpha1.MessageBroker
	admin    kafka.Admin
	observed *kafka.TopicState
	// outcome is set by the step that ends the reconcile early.
	outcome *outcome
	// blocked says why deletion cannot proceed.
	blocked *outcome
	// schemaChecked says checkSchema ran; schemaStatus is then the accepted schema (nil for none)
	// and schemaProblem why spec.schema was refused.
	schemaChecked bool
	schemaStatus  *v1alpha1.TopicSchemaStatus
	schemaProblem *outcome
}

// topicStep is one step of a reconcile; a non-nil scope.outcome or error stops the sequence.
type topicStep func(ctx context.Context, s *topicScope) (ctrl.Result, error)

// +kubebuilder:rbac:groups=messaging.junction.dev,resources=messagetopics,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=messaging.junction.dev,resources=messagetopics/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=messaging.junction.dev,resources=messagetopics/finalizers,verbs=update

// Reconcile brings the Kafka topic to the spec, or deletes it per deletionPolicy.
func (r *MessageTopicReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	topic := &v1alpha1.MessageTopic{}
	if err := r.Get(ctx, req.NamespacedName, topic); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if topic.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(topic, v1alpha1.Finalizer) {
		patch := client.MergeFrom(topic.DeepCopy())
		controllerutil.AddFinalizer(topic, v1alpha1.Finalizer)
		if err := r.Patch(ctx, topic, patch); err != nil {
			return ctrl.Result{}, err
		}
	}

	s := &topicScope{topic: topic}
	deleting := !topic.DeletionTimestamp.IsZero()
	before := topic.DeepCopy()
	defer func() {
		if deleting {
			setDeletionStatus(topic, s)
		} else {
			setTopicStatus(topic, s, err)
		}
		if perr := patchStatus(ctx, r.Client, r.Recorder, before, topic); perr != nil {
			err = errors.Join(err, perr)
		}
		if s.outcome != nil && s.outcome.kind == outcomeStalled {
			// A user error is terminal: retrying cannot help until the spec changes.
			err = reconcile.TerminalError(errors.New(s.outcome.message))
		}
	}()
	if deleting {
		return r.run(ctx, s, r.reconcileDelete())
	}
	return r.run(ctx, s, r.reconcileNormal())
}

func (r *MessageTopicReconciler) run(ctx context.Context, s *topicScope, steps []topicStep) (ctrl.Result, error) {
	for _, step := range steps {
		res, err := step(ctx, s)
		if err != nil || s.outcome != nil || !res.IsZero() {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

func (r *MessageTopicReconciler) reconcileNormal() []topicStep {
	return []topicStep{r.checkSchema, r.checkPaused, r.getBroker, r.checkOwner, r.connect, r.observeTopic, r.applyPlan}
}

func (r *MessageTopicReconciler) reconcileDelete() []topicStep {
	return []topicStep{r.deleteTopic, r.removeFinalizer}
}

// paused reports whether the user stopped writes to Kafka for t.
func paused(t *v1alpha1.MessageTopic) bool {
	return t.Annotations[v1alpha1.ReconcileAnnotation] == v1alpha1.ReconcilePaused
}

func (r *MessageTopicReconciler) checkPaused(_ context.Context, s *topicScope) (ctrl.Result, error) {
	if paused(s.topic) {
		s.outcome = &outcome{kind: outcomePaused, reason: "ReconcilePaused", message: fmt.Sprintf(
			"reconciliation is paused by %s=%s; Kafka is not changed", v1alpha1.ReconcileAnnotation, v1alpha1.ReconcilePaused)}
	}
	return ctrl.Result{}, nil
}

// checkOwner lets only the oldest MessageTopic naming a Kafka topic on a broker manage it.
func (r *MessageTopicReconciler) checkOwner(ctx context.Context, s *topicScope) (ctrl.Result, error) {
	owner, err := r.topicOwner(ctx, s.topic)
	if err != nil {
		return ctrl.Result{}, err
	}
	if owner != s.topic.Name {
		s.outcome = &outcome{kind: outcomeWaiting, reason: "ResourceConflict", message: fmt.Sprintf(
			"Kafka topic %s on MessageBroker %q is managed by MessageTopic %q", s.topic.KafkaTopicName(), s.topic.Spec.BrokerRef.Name, owner)}
		return ctrl.Result{RequeueAfter: dependencyRecheck}, nil
	}
	return ctrl.Result{}, nil
}

// topicOwner names the MessageTopic that manages t's Kafka topic: the oldest one naming the
// same topic on the same broker, ties broken by name.
func (r *MessageTopicReconciler) topicOwner(ctx context.Context, t *v1alpha1.MessageTopic) (string, error) {
	var peers v1alpha1.MessageTopicList
	if err := r.List(ctx, &peers, client.InNamespace(t.Namespace), client.MatchingFields{kafkaTopicIndex: kafkaTopicKey(t)}); err != nil {
		return "", err
	}
	owner := t
	for i := range peers.Items {
		p := &peers.Items[i]
		if older(p, owner) {
			owner = p
		}
	}
	return owner.Name, nil
}

func older(a, b *v1alpha1.MessageTopic) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// kafkaTopicKey identifies a Kafka topic on a broker within a namespace.
func kafkaTopicKey(t *v1alpha1.MessageTopic) string {
	return t.Spec.BrokerRef.Name + "/" + t.KafkaTopicName()
}

func (r *MessageTopicReconciler) getBroker(ctx context.Context, s *topicScope) (ctrl.Result, error) {
	broker := &v1alpha1.MessageBroker{}
	key := types.NamespacedName{Namespace: s.topic.Namespace, Name: s.topic.Spec.BrokerRef.Name}
	if err := r.Get(ctx, key, broker); err != nil {
		if apierrors.IsNotFound(err) {
			s.outcome = &outcome{kind: outcomeWaiting, reason: "BrokerNotFound",
				message: fmt.Sprintf("MessageBroker %q does not exist", key.Name)}
			return ctrl.Result{RequeueAfter: dependencyRecheck}, nil
		}
		return ctrl.Result{}, err
	}
	if !brokerReady(broker) {
		s.outcome = &outcome{kind: outcomeWaiting, reason: "BrokerNotReady",
			message: fmt.Sprintf("MessageBroker %q is not Ready", key.Name)}
		if c := meta.FindStatusCondition(broker.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Reason == reasonKafkaUnavailable {
			s.outcome.reason, s.outcome.message = reasonKafkaUnavailable, c.Message
		}
		return ctrl.Result{RequeueAfter: dependencyRecheck}, nil
	}
	s.broker = broker
	return ctrl.Result{}, nil
}

func (r *MessageTopicReconciler) connect(_ context.Context, s *topicScope) (ctrl.Result, error) {
	admin, err := r.pool.get(s.broker)
	if err != nil {
		return ctrl.Result{}, err
	}
	s.admin = admin
	return ctrl.Result{}, nil
}

func (r *MessageTopicReconciler) observeTopic(ctx context.Context, s *topicScope) (ctrl.Result, error) {
	var err error
	s.observed, err = r.pool.describe(ctx, s.broker, s.topic.KafkaTopicName(), func() ([]string, error) {
		return r.brokerTopicNames(ctx, s.broker)
	})
	if err != nil {
		return ctrl.Result{}, err
	}
	state := s.observed
	if s.observed == nil || !replicaCountDiffers(s.observed.Replicas, s.topic.Spec.ReplicationFactor) {
		return ctrl.Result{}, nil
	}
	moving, err := s.admin.ReassignmentsInProgress(ctx, state.Name, state.Partitions)
	r.pool.invalidate(s.broker, state.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	if moving > 0 {
		s.outcome = &outcome{kind: outcomeWaiting, reason: "ReassigningReplicas", message: fmt.Sprintf(
			"moving replicas of %d partition(s) of topic %s to replication factor %d", moving, state.Name, s.topic.Spec.ReplicationFactor)}
		return ctrl.Result{RequeueAfter: reassignmentRecheck}, nil
	}
	return ctrl.Result{}, nil
}

// reassignmentRecheck is how often a replica move is checked on.
const reassignmentRecheck = 2 * time.Second

// replicaCountDiffers reports whether any partition has other than want replicas.
func replicaCountDiffers(replicas [][]int32, want int32) bool {
	for _, r := range replicas {
		if int32(len(r)) != want {
			return true
		}
	}
	return false
}

// brokerTopicNames lists the Kafka topics of every MessageTopic using broker (from the cache).
func (r *MessageTopicReconciler) brokerTopicNames(ctx context.Context, broker *v1alpha1.MessageBroker) ([]string, error) {
	var topics v1alpha1.MessageTopicList
	// Read-only use of the cached objects: no deep copy of every topic.
	if err := r.List(ctx, &topics, client.InNamespace(broker.Namespace), client.MatchingFields{brokerRefIndex: broker.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(topics.Items))
	for i := range topics.Items {
		names = append(names, topics.Items[i].KafkaTopicName())
	}
	return names, nil
}

// desiredTopic is the topic the spec describes.
func desiredTopic(t *v1alpha1.MessageTopic) kafka.TopicSpec {
	return kafka.TopicSpec{Name: t.KafkaTopicName(), Partitions: t.Spec.Partitions,
		ReplicationFactor: t.Spec.ReplicationFactor, Config: t.Spec.KafkaConfig()}
}

func (r *MessageTopicReconciler) applyPlan(ctx context.Context, s *topicScope) (ctrl.Result, error) {
	desired := desiredTopic(s.topic)
	plan, err := diffTopic(desired, s.observed, managedConfigKeys(s.topic.Status.Config))
	var pe *planError
	if errors.As(err, &pe) {
		s.outcome = &outcome{kind: outcomeStalled, reason: pe.Reason, message: pe.Message}
		return ctrl.Result{}, nil
	}
	if plan.Empty() {
		return ctrl.Result{}, nil
	}
	err = r.execute(ctx, s, plan)
	r.pool.invalidate(s.broker, s.topic.KafkaTopicName())
	if err != nil {
		if reason, user := userErrorReason(err); user {
			s.outcome = &outcome{kind: outcomeStalled, reason: reason, message: err.Error()}
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if plan.Reassign != nil {
		s.outcome = &outcome{kind: outcomeWaiting, reason: "ReassigningReplicas", message: fmt.Sprintf(
			"moving replicas of topic %s to replication factor %d", s.topic.KafkaTopicName(), s.topic.Spec.ReplicationFactor)}
		return ctrl.Result{RequeueAfter: reassignmentRecheck}, nil
	}
	// Observe again so status reports what Kafka now holds, not what was asked for.
	res, err := r.observeTopic(ctx, s)
	if err == nil && s.outcome == nil && s.observed == nil && plan.Create != nil {
		// Kafka acknowledged the creation but its metadata does not show the topic yet: look
		// again shortly instead of waiting for the next resync.
		s.outcome = &outcome{kind: outcomeWaiting, reason: "TopicCreating", message: fmt.Sprintf(
			"topic %s was created; waiting for Kafka's metadata to show it", s.topic.KafkaTopicName())}
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return res, err
}

func (r *MessageTopicReconciler) execute(ctx context.Context, s *topicScope, plan topicPlan) error {
	name := s.topic.KafkaTopicName()
	if plan.Create != nil {
		if err := s.admin.CreateTopic(ctx, *plan.Create); err != nil {
			return fmt.Errorf("creating topic %s: %w", name, err)
		}
		r.Recorder.Eventf(s.topic, nil, corev1.EventTypeNormal, "TopicCreated", "Create",
			"created topic %s with %d partitions", name, plan.Create.Partitions)
		return nil
	}
	if plan.Partitions > 0 {
		if err := s.admin.CreatePartitions(ctx, name, plan.Partitions); err != nil {
			return fmt.Errorf("growing topic %s to %d partitions: %w", name, plan.Partitions, err)
		}
		r.Recorder.Eventf(s.topic, nil, corev1.EventTypeNormal, "PartitionsIncreased", "Update",
			"topic %s grew from %d to %d partitions", name, s.observed.Partitions, plan.Partitions)
	}
	if len(plan.SetConfig) > 0 || len(plan.RemoveConfig) > 0 {
		if err := s.admin.AlterTopicConfig(ctx, name, plan.SetConfig, plan.RemoveConfig); err != nil {
			return fmt.Errorf("updating config of topic %s (%s): %w", name, describeConfigChange(plan), err)
		}
		r.Recorder.Eventf(s.topic, nil, corev1.EventTypeNormal, "ConfigUpdated", "Update",
			"topic %s: %s", name, describeConfigChange(plan))
		if reverted := revertedDrift(s.observed.Config, plan.SetConfig, managedConfigKeys(s.topic.Status.Config)); reverted != "" {
			r.Recorder.Eventf(s.topic, nil, corev1.EventTypeNormal, "DriftReverted", "Update",
				"topic %s: reverted out-of-band change: %s", name, reverted)
		}
	}
	if plan.Reassign != nil {
		if err := s.admin.ReassignPartitions(ctx, name, plan.Reassign); err != nil {
			return fmt.Errorf("reassigning replicas of topic %s: %w", name, err)
		}
		r.Recorder.Eventf(s.topic, nil, corev1.EventTypeNormal, "ReplicasReassigned", "Update",
			"topic %s: replication factor %d -> %d, assignment %v", name, s.observed.ReplicationFactor, s.topic.Spec.ReplicationFactor, plan.Reassign)
	}
	return nil
}

// userErrorReason reports whether err is Kafka refusing the spec, with the condition reason.
func userErrorReason(err error) (string, bool) {
	switch {
	case errors.Is(err, kafka.ErrInvalidConfig):
		return "InvalidConfig", true
	case errors.Is(err, kafka.ErrInvalidPartitions):
		return "InvalidPartitions", true
	case errors.Is(err, kafka.ErrInvalidReplicationFactor):
		return "InvalidReplicationFactor", true
	}
	return "", false
}

// deleteTopic deletes the Kafka topic when this object owns it and its policy says so. When
// that cannot happen it says why in DeletionBlocked and backs off; the release annotation lets
// the object go without touching Kafka.
func (r *MessageTopicReconciler) deleteTopic(ctx context.Context, s *topicScope) (ctrl.Result, error) {
	t := s.topic
	name := t.KafkaTopicName()
	switch {
	case !controllerutil.ContainsFinalizer(t, v1alpha1.Finalizer), t.Spec.DeletionPolicy == v1alpha1.DeletionPolicyRetain:
		return ctrl.Result{}, nil
	case t.Annotations[v1alpha1.ReleaseAnnotation] == "true":
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, "Released", "Delete",
			"released by %s=true; topic %s was left in Kafka", v1alpha1.ReleaseAnnotation, name)
		return ctrl.Result{}, nil
	case paused(t):
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, "Released", "Delete",
			"reconciliation is paused; topic %s was left in Kafka", name)
		return ctrl.Result{}, nil
	}
	owner, err := r.topicOwner(ctx, t)
	if err != nil {
		return ctrl.Result{}, err
	}
	if owner != t.Name {
		// Another MessageTopic manages this Kafka topic: deleting this one never touches it.
		return ctrl.Result{}, nil
	}
	broker := &v1alpha1.MessageBroker{}
	key := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.BrokerRef.Name}
	if err := r.Get(ctx, key, broker); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		if r.namespaceTerminating(ctx, t.Namespace) {
			// The whole namespace is going, broker included: let it finish.
			r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, "Released", "Delete",
				"namespace is being deleted and MessageBroker %q is gone; topic %s was left in Kafka", key.Name, name)
			return ctrl.Result{}, nil
		}
		s.blocked = &outcome{reason: "BrokerNotFound", message: fmt.Sprintf(
			"cannot delete topic %s: MessageBroker %q does not exist; recreate it, or set %s=true to remove this object and leave the topic in Kafka",
			name, key.Name, v1alpha1.ReleaseAnnotation)}
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}
	admin, err := r.pool.get(broker)
	if err == nil {
		err = admin.DeleteTopic(ctx, name)
		r.pool.invalidate(broker, name)
	}
	if err != nil {
		s.blocked = &outcome{reason: reasonKafkaUnavailable, message: fmt.Sprintf(
			"cannot delete topic %s: %v; retrying with backoff, or set %s=true to remove this object and leave the topic in Kafka",
			name, err, v1alpha1.ReleaseAnnotation)}
		return ctrl.Result{}, fmt.Errorf("deleting topic %s: %w", name, err)
	}
	return ctrl.Result{}, nil
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

func (r *MessageTopicReconciler) namespaceTerminating(ctx context.Context, name string) bool {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: name}, ns); err != nil {
		return apierrors.IsNotFound(err)
	}
	return !ns.DeletionTimestamp.IsZero()
}

func (r *MessageTopicReconciler) removeFinalizer(ctx context.Context, s *topicScope) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(s.topic, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(s.topic.DeepCopy())
	controllerutil.RemoveFinalizer(s.topic, v1alpha1.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, s.topic, patch))
}

// SetupWithManager registers the reconciler; a broker becoming Ready wakes its topics.
func (r *MessageTopicReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.MessageTopic{}, brokerRefIndex,
		func(o client.Object) []string { return []string{o.(*v1alpha1.MessageTopic).Spec.BrokerRef.Name} }); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.MessageTopic{}, kafkaTopicIndex,
		func(o client.Object) []string { return []string{kafkaTopicKey(o.(*v1alpha1.MessageTopic))} }); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.MessageTopic{}).
		Watches(&v1alpha1.MessageBroker{}, handler.EnqueueRequestsFromMapFunc(r.topicsOfBroker)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.workers, 1)}).
		Named("messagetopic").
		Complete(r)
}

func (r *MessageTopicReconciler) topicsOfBroker(ctx context.Context, o client.Object) []reconcile.Request {
	var topics v1alpha1.MessageTopicList
	if err := r.List(ctx, &topics, client.InNamespace(o.GetNamespace()), client.MatchingFields{brokerRefIndex: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(topics.Items))
	for _, t := range topics.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&t)})
	}
	return reqs
}

// managedConfigKeys lists config keys in order (status.config holds the managed ones).
func managedConfigKeys(config map[string]string) []string {
	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return nil
	}
	return keys
}

// describeConfigChange says what a plan sets and resets, e.g. `set retention.ms="1d"; reset segment.ms`.
func describeConfigChange(plan topicPlan) string {
	var parts []string
	if len(plan.SetConfig) > 0 {
		parts = append(parts, "set "+formatConfig(plan.SetConfig))
	}
	if len(plan.RemoveConfig) > 0 {
		parts = append(parts, "reset "+strings.Join(plan.RemoveConfig, ", "))
	}
	return strings.Join(parts, "; ")
}

// formatConfig renders config keys and values in key order, e.g. `retention.ms="1d"`.
func formatConfig(config map[string]string) string {
	parts := make([]string, 0, len(config))
	for _, k := range managedConfigKeys(config) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, config[k]))
	}
	return strings.Join(parts, ", ")
}

// revertedDrift describes managed keys whose value in Kafka was changed by someone else and is
// now being set back, e.g. `retention.ms "5" -> "1000"`; empty when there are none.
func revertedDrift(observed, set map[string]string, managed []string) string {
	var parts []string
	for _, k := range managed {
		want, setting := set[k]
		if !setting {
			continue
		}
		if cur, ok := observed[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %q -> %q", k, cur, want))
		} else {
			parts = append(parts, fmt.Sprintf("%s (removed) -> %q", k, want))
		}
	}
	return strings.Join(parts, ", ")
}
