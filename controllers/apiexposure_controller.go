package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/openapi"
)

// fieldOwner is the server-side apply field manager for everything Junction writes.
const fieldOwner = client.FieldOwner("junction")

// topicRefIndex indexes ApiExposures by the MessageTopics their routes name.
const topicRefIndex = "spec.versions.routes.topicRef.name"

// secretRefIndex indexes ApiExposures by the Secret holding their API keys.
const secretRefIndex = "spec.auth.apiKeysSecretRef.name"

// ApiExposureReconciler runs a bridge (ConfigMap, Deployment, Service) for each ApiExposure.
type ApiExposureReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// BridgeImage is the container image of the bridge.
	BridgeImage string
}

// exposureScope carries what the steps observed.
type exposureScope struct {
	exposure *v1alpha1.ApiExposure
	topics   map[string]*v1alpha1.MessageTopic
	broker   *v1alpha1.MessageBroker
	apiKeys  map[string][]byte // data of the auth Secret; nil without auth
	// replyTopics are the reply MessageTopics by name; nil values are applied but not seen yet.
	replyTopics map[string]*v1alpha1.MessageTopic
	openAPI     string // name of the applied OpenAPI ConfigMap
	deployment  *appsv1.Deployment
	outcome     *outcome
}

type exposureStep func(ctx context.Context, s *exposureScope) (ctrl.Result, error)

// +kubebuilder:rbac:groups=messaging.junction.dev,resources=apiexposures,verbs=get;list;watch
// +kubebuilder:rbac:groups=messaging.junction.dev,resources=apiexposures/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps;services,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=messaging.junction.dev,resources=messagetopics,verbs=get;list;watch;create;update;patch;delete

// Reconcile renders the bridge of an exposure and reports whether it serves.
func (r *ApiExposureReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	exposure := &v1alpha1.ApiExposure{}
	if err := r.Get(ctx, req.NamespacedName, exposure); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !exposure.DeletionTimestamp.IsZero() {
		// Children are owned and garbage-collected; nothing outside the API server to clean up.
		return ctrl.Result{}, nil
	}
	s := &exposureScope{exposure: exposure}
	before := exposure.DeepCopy()
	defer func() {
		setExposureStatus(exposure, s, err)
		if perr := patchStatus(ctx, r.Client, r.Recorder, before, exposure); perr != nil {
			err = errors.Join(err, perr)
		}
		if s.outcome != nil && s.outcome.kind == outcomeStalled {
			err = reconcile.TerminalError(errors.New(s.outcome.message))
		}
	}()
	for _, step := range []exposureStep{r.getTopics, r.getAPIKeys, r.checkBackends, r.applyReplyTopics, r.applyChildren, r.observeDeployment} {
		res, err := step(ctx, s)
		if err != nil || s.outcome != nil || !res.IsZero() {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

// getTopics loads every referenced MessageTopic and their shared MessageBroker.
func (r *ApiExposureReconciler) getTopics(ctx context.Context, s *exposureScope) (ctrl.Result, error) {
	s.topics = map[string]*v1alpha1.MessageTopic{}
	var missing, brokers []string
	for _, name := range referencedTopics(s.exposure) {
		t := &v1alpha1.MessageTopic{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: s.exposure.Namespace, Name: name}, t); err != nil {
			if apierrors.IsNotFound(err) {
				missing = append(missing, name)
				continue
			}
			return ctrl.Result{}, err
		}
		s.topics[name] = t
		if !slices.Contains(brokers, t.Spec.BrokerRef.Name) {
			brokers = append(brokers, t.Spec.BrokerRef.Name)
		}
	}
	if len(missing) > 0 {
		s.outcome = &outcome{kind: outcomeWaiting, reason: "TopicNotFound",
			message: "MessageTopic(s) not found: " + strings.Join(missing, ", ")}
		return ctrl.Result{RequeueAfter: dependencyRecheck}, nil
	}
	if len(brokers) > 1 {
		slices.Sort(brokers)
		s.outcome = &outcome{kind: outcomeStalled, reason: "MultipleBrokers", message: fmt.Sprintf(
			"routes use topics on different MessageBrokers (%s); one ApiExposure serves one Kafka cluster", strings.Join(brokers, ", "))}
		return ctrl.Result{}, nil
	}
	broker := &v1alpha1.MessageBroker{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: s.exposure.Namespace, Name: brokers[0]}, broker); err != nil {
		if apierrors.IsNotFound(err) {
			s.outcome = &outcome{kind: outcomeWaiting, reason: "BrokerNotFound",
				message: fmt.Sprintf("MessageBroker %q does not exist", brokers[0])}
			return ctrl.Result{RequeueAfter: dependencyRecheck}, nil
		}
		return ctrl.Result{}, err
	}
	s.broker = broker
	return ctrl.Result{}, nil
}

// getAPIKeys reads the auth Secret. A missing Secret is a dependency to wait for (it may be
// created by another tool after the exposure), not a user error.
func (r *ApiExposureReconciler) getAPIKeys(ctx context.Context, s *exposureScope) (ctrl.Result, error) {
	a := s.exposure.Spec.Auth
	if a == nil {
		return ctrl.Result{}, nil
	}
	secret := &corev1.Secret{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: s.exposure.Namespace, Name: a.APIKeysSecretRef.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			s.outcome = &outcome{kind: outcomeWaiting, reason: "SecretNotFound",
				message: fmt.Sprintf("API key Secret %q does not exist", a.APIKeysSecretRef.Name)}
			return ctrl.Result{RequeueAfter: dependencyRecheck}, nil
		}
		return ctrl.Result{}, err
	}
	var missing []string
	for _, k := range a.Keys {
		if len(secret.Data[k.Name]) == 0 {
			missing = append(missing, k.Name)
		}
	}
	if len(missing) > 0 {
		s.outcome = &outcome{kind: outcomeWaiting, reason: "APIKeyNotFound",
			message: fmt.Sprintf("Secret %q has no (or an empty) entry for API key(s): %s", a.APIKeysSecretRef.Name, strings.Join(missing, ", "))}
		return ctrl.Result{RequeueAfter: dependencyRecheck}, nil
	}
	s.apiKeys = secret.Data
	return ctrl.Result{}, nil
}

// referencedTopics lists the MessageTopic names the exposure's routes use (their topics and
// dead-letter topics), sorted, once each.
func referencedTopics(e *v1alpha1.ApiExposure) []string {
	var names []string
	for _, v := range e.Spec.Versions {
		for _, rt := range v.Routes {
			if !slices.Contains(names, rt.TopicRef.Name) {
				names = append(names, rt.TopicRef.Name)
			}
			if b := rt.Backend; b != nil && b.DeadLetterTopicRef != nil && !slices.Contains(names, b.DeadLetterTopicRef.Name) {
				names = append(names, b.DeadLetterTopicRef.Name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// applyChildren server-side applies the ConfigMap, Deployment and Service, skipping any whose
// last applied configuration is unchanged.
func (r *ApiExposureReconciler) applyChildren(ctx context.Context, s *exposureScope) (ctrl.Result, error) {
	cfg, err := renderBridgeConfig(s.exposure, s.topics, s.broker, s.apiKeys)
	if err != nil {
		return ctrl.Result{}, err
	}
	doc, err := openapi.Build(cfg)
	if err != nil {
		s.outcome = &outcome{kind: outcomeStalled, reason: "InvalidOpenAPI", message: err.Error()}
		return ctrl.Result{}, nil
	}
	ocm, err := openAPIConfigMap(s.exposure, doc)
	if err != nil {
		return ctrl.Result{}, err
	}
	rendered, err := cfg.Marshal()
	if err != nil {
		return ctrl.Result{}, err
	}
	cm, err := bridgeConfigMap(s.exposure, rendered)
	if err != nil {
		return ctrl.Result{}, err
	}
	deploy, err := bridgeDeployment(s.exposure, s.broker, r.BridgeImage, checksum(rendered))
	if err != nil {
		return ctrl.Result{}, err
	}
	svc, err := bridgeService(s.exposure)
	if err != nil {
		return ctrl.Result{}, err
	}
	name := types.NamespacedName{Namespace: s.exposure.Namespace, Name: bridgeName(s.exposure.Name)}
	if err := r.applyIfChanged(ctx, &corev1.ConfigMap{}, name, cm.Annotations, cm); err != nil {
		return ctrl.Result{}, err
	}
	oname := types.NamespacedName{Namespace: s.exposure.Namespace, Name: openAPIName(s.exposure.Name)}
	if err := r.applyIfChanged(ctx, &corev1.ConfigMap{}, oname, ocm.Annotations, ocm); err != nil {
		return ctrl.Result{}, err
	}
	s.openAPI = oname.Name
	if err := r.applyIfChanged(ctx, &appsv1.Deployment{}, name, deploy.Annotations, deploy); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.applyIfChanged(ctx, &corev1.Service{}, name, svc.Annotations, svc)
}

// applyIfChanged applies obj unless the live object already carries its applied hash.
func (r *ApiExposureReconciler) applyIfChanged(ctx context.Context, live client.Object, name types.NamespacedName,
	annotations map[string]string, obj interface{ IsApplyConfiguration() }) error {
	err := r.Get(ctx, name, live)
	if err == nil && live.GetAnnotations()[appliedHashAnnotation] == annotations[appliedHashAnnotation] {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := r.Apply(ctx, obj, fieldOwner, client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s: %w", fmt.Sprintf("%T", live)[1:], name.Name, err)
	}
	return nil
}

func (r *ApiExposureReconciler) observeDeployment(ctx context.Context, s *exposureScope) (ctrl.Result, error) {
	d := &appsv1.Deployment{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: s.exposure.Namespace, Name: bridgeName(s.exposure.Name)}, d); err != nil {
		// Just applied: the cache will show it and the Owns watch will bring us back.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s.deployment = d
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler: it owns its children and wakes when a topic, the
// auth Secret or a backend Service changes.
func (r *ApiExposureReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.ApiExposure{}, secretRefIndex,
		func(o client.Object) []string {
			if a := o.(*v1alpha1.ApiExposure).Spec.Auth; a != nil {
				return []string{a.APIKeysSecretRef.Name}
			}
			return nil
		}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.ApiExposure{}, topicRefIndex,
		func(o client.Object) []string { return referencedTopics(o.(*v1alpha1.ApiExposure)) }); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.ApiExposure{}, backendServiceIndex,
		func(o client.Object) []string { return backendServices(o.(*v1alpha1.ApiExposure)) }); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ApiExposure{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&v1alpha1.MessageTopic{}).
		Watches(&v1alpha1.MessageTopic{}, handler.EnqueueRequestsFromMapFunc(r.exposuresOfTopic)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.exposuresOfSecret)).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.exposuresOfService)).
		Named("apiexposure").
		Complete(r)
}

func (r *ApiExposureReconciler) exposuresOfTopic(ctx context.Context, o client.Object) []reconcile.Request {
	return r.exposuresBy(ctx, o, topicRefIndex)
}

func (r *ApiExposureReconciler) exposuresOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	return r.exposuresBy(ctx, o, secretRefIndex)
}

func (r *ApiExposureReconciler) exposuresBy(ctx context.Context, o client.Object, index string) []reconcile.Request {
	var list v1alpha1.ApiExposureList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, e := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&e)})
	}
	return reqs
}
