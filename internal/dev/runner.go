package dev

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// Labels and names of the bridge Deployments the operator renders.
const (
	labelComponent  = "app.kubernetes.io/component"
	labelManagedBy  = "app.kubernetes.io/managed-by"
	labelInstance   = "app.kubernetes.io/instance"
	componentBridge = "bridge"
	managedBy       = "junction"
	configVolume    = "config"
)

// Runner plays kubelet and deployment controller for bridge Deployments: it runs one local
// bridge process per Deployment, from the same rendered ConfigMap a pod would mount, and
// reports the Deployment's status from that process's readiness.
type Runner struct {
	client client.Client
	reader client.Reader // uncached: a pod reads the ConfigMap as it is when it starts
	binary string
	dir    string // bridges live in dir/<namespace>/<name>/
	state  *stateFile
	say    func(format string, args ...any)
	events chan event.TypedGenericEvent[*appsv1.Deployment]

	mu      sync.Mutex
	bridges map[types.NamespacedName]*bridgeProc
}

// isBridge reports whether obj is a bridge Deployment rendered by the operator.
func isBridge(obj client.Object) bool {
	l := obj.GetLabels()
	return l[labelComponent] == componentBridge && l[labelManagedBy] == managedBy
}

// SetupWithManager registers the runner as a controller of mgr.
func (r *Runner) SetupWithManager(mgr ctrl.Manager) error {
	r.events = make(chan event.TypedGenericEvent[*appsv1.Deployment], 64)
	skip := true // the sandbox may run more than once in a process (tests)
	return ctrl.NewControllerManagedBy(mgr).
		Named("junction-dev-runner").
		WithOptions(controller.Options{SkipNameValidation: &skip, MaxConcurrentReconciles: 2}).
		For(&appsv1.Deployment{}, builder.WithPredicates(predicate.NewPredicateFuncs(isBridge))).
		WatchesRawSource(source.Channel(r.events, &handler.TypedEnqueueRequestForObject[*appsv1.Deployment]{})).
		WatchesMetadata(exposureOwner(), handler.EnqueueRequestsFromMapFunc(r.bridgesOf)).
		Complete(r)
}

// notify asks for a reconcile of the Deployment behind p, whose process changed state.
func (r *Runner) notify(p *bridgeProc) {
	ns, name, _ := strings.Cut(p.key, "/")
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	select {
	case r.events <- event.TypedGenericEvent[*appsv1.Deployment]{Object: dep}:
	default: // a full queue already holds a reconcile that will read the latest state
	}
}

// Reconcile makes the local process match the Deployment, then writes the Deployment's status.
func (r *Runner) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var dep appsv1.Deployment
	if err := r.client.Get(ctx, req.NamespacedName, &dep); err != nil {
		if apierrors.IsNotFound(err) {
			r.stop(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !dep.DeletionTimestamp.IsZero() || !isBridge(&dep) {
		r.stop(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if owner, gone, err := r.ownerGone(ctx, &dep); err != nil || gone {
		if err != nil {
			return ctrl.Result{}, err
		}
		r.stop(req.NamespacedName)
		return ctrl.Result{}, r.collect(ctx, dep.Namespace, owner)
	}
	if desiredReplicas(&dep) == 0 {
		r.stop(req.NamespacedName)
		return ctrl.Result{}, r.patchStatus(ctx, &dep, podState{})
	}

	rev := templateRevision(&dep)
	p := r.get(req.NamespacedName)
	if p != nil && p.revision != rev {
		r.say("bridge %s: pod template changed, restarting with the new config", req.NamespacedName)
		r.stop(req.NamespacedName)
		p = nil
	}
	if p == nil {
		cmName := configMapName(&dep)
		if cmName == "" {
			// Terminal for this template: a pod could not start either. A new template requeues.
			return ctrl.Result{}, r.patchStatus(ctx, &dep, podState{
				Message: fmt.Sprintf("pod template has no volume %q from a ConfigMap", configVolume),
			})
		}
		var cm corev1.ConfigMap
		err := r.reader.Get(ctx, types.NamespacedName{Namespace: dep.Namespace, Name: cmName}, &cm)
		if apierrors.IsNotFound(err) || (err == nil && cm.Data[bridgeconfig.FileName] == "") {
			msg := fmt.Sprintf("waiting for ConfigMap %s with key %s", cmName, bridgeconfig.FileName)
			return ctrl.Result{RequeueAfter: 2 * time.Second}, r.patchStatus(ctx, &dep, podState{Message: msg})
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		if p, err = r.start(req.NamespacedName, rev, []byte(cm.Data[bridgeconfig.FileName])); err != nil {
			return ctrl.Result{}, err
		}
	}
	pod, _ := p.snapshot()
	return ctrl.Result{}, r.patchStatus(ctx, &dep, pod)
}

// patchStatus writes the status a kubelet and deployment controller would, and nothing when it
// is unchanged.
func (r *Runner) patchStatus(ctx context.Context, dep *appsv1.Deployment, pod podState) error {
	want := deploymentStatus(dep, pod, metav1.Now())
	if equality.Semantic.DeepEqual(want, dep.Status) {
		return nil
	}
	orig := dep.DeepCopy()
	dep.Status = want
	return r.client.Status().Patch(ctx, dep, client.MergeFrom(orig))
}

func (r *Runner) get(key types.NamespacedName) *bridgeProc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bridges[key]
}

// start writes the bridge's config where the pod would see it and starts its supervisor.
func (r *Runner) start(key types.NamespacedName, rev string, config []byte) (*bridgeProc, error) {
	if _, err := bridgeconfig.Parse(config); err != nil {
		return nil, fmt.Errorf("bridge %s: %w", key, err)
	}
	dir := filepath.Join(r.dir, key.Namespace, key.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, bridgeconfig.FileName)
	if err := writeFileAtomic(cfgPath, config, 0o644); err != nil {
		return nil, err
	}
	p := &bridgeProc{
		key:        key.String(),
		revision:   rev,
		binary:     r.binary,
		configPath: cfgPath,
		logPath:    filepath.Join(dir, "bridge.log"),
	}
	p.onChange = r.onChange
	r.mu.Lock()
	r.bridges[key] = p
	r.mu.Unlock()
	p.start()
	return p, nil
}

// onChange tells the user, updates state.json and asks for a status update.
func (r *Runner) onChange(p *bridgeProc) {
	pod, addrs := p.snapshot()
	switch {
	case pod.Ready:
		r.say("bridge %s ready: http://%s  grpc %s", p.key, addrs.HTTP, addrs.GRPC)
	case pod.Message != "" && pod.Message != "bridge process started, waiting for /readyz":
		r.say("bridge %s not ready: %s", p.key, pod.Message)
	}
	var err error
	if addrs.HTTP != "" {
		err = r.state.setBridge(p.key, addrs)
	} else {
		err = r.state.removeBridge(p.key)
	}
	if err != nil {
		r.say("cannot update %s: %v", r.state.path, err)
	}
	r.notify(p)
}

// stop ends the process behind key, if any, and forgets it.
func (r *Runner) stop(key types.NamespacedName) {
	r.mu.Lock()
	p := r.bridges[key]
	delete(r.bridges, key)
	r.mu.Unlock()
	if p == nil {
		return
	}
	p.stop()
	_ = r.state.removeBridge(p.key)
	r.say("bridge %s stopped", key)
}

// StopAll ends every bridge process; the sandbox calls it after the runner's controller stopped.
func (r *Runner) StopAll() {
	r.mu.Lock()
	keys := make([]types.NamespacedName, 0, len(r.bridges))
	for k := range r.bridges {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop(k) }()
	}
	wg.Wait()
}

// Addrs returns the local addresses of the bridge behind a Deployment, if it is ready.
func (r *Runner) Addrs(key types.NamespacedName) (BridgeAddrs, bool) {
	p := r.get(key)
	if p == nil {
		return BridgeAddrs{}, false
	}
	pod, addrs := p.snapshot()
	return addrs, pod.Ready
}

// configMapName is the ConfigMap the pod mounts as its config volume.
func configMapName(dep *appsv1.Deployment) string {
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == configVolume && v.ConfigMap != nil {
			return v.ConfigMap.Name
		}
	}
	return ""
}

// templateRevision identifies a pod template, like the pod-template-hash of a ReplicaSet: any
// change, including the config-checksum annotation, means new pods.
func templateRevision(dep *appsv1.Deployment) string {
	data, _ := json.Marshal(dep.Spec.Template)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// newRunner builds a runner and the manager it runs in; the manager caches only bridge
// Deployments.
func newRunner(cfg *rest.Config, binary, dir string, state *stateFile, say func(string, ...any)) (*Runner, ctrl.Manager, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, nil, err
	}
	sel := labels.SelectorFromSet(labels.Set{labelComponent: componentBridge})
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 ctrl.Log.WithName("dev-runner"),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: map[client.Object]cache.ByObject{&appsv1.Deployment{}: {Label: sel}}},
	})
	if err != nil {
		return nil, nil, err
	}
	r := &Runner{
		client:  mgr.GetClient(),
		reader:  mgr.GetAPIReader(),
		binary:  binary,
		dir:     dir,
		state:   state,
		say:     say,
		bridges: map[types.NamespacedName]*bridgeProc{},
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, nil, err
	}
	return r, mgr, nil
}
