package dev

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// exposureGVK is the kind that owns bridge Deployments.
var exposureGVK = schema.GroupVersionKind{Group: group, Version: "v1alpha1", Kind: kindExposure}

// The sandbox's API server runs no garbage collector, so without help a deleted ApiExposure
// would leave its bridge running. The runner collects the children of a deleted ApiExposure
// the way the garbage collector would (background propagation): the objects in its namespace
// whose owner references name its UID.

// exposureOwner returns a metadata-only object of the owning kind, for a watch.
func exposureOwner() *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{}
	o.SetGroupVersionKind(exposureGVK)
	return o
}

// bridgesOf maps an ApiExposure event to the bridge Deployments labelled with its name.
func (r *Runner) bridgesOf(ctx context.Context, obj client.Object) []reconcile.Request {
	var deps appsv1.DeploymentList
	if err := r.client.List(ctx, &deps, client.InNamespace(obj.GetNamespace()),
		client.MatchingLabels{labelInstance: obj.GetName(), labelComponent: componentBridge}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(deps.Items))
	for i := range deps.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&deps.Items[i])})
	}
	return reqs
}

// ownerGone reports whether dep's controlling ApiExposure no longer exists (or was replaced
// by a new object of the same name).
func (r *Runner) ownerGone(ctx context.Context, dep *appsv1.Deployment) (*metav1.OwnerReference, bool, error) {
	ref := metav1.GetControllerOf(dep)
	if ref == nil || ref.Kind != exposureGVK.Kind || !strings.HasPrefix(ref.APIVersion, group+"/") {
		return nil, false, nil
	}
	owner := exposureOwner()
	err := r.reader.Get(ctx, types.NamespacedName{Namespace: dep.Namespace, Name: ref.Name}, owner)
	if apierrors.IsNotFound(err) {
		return ref, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return ref, owner.GetUID() != ref.UID, nil
}

// collect deletes every Deployment, ConfigMap and Service in ns owned by the UID in ref.
func (r *Runner) collect(ctx context.Context, ns string, ref *metav1.OwnerReference) error {
	lists := []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ConfigMapList{}, &corev1.ServiceList{}}
	var deleted []string
	for _, list := range lists {
		if err := r.reader.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		var objs []client.Object
		switch l := list.(type) {
		case *appsv1.DeploymentList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		case *corev1.ConfigMapList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		case *corev1.ServiceList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		}
		for _, o := range objs {
			if !ownedBy(o, ref.UID) {
				continue
			}
			err := r.client.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationBackground),
				client.Preconditions{UID: ptrTo(o.GetUID())})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return err
			}
			deleted = append(deleted, kindName(o))
		}
	}
	if len(deleted) > 0 {
		r.say("%s %s/%s is gone: deleted %s (the sandbox has no garbage collector)",
			ref.Kind, ns, ref.Name, strings.Join(deleted, ", "))
	}
	return nil
}

func ownedBy(o client.Object, uid types.UID) bool {
	for _, ref := range o.GetOwnerReferences() {
		if ref.UID == uid {
			return true
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }

func kindName(o client.Object) string {
	switch o.(type) {
	case *appsv1.Deployment:
		return "Deployment " + o.GetName()
	case *corev1.ConfigMap:
		return "ConfigMap " + o.GetName()
	case *corev1.Service:
		return "Service " + o.GetName()
	}
	return fmt.Sprintf("%T %s", o, o.GetName())
}
