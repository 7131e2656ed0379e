// Package webhook is the validating admission webhook that refuses changes breaking the users
// of an API before they are stored: incompatible schemas, versions and routes removed before
// their sunset, and changes to fields that cannot change. The operator reports the same verdicts
// as conditions when a change arrives another way (webhook down, failure policy Ignore).
package webhook

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/breaking"
	jschema "github.com/junction-dev/junction/internal/schema"
)

// The paths follow controller-runtime's convention for validating webhooks.
// +kubebuilder:webhook:path=/validate-messaging-junction-dev-v1alpha1-messagetopic,mutating=false,failurePolicy=fail,sideEffects=None,groups=messaging.junction.dev,resources=messagetopics,verbs=update,versions=v1alpha1,name=vmessagetopic-v1alpha1.messaging.junction.dev,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-messaging-junction-dev-v1alpha1-apiexposure,mutating=false,failurePolicy=fail,sideEffects=None,groups=messaging.junction.dev,resources=apiexposures,verbs=update,versions=v1alpha1,name=vapiexposure-v1alpha1.messaging.junction.dev,admissionReviewVersions=v1

// Setup registers the validating webhooks with mgr's webhook server. reader reads schema history
// ConfigMaps; the manager's API reader avoids caching every ConfigMap in the cluster.
func Setup(mgr ctrl.Manager, reader client.Reader) error {
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.MessageTopic{}).
		WithValidator(&TopicValidator{Reader: reader}).Complete(); err != nil {
		return fmt.Errorf("messagetopic webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &v1alpha1.ApiExposure{}).
		WithValidator(&ExposureValidator{}).Complete(); err != nil {
		return fmt.Errorf("apiexposure webhook: %w", err)
	}
	return nil
}

// TopicValidator refuses MessageTopic updates that rename the topic, shrink it, or bring a
// schema incompatible with the accepted versions under the topic's mode.
type TopicValidator struct {
	Reader client.Reader
}

// ValidateCreate admits every new topic: it has no history to break.
func (v *TopicValidator) ValidateCreate(context.Context, *v1alpha1.MessageTopic) (admission.Warnings, error) {
	return nil, nil
}

// ValidateUpdate checks old → new against the topic's schema history.
func (v *TopicValidator) ValidateUpdate(ctx context.Context, old, new *v1alpha1.MessageTopic) (admission.Warnings, error) {
	if !new.DeletionTimestamp.IsZero() {
		return nil, nil // finalizers must always be removable
	}
	history, err := v.history(ctx, old)
	if err != nil {
		return nil, err
	}
	return nil, refusal(v1alpha1.GroupVersion.WithKind("MessageTopic").GroupKind(), new.Name, breaking.Topic(old, new, history))
}

// ValidateDelete admits every deletion; deletionPolicy governs what happens in Kafka.
func (v *TopicValidator) ValidateDelete(context.Context, *v1alpha1.MessageTopic) (admission.Warnings, error) {
	return nil, nil
}

// history is the accepted schemas of t, oldest first: its history ConfigMap, else the version in
// status, else none (breaking.Topic then compares with the old spec).
func (v *TopicValidator) history(ctx context.Context, t *v1alpha1.MessageTopic) ([]string, error) {
	st := t.Status.Schema
	if st == nil {
		return nil, nil
	}
	cm := &corev1.ConfigMap{}
	err := v.Reader.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: st.HistoryConfigMap}, cm)
	switch {
	case apierrors.IsNotFound(err):
		return []string{st.JSONSchema}, nil
	case err != nil:
		return nil, fmt.Errorf("reading schema history %s: %w", st.HistoryConfigMap, err)
	}
	h, err := jschema.DecodeHistory(cm.Data)
	if err != nil {
		return nil, err
	}
	texts, _ := h.Texts()
	if len(texts) == 0 {
		return []string{st.JSONSchema}, nil
	}
	return texts, nil
}

// ExposureValidator refuses ApiExposure updates that remove a version or route whose version was
// not deprecated with a sunset now past.
type ExposureValidator struct {
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// ValidateCreate admits every new exposure.
func (v *ExposureValidator) ValidateCreate(context.Context, *v1alpha1.ApiExposure) (admission.Warnings, error) {
	return nil, nil
}

// ValidateUpdate checks old → new.
func (v *ExposureValidator) ValidateUpdate(_ context.Context, old, new *v1alpha1.ApiExposure) (admission.Warnings, error) {
	if !new.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	return nil, refusal(v1alpha1.GroupVersion.WithKind("ApiExposure").GroupKind(), new.Name, breaking.Exposure(old, new, now))
}

// ValidateDelete admits every deletion.
func (v *ExposureValidator) ValidateDelete(context.Context, *v1alpha1.ApiExposure) (admission.Warnings, error) {
	return nil, nil
}

// refusal turns findings into an Invalid error whose causes name each field and reason.
func refusal(gk schema.GroupKind, name string, findings []breaking.Finding) error {
	if len(findings) == 0 {
		return nil
	}
	var errs field.ErrorList
	for _, f := range findings {
		errs = append(errs, field.Forbidden(fieldPath(f.Field), f.Message))
	}
	return apierrors.NewInvalid(gk, name, errs)
}

// fieldPath turns "spec.versions[v1].routes[orders]" into a field.Path.
func fieldPath(p string) *field.Path {
	var path *field.Path
	for _, part := range strings.Split(p, ".") {
		name, key, keyed := strings.Cut(part, "[")
		if path == nil {
			path = field.NewPath(name)
		} else {
			path = path.Child(name)
		}
		if keyed {
			path = path.Key(strings.TrimSuffix(key, "]"))
		}
	}
	return path
}
