package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/schema"
)

// reasonIncompatibleSchema stalls a topic whose new schema breaks the compatibility mode.
const (
	reasonIncompatibleSchema = "IncompatibleSchema"
	reasonInvalidSchema      = "InvalidSchema"
)

// schemaHistoryName is the ConfigMap holding the accepted schemas of topic.
func schemaHistoryName(topic string) string {
	return boundedName(topic + "-schema-history")
}

// servedSchema is the schema bridges enforce for t: the accepted version, never one the
// compatibility check refused. A topic not yet checked (older than schema history) serves its spec.
func servedSchema(t *v1alpha1.MessageTopic) string {
	if t.Spec.Schema == nil {
		return ""
	}
	if t.Status.Schema != nil {
		return t.Status.Schema.JSONSchema
	}
	return t.Spec.Schema.JSONSchema
}

func schemaStatus(topic string, v schema.Version, text string) *v1alpha1.TopicSchemaStatus {
	return &v1alpha1.TopicSchemaStatus{Version: v.Version, Fingerprint: v.Fingerprint,
		AcceptedAt: metav1.NewTime(v.AcceptedAt), HistoryConfigMap: schemaHistoryName(topic), JSONSchema: text}
}

// incompatibleMessage is the condition message for a refused schema.
func incompatibleMessage(res schema.Result, versions []int32, served int32) string {
	parts := make([]string, 0, len(res.Reasons))
	for _, r := range res.Reasons {
		v := r.Version
		if v >= 1 && v <= len(versions) {
			v = int(versions[v-1])
		}
		parts = append(parts, fmt.Sprintf("%s against version %d: %s", r.Direction, v, r.Message))
	}
	return fmt.Sprintf("schema is not %s compatible: %s; bridges keep serving version %d",
		res.Mode, strings.Join(parts, "; "), served)
}

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch

// checkSchema accepts a new spec.schema into the topic's history when it is compatible with the
// accepted versions under its mode, and records a refusal otherwise. It never stops the Kafka
// steps: a refused schema leaves the topic itself managed.
func (r *MessageTopicReconciler) checkSchema(ctx context.Context, s *topicScope) (ctrl.Result, error) {
	t := s.topic
	if t.Spec.Schema == nil {
		s.schemaChecked = true
		return ctrl.Result{}, nil
	}
	text := t.Spec.Schema.JSONSchema
	fp := schema.Fingerprint(text)
	if st := t.Status.Schema; st != nil && st.Fingerprint == fp {
		s.schemaStatus, s.schemaChecked = st.DeepCopy(), true
		return ctrl.Result{}, nil
	}

	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: schemaHistoryName(t.Name)}, cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	history, err := schema.DecodeHistory(cm.Data)
	if err != nil {
		return ctrl.Result{}, err
	}
	if _, ok := history.Latest(); !ok && t.Status.Schema != nil {
		// The ConfigMap was deleted: start again from the version status holds.
		st := t.Status.Schema
		history.Versions = []schema.Version{{Version: st.Version, Fingerprint: st.Fingerprint, AcceptedAt: st.AcceptedAt.Time}}
		history.Bodies = map[int32]string{st.Version: st.JSONSchema}
	}
	accepted := t.Status.Schema.DeepCopy()
	if last, ok := history.Latest(); ok {
		accepted = schemaStatus(t.Name, last, history.Bodies[last.Version])
		if last.Fingerprint == fp {
			s.schemaStatus, s.schemaChecked = accepted, true
			return ctrl.Result{}, nil
		}
	}

	mode, err := schema.ParseMode(string(t.Spec.Schema.Compatibility))
	if err != nil {
		return ctrl.Result{}, err
	}
	texts, versions := history.Texts()
	res, err := schema.Check(mode, texts, text)
	s.schemaStatus, s.schemaChecked = accepted, true
	if err != nil {
		s.schemaProblem = &outcome{kind: outcomeStalled, reason: reasonInvalidSchema, message: err.Error()}
		return ctrl.Result{}, nil
	}
	if !res.Compatible {
		served := int32(0)
		if accepted != nil {
			served = accepted.Version
		}
		s.schemaProblem = &outcome{kind: outcomeStalled, reason: reasonIncompatibleSchema, message: incompatibleMessage(res, versions, served)}
		return ctrl.Result{}, nil
	}

	v := history.Add(text, time.Now())
	apply := corev1ac.ConfigMap(schemaHistoryName(t.Name), t.Namespace).
		WithLabels(map[string]string{
			"app.kubernetes.io/name":       "junction-schema-history",
			"app.kubernetes.io/instance":   t.Name,
			"app.kubernetes.io/managed-by": "junction",
		}).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(v1alpha1.GroupVersion.String()).WithKind("MessageTopic").
			WithName(t.Name).WithUID(t.UID).WithController(true).WithBlockOwnerDeletion(true)).
		WithData(history.Data())
	if err := r.Apply(ctx, apply, fieldOwner, client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("recording schema version %d: %w", v.Version, err)
	}
	s.schemaStatus = schemaStatus(t.Name, v, text)
	r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, "SchemaAccepted", "CheckSchema",
		"schema version %d accepted under %s (%s)", v.Version, mode, v.Fingerprint)
	return ctrl.Result{}, nil
}
