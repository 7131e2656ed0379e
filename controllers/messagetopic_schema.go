package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
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

// maxHistoryBytes bounds the schema bodies a history ConfigMap keeps (ConfigMaps hold 1 MiB);
// beyond it the oldest bodies are dropped, their versions and fingerprints kept.
const maxHistoryBytes = 768 << 10

// schemaHistoryName is the ConfigMap holding the accepted schemas of topic.
func schemaHistoryName(topic string) string {
	return boundedName(topic + "-schema-history")
}

// schemaFingerprint identifies a schema text.
func schemaFingerprint(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(sum[:])
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

// schemaVersion is one accepted schema in the history index.
type schemaVersion struct {
	Version     int32     `json:"version"`
	Fingerprint string    `json:"fingerprint"`
	AcceptedAt  time.Time `json:"acceptedAt"`
	// Pruned says the body was dropped to keep the ConfigMap small; checks skip this version.
	Pruned bool `json:"pruned,omitempty"`
}

// schemaHistory is every accepted schema of a topic, oldest first.
type schemaHistory struct {
	Versions []schemaVersion
	Bodies   map[int32]string
}

func historyBodyKey(v int32) string { return "v" + strconv.Itoa(int(v)) + ".json" }

// decodeHistory reads a history ConfigMap's data.
func decodeHistory(data map[string]string) (schemaHistory, error) {
	h := schemaHistory{Bodies: map[int32]string{}}
	index, ok := data[v1alpha1.SchemaHistoryKey]
	if !ok {
		return h, nil
	}
	if err := json.Unmarshal([]byte(index), &h.Versions); err != nil {
		return h, fmt.Errorf("schema history %s: %w", v1alpha1.SchemaHistoryKey, err)
	}
	sort.Slice(h.Versions, func(i, j int) bool { return h.Versions[i].Version < h.Versions[j].Version })
	for _, v := range h.Versions {
		if body, ok := data[historyBodyKey(v.Version)]; ok && !v.Pruned {
			h.Bodies[v.Version] = body
		}
	}
	return h, nil
}

// data renders h as ConfigMap data.
func (h schemaHistory) data() map[string]string {
	index, _ := json.Marshal(h.Versions)
	out := map[string]string{v1alpha1.SchemaHistoryKey: string(index)}
	for v, body := range h.Bodies {
		out[historyBodyKey(v)] = body
	}
	return out
}

func (h schemaHistory) latest() (schemaVersion, bool) {
	if len(h.Versions) == 0 {
		return schemaVersion{}, false
	}
	return h.Versions[len(h.Versions)-1], true
}

// texts lists the bodies still held, oldest first, with their versions.
func (h schemaHistory) texts() ([]string, []int32) {
	var texts []string
	var versions []int32
	for _, v := range h.Versions {
		if body, ok := h.Bodies[v.Version]; ok {
			texts = append(texts, body)
			versions = append(versions, v.Version)
		}
	}
	return texts, versions
}

// add appends text as the next version and prunes the oldest bodies beyond maxHistoryBytes.
func (h *schemaHistory) add(text string, at time.Time) schemaVersion {
	next := schemaVersion{Version: 1, Fingerprint: schemaFingerprint(text), AcceptedAt: at.UTC().Truncate(time.Second)}
	if last, ok := h.latest(); ok {
		next.Version = last.Version + 1
	}
	h.Versions = append(h.Versions, next)
	if h.Bodies == nil {
		h.Bodies = map[int32]string{}
	}
	h.Bodies[next.Version] = text
	total := 0
	for _, b := range h.Bodies {
		total += len(b)
	}
	for i := 0; i < len(h.Versions)-1 && total > maxHistoryBytes; i++ {
		v := &h.Versions[i]
		if body, ok := h.Bodies[v.Version]; ok {
			total -= len(body)
			delete(h.Bodies, v.Version)
			v.Pruned = true
		}
	}
	return next
}

func schemaStatus(topic string, v schemaVersion, text string) *v1alpha1.TopicSchemaStatus {
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
	fp := schemaFingerprint(text)
	if st := t.Status.Schema; st != nil && st.Fingerprint == fp {
		s.schemaStatus, s.schemaChecked = st.DeepCopy(), true
		return ctrl.Result{}, nil
	}

	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: schemaHistoryName(t.Name)}, cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	history, err := decodeHistory(cm.Data)
	if err != nil {
		return ctrl.Result{}, err
	}
	if _, ok := history.latest(); !ok && t.Status.Schema != nil {
		// The ConfigMap was deleted: start again from the version status holds.
		st := t.Status.Schema
		history.Versions = []schemaVersion{{Version: st.Version, Fingerprint: st.Fingerprint, AcceptedAt: st.AcceptedAt.Time}}
		history.Bodies = map[int32]string{st.Version: st.JSONSchema}
	}
	accepted := t.Status.Schema.DeepCopy()
	if last, ok := history.latest(); ok {
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
	texts, versions := history.texts()
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

	v := history.add(text, time.Now())
	apply := corev1ac.ConfigMap(schemaHistoryName(t.Name), t.Namespace).
		WithLabels(map[string]string{
			"app.kubernetes.io/name":       "junction-schema-history",
			"app.kubernetes.io/instance":   t.Name,
			"app.kubernetes.io/managed-by": "junction",
		}).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(v1alpha1.GroupVersion.String()).WithKind("MessageTopic").
			WithName(t.Name).WithUID(t.UID).WithController(true).WithBlockOwnerDeletion(true)).
		WithData(history.data())
	if err := r.Apply(ctx, apply, fieldOwner, client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("recording schema version %d: %w", v.Version, err)
	}
	s.schemaStatus = schemaStatus(t.Name, v, text)
	r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, "SchemaAccepted", "CheckSchema",
		"schema version %d accepted under %s (%s)", v.Version, mode, v.Fingerprint)
	return ctrl.Result{}, nil
}
