package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// A route whose backend keeps replies gets a reply topic: a MessageTopic owned by the
// exposure, on the request topic's MessageBroker, compacted by request id and with a
// retention, so each id keeps only its latest state (pending, then the outcome) and old
// replies go away. The exposure is Ready only once its reply topics are.

const (
	// replyTopicComponent labels reply MessageTopics, so ones no longer wanted are found.
	replyTopicComponent = "reply-topic"
	// defaultReplyRetention keeps replies for a day.
	defaultReplyRetention = 24 * time.Hour
)

// replyTopicName is the MessageTopic of a route's replies: DNS-1123 safe, at most 63 characters.
func replyTopicName(exposure, version, route string) string {
	return boundedName(exposure + "-" + version + "-" + route + "-replies")
}

// replyKafkaTopic is the Kafka name of a route's reply topic. It carries the namespace, as
// exposures of the same name in two namespaces may share a Kafka cluster.
func replyKafkaTopic(namespace, exposure, version, route string) string {
	name := "junction.replies." + namespace + "." + exposure + "." + version + "." + route
	if len(name) <= 249 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:240] + "-" + hex.EncodeToString(sum[:])[:8]
}

// renderReplies is the bridge config of a route's replies (nil without them).
func renderReplies(e *v1alpha1.ApiExposure, version string, r v1alpha1.Route) *bridgeconfig.Replies {
	b := r.Backend
	if b == nil || !b.Replies {
		return nil
	}
	out := &bridgeconfig.Replies{Topic: replyKafkaTopic(e.Namespace, e.Name, version, r.Name), Headers: b.ReplyHeaders}
	if b.MaxReplyBytes != nil {
		out.MaxBytes = *b.MaxReplyBytes
		if out.MaxBytes == 0 {
			out.MaxBytes = -1 // keep no body at all
		}
	}
	return out
}

// replyRoute is a route with replies, as the reconciler needs it.
type replyRoute struct {
	version string
	route   v1alpha1.Route
}

func replyRoutes(e *v1alpha1.ApiExposure) []replyRoute {
	var out []replyRoute
	for _, v := range e.Spec.Versions {
		for _, r := range v.Routes {
			if r.Backend != nil && r.Backend.Replies {
				out = append(out, replyRoute{v.Name, r})
			}
		}
	}
	return out
}

// replyTopicConfig is the reply topic's Kafka config: compacted by request id and deleted
// after the retention; segments roll at least hourly so both can act on them.
func replyTopicConfig(retention time.Duration) map[string]any {
	segment := min(retention, time.Hour)
	return map[string]any{
		"cleanup.policy": "compact,delete",
		"retention.ms":   strconv.FormatInt(retention.Milliseconds(), 10),
		"segment.ms":     strconv.FormatInt(segment.Milliseconds(), 10),
	}
}

// replyTopic is the apply configuration of a route's reply MessageTopic. It copies the
// request topic's broker, partitions and replication factor.
func replyTopic(e *v1alpha1.ApiExposure, rr replyRoute, request *v1alpha1.MessageTopic) (*unstructured.Unstructured, error) {
	retention := defaultReplyRetention
	if d := rr.route.Backend.ReplyRetention; d != nil {
		retention = d.Duration
	}
	labels := map[string]any{}
	for k, v := range bridgeLabels(e) {
		labels[k] = v
	}
	labels["app.kubernetes.io/component"] = replyTopicComponent
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "MessageTopic",
		"metadata": map[string]any{
			"name":      replyTopicName(e.Name, rr.version, rr.route.Name),
			"namespace": e.Namespace,
			"labels":    labels,
			"ownerReferences": []any{map[string]any{
				"apiVersion": v1alpha1.GroupVersion.String(), "kind": "ApiExposure", "name": e.Name, "uid": string(e.UID),
				"controller": true, "blockOwnerDeletion": true,
			}},
		},
		"spec": map[string]any{
			"brokerRef":         map[string]any{"name": request.Spec.BrokerRef.Name},
			"topicName":         replyKafkaTopic(e.Namespace, e.Name, rr.version, rr.route.Name),
			"partitions":        int64(request.Spec.Partitions),
			"replicationFactor": int64(request.Spec.ReplicationFactor),
			"config":            replyTopicConfig(retention),
			"deletionPolicy":    string(v1alpha1.DeletionPolicyDelete),
		},
	}}
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	u.SetAnnotations(map[string]string{appliedHashAnnotation: checksum(data)})
	return u, nil
}

// applyReplyTopics applies the reply MessageTopic of every route with replies, deletes the
// ones no route wants any more, and records the live ones for the Ready judgement.
func (r *ApiExposureReconciler) applyReplyTopics(ctx context.Context, s *exposureScope) (ctrl.Result, error) {
	e := s.exposure
	s.replyTopics = map[string]*v1alpha1.MessageTopic{}
	want := map[string]bool{}
	for _, rr := range replyRoutes(e) {
		desired, err := replyTopic(e, rr, s.topics[rr.route.TopicRef.Name])
		if err != nil {
			return ctrl.Result{}, err
		}
		name := desired.GetName()
		want[name] = true
		live := &v1alpha1.MessageTopic{}
		err = r.Get(ctx, types.NamespacedName{Namespace: e.Namespace, Name: name}, live)
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return ctrl.Result{}, err
		case !metav1.IsControlledBy(live, e):
			s.outcome = &outcome{kind: outcomeWaiting, reason: "ReplyTopicConflict", message: fmt.Sprintf(
				"route %s/%s needs MessageTopic %q for its replies, but one not owned by this ApiExposure exists; rename or delete it", rr.version, rr.route.Name, name)}
			return ctrl.Result{RequeueAfter: dependencyRecheck}, nil
		}
		if live == nil || live.Annotations[appliedHashAnnotation] != desired.GetAnnotations()[appliedHashAnnotation] {
			if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(desired), fieldOwner, client.ForceOwnership); err != nil {
				return ctrl.Result{}, fmt.Errorf("applying reply MessageTopic %s: %w", name, err)
			}
		}
		s.replyTopics[name] = live // nil until the cache shows it; the Owns watch brings us back
	}
	var owned v1alpha1.MessageTopicList
	if err := r.List(ctx, &owned, client.InNamespace(e.Namespace),
		client.MatchingLabels{"app.kubernetes.io/instance": e.Name, "app.kubernetes.io/component": replyTopicComponent}); err != nil {
		return ctrl.Result{}, err
	}
	for i := range owned.Items {
		t := &owned.Items[i]
		if want[t.Name] || !metav1.IsControlledBy(t, e) || !t.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.Delete(ctx, t); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("deleting reply MessageTopic %s no route uses: %w", t.Name, err)
		}
	}
	return ctrl.Result{}, nil
}

// replyTopicsReadiness is the waiting outcome while a reply topic is missing or not Ready
// (nil when all are Ready).
func replyTopicsReadiness(s *exposureScope) *outcome {
	var notReady []string
	for name, t := range s.replyTopics {
		if t == nil {
			notReady = append(notReady, name+" (being created)")
			continue
		}
		c := readyConditionOf(t)
		switch {
		case c == nil:
			notReady = append(notReady, name+" (no status yet)")
		case c.Status != metav1.ConditionTrue:
			notReady = append(notReady, fmt.Sprintf("%s (%s: %s)", name, c.Reason, c.Message))
		}
	}
	if len(notReady) == 0 {
		return nil
	}
	slices.Sort(notReady)
	return &outcome{kind: outcomeWaiting, reason: "ReplyTopicNotReady",
		message: "waiting for reply MessageTopic(s) to be Ready: " + strings.Join(notReady, "; ")}
}

func readyConditionOf(t *v1alpha1.MessageTopic) *metav1.Condition {
	for i := range t.Status.Conditions {
		if t.Status.Conditions[i].Type == v1alpha1.ConditionReady {
			return &t.Status.Conditions[i]
		}
	}
	return nil
}
