package controllers

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/junction-dev/junction/api/v1alpha1"
)

// backendServiceIndex indexes ApiExposures by the Services ("namespace/name") their backends name.
const backendServiceIndex = "spec.versions.routes.backend.service"

// backendService is the cluster Service a backend URL names, and the port it uses. A host
// names a Service when it is a single DNS label (a Service in the exposure's namespace) or
// "name.namespace.svc" with or without the cluster domain after it. Other hosts (IP
// addresses, external names, the ambiguous "name.namespace") are not checked.
func backendService(rawURL, namespace string) (types.NamespacedName, int32, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil {
		return types.NamespacedName{}, 0, false
	}
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), ".")
	var name types.NamespacedName
	switch {
	case len(labels) == 1 && labels[0] != "localhost":
		name = types.NamespacedName{Namespace: namespace, Name: labels[0]}
	case len(labels) >= 3 && labels[2] == "svc":
		name = types.NamespacedName{Namespace: labels[1], Name: labels[0]}
	default:
		return types.NamespacedName{}, 0, false
	}
	if len(validation.IsDNS1035Label(name.Name)) > 0 || len(validation.IsDNS1123Label(name.Namespace)) > 0 {
		return types.NamespacedName{}, 0, false
	}
	port := int32(80)
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return types.NamespacedName{}, 0, false
		}
		port = int32(n)
	}
	return name, port, true
}

// backendServices lists "namespace/name" of every Service the exposure's backends name.
func backendServices(e *v1alpha1.ApiExposure) []string {
	var out []string
	for _, v := range e.Spec.Versions {
		for _, rt := range v.Routes {
			if rt.Backend == nil {
				continue
			}
			if name, _, ok := backendService(rt.Backend.URL, e.Namespace); ok && !slices.Contains(out, name.String()) {
				out = append(out, name.String())
			}
		}
	}
	return out
}

// checkBackends waits for the Services the routes' backends name: a route whose backend
// does not exist would accept requests only to dead-letter them.
func (r *ApiExposureReconciler) checkBackends(ctx context.Context, s *exposureScope) (ctrl.Result, error) {
	var problems []string
	for _, v := range s.exposure.Spec.Versions {
		for _, rt := range v.Routes {
			if rt.Backend == nil {
				continue
			}
			name, port, ok := backendService(rt.Backend.URL, s.exposure.Namespace)
			if !ok {
				continue
			}
			where := fmt.Sprintf("route %s/%s", v.Name, rt.Name)
			svc := &corev1.Service{}
			if err := r.Get(ctx, name, svc); err != nil {
				if apierrors.IsNotFound(err) {
					problems = append(problems, fmt.Sprintf("%s: backend Service %s does not exist", where, name))
					continue
				}
				return ctrl.Result{}, err
			}
			if svc.Spec.Type != corev1.ServiceTypeExternalName && !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port }) {
				problems = append(problems, fmt.Sprintf("%s: backend Service %s has no port %d", where, name, port))
			}
		}
	}
	if len(problems) > 0 {
		s.outcome = &outcome{kind: outcomeWaiting, reason: "BackendNotFound", message: strings.Join(problems, "; ")}
		return ctrl.Result{RequeueAfter: dependencyRecheck}, nil
	}
	return ctrl.Result{}, nil
}

// exposuresOfService wakes the exposures whose backends name the Service, in any namespace.
func (r *ApiExposureReconciler) exposuresOfService(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.ApiExposureList
	key := types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}.String()
	if err := r.List(ctx, &list, client.MatchingFields{backendServiceIndex: key}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, e := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&e)})
	}
	return reqs
}
