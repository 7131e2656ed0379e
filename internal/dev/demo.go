package dev

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The demo's records. They fit the schema of the MessageTopic in config/samples:
// {"type":"object","required":["id","amount"],"properties":{"id":{"type":"string"},
// "amount":{"type":"number","minimum":0}},"additionalProperties":false}.
const (
	demoRESTPayload    = `{"id":"order-1","amount":42.5}`
	demoRESTKey        = "order-1"
	demoGRPCPayload    = `{"id":"order-2","amount":7}`
	demoGRPCKey        = "order-2"
	demoInvalidPayload = `{"id":7,"amount":-1,"extra":true}`
)

const (
	group          = "messaging.junction.dev"
	kindBroker     = "MessageBroker"
	kindTopic      = "MessageTopic"
	kindExposure   = "ApiExposure"
	demoFieldOwner = "junction-demo"
)

// DemoOptions configure RunDemo.
type DemoOptions struct {
	// SamplesDir holds the manifests to apply (config/samples).
	SamplesDir string
	// ReadyTimeout bounds the wait for every applied object to be Ready.
	ReadyTimeout time.Duration
}

// demo drives a running sandbox end to end on the samples.
type demo struct {
	s       *Sandbox
	opts    DemoOptions
	objects []*unstructured.Unstructured
	http    *http.Client
}

// RunDemo applies the samples to s, waits for them to be Ready, and exercises every publishing
// route of every ApiExposure over REST and gRPC, then reads the records back from Kafka. The
// returned error names the step that failed.
func RunDemo(ctx context.Context, s *Sandbox, opts DemoOptions) error {
	d := &demo{s: s, opts: opts, http: &http.Client{Timeout: 10 * time.Second}}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"apply " + opts.SamplesDir, d.apply},
		{"wait for Ready", d.waitReady},
		{"exercise the bridges", d.exercise},
	}
	for i, st := range steps {
		s.Say("\n[%d/%d] %s", i+1, len(steps), st.name)
		t := time.Now()
		if err := st.run(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("demo interrupted during step %q", st.name)
			}
			return fmt.Errorf("demo step %q failed: %w", st.name, err)
		}
		s.Say("      done in %s", since(t))
	}
	return nil
}

// apply server-side applies every manifest in the samples directory, pointing each
// MessageBroker at the sandbox's Kafka.
func (d *demo) apply(ctx context.Context) error {
	objs, err := loadManifests(d.opts.SamplesDir)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return fmt.Errorf("no manifests in %s", d.opts.SamplesDir)
	}
	for _, u := range objs {
		namespaced, err := d.s.Client.IsObjectNamespaced(u)
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		if namespaced && u.GetNamespace() == "" {
			u.SetNamespace(metav1.NamespaceDefault)
		}
		if isKind(u, kindBroker) {
			old, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "kafka", "bootstrapServers")
			if err := unstructured.SetNestedStringSlice(u.Object, []string{d.s.KafkaAddr}, "spec", "kafka", "bootstrapServers"); err != nil {
				return fmt.Errorf("%s: %w", ref(u), err)
			}
			d.s.Say("      %s: spec.kafka.bootstrapServers %v -> [%s] (the sandbox's Kafka)", ref(u), old, d.s.KafkaAddr)
		}
		if err := d.s.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(demoFieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s: %w", ref(u), err)
		}
		d.s.Say("      applied %s", ref(u))
	}
	d.objects = objs
	return nil
}

// waitReady waits until every applied object that reports conditions has Ready=True for its
// current generation.
func (d *demo) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.ReadyTimeout)
	defer cancel()
	start := time.Now()
	pending := map[string]*unstructured.Unstructured{}
	for _, u := range d.objects {
		if u.GroupVersionKind().Group == group {
			pending[ref(u)] = u
		}
	}
	last := map[string]string{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 {
		for name, u := range pending {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(u.GroupVersionKind())
			if err := d.s.Client.Get(ctx, client.ObjectKeyFromObject(u), cur); err != nil {
				if ctx.Err() != nil {
					break
				}
				last[name] = err.Error()
				continue
			}
			ready, why := readyCondition(cur)
			last[name] = why
			if ready {
				d.s.Say("      %s Ready after %s", name, since(start))
				delete(pending, name)
			}
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			var lines []string
			for name := range pending {
				lines = append(lines, fmt.Sprintf("%s: %s", name, last[name]))
			}
			sort.Strings(lines)
			return fmt.Errorf("not Ready within %s:\n        %s\n      (manager log: %s)", d.opts.ReadyTimeout,
				strings.Join(lines, "\n        "), rel(d.s.logFile.Name()))
		case <-tick.C:
		}
	}
	return nil
}

// readyCondition reports whether obj has Ready=True for its current generation, and otherwise
// what its Ready condition says.
func readyCondition(obj *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		status, _ := m["status"].(string)
		reason, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		gen, _, _ := unstructured.NestedInt64(m, "observedGeneration")
		if status == "True" && (gen == 0 || gen == obj.GetGeneration()) {
			return true, ""
		}
		if status == "True" {
			return false, fmt.Sprintf("Ready=True for generation %d, object is at generation %d", gen, obj.GetGeneration())
		}
		return false, fmt.Sprintf("Ready=%s %s: %s", status, reason, msg)
	}
	return false, "no Ready condition yet"
}

// route is one publishing route of an ApiExposure, resolved to its Kafka topic.
type route struct {
	version, name, topic string
}

// exercise runs the publish/read-back checks against the bridge of every ApiExposure.
func (d *demo) exercise(ctx context.Context) error {
	n := 0
	for _, u := range d.objects {
		if !isKind(u, kindExposure) {
			continue
		}
		n++
		if err := d.exerciseExposure(ctx, u); err != nil {
			return fmt.Errorf("%s: %w", ref(u), err)
		}
	}
	if n == 0 {
		return fmt.Errorf("the samples contain no ApiExposure")
	}
	return nil
}

func (d *demo) exerciseExposure(ctx context.Context, exp *unstructured.Unstructured) error {
	addrs, depKey, err := d.bridgeOf(ctx, exp)
	if err != nil {
		return err
	}
	d.s.Say("      bridge %s: http://%s  grpc %s", depKey, addrs.HTTP, addrs.GRPC)
	routes, err := d.publishRoutes(ctx, exp)
	if err != nil {
		return err
	}
	if len(routes) == 0 {
		return fmt.Errorf("no route allows publish")
	}
	for _, r := range routes {
		if err := d.exerciseRoute(ctx, addrs, r); err != nil {
			return fmt.Errorf("route %s/%s: %w", r.version, r.name, err)
		}
	}
	return d.printOpenAPI(ctx, addrs, routes)
}

// bridgeOf finds the bridge Deployment the operator rendered for exp and its local addresses.
func (d *demo) bridgeOf(ctx context.Context, exp *unstructured.Unstructured) (BridgeAddrs, types.NamespacedName, error) {
	var deps appsv1.DeploymentList
	if err := d.s.Client.List(ctx, &deps, client.InNamespace(exp.GetNamespace()), client.MatchingLabels{
		labelInstance: exp.GetName(), labelComponent: componentBridge,
	}); err != nil {
		return BridgeAddrs{}, types.NamespacedName{}, err
	}
	if len(deps.Items) != 1 {
		return BridgeAddrs{}, types.NamespacedName{}, fmt.Errorf("want 1 bridge Deployment labelled %s=%s, found %d",
			labelInstance, exp.GetName(), len(deps.Items))
	}
	key := client.ObjectKeyFromObject(&deps.Items[0])
	addrs, ready := d.s.Runner.Addrs(key)
	if !ready {
		return addrs, key, fmt.Errorf("bridge %s is not running (see %s)", key, rel(filepath.Join(d.s.Runner.dir, key.Namespace, key.Name, "bridge.log")))
	}
	return addrs, key, nil
}

// publishRoutes lists exp's routes that allow publish, with their topics' Kafka names.
func (d *demo) publishRoutes(ctx context.Context, exp *unstructured.Unstructured) ([]route, error) {
	var out []route
	versions, _, _ := unstructured.NestedSlice(exp.Object, "spec", "versions")
	for _, v := range versions {
		vm, _ := v.(map[string]any)
		vname, _ := vm["name"].(string)
		routes, _, _ := unstructured.NestedSlice(vm, "routes")
		for _, r := range routes {
			rm, _ := r.(map[string]any)
			rname, _ := rm["name"].(string)
			ops, _, _ := unstructured.NestedStringSlice(rm, "operations")
			if !slices.Contains(ops, "publish") {
				continue
			}
			topicRef, _, _ := unstructured.NestedString(rm, "topicRef", "name")
			topic, err := d.topicName(ctx, exp.GetNamespace(), topicRef)
			if err != nil {
				return nil, err
			}
			out = append(out, route{version: vname, name: rname, topic: topic})
		}
	}
	return out, nil
}

// topicName is the Kafka name of a MessageTopic: status.topicName, else spec.topicName, else
// metadata.name.
func (d *demo) topicName(ctx context.Context, ns, name string) (string, error) {
	mt := &unstructured.Unstructured{}
	mt.SetAPIVersion(group + "/v1alpha1")
	mt.SetKind(kindTopic)
	if err := d.s.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, mt); err != nil {
		return "", fmt.Errorf("MessageTopic %s/%s: %w", ns, name, err)
	}
	for _, path := range [][]string{{"status", "topicName"}, {"spec", "topicName"}} {
		if s, _, _ := unstructured.NestedString(mt.Object, path...); s != "" {
			return s, nil
		}
	}
	return mt.GetName(), nil
}

// published is where Kafka stored an accepted record.
type published struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (d *demo) exerciseRoute(ctx context.Context, addrs BridgeAddrs, r route) error {
	path := "/" + r.version + "/" + r.name
	d.s.Say("      route %s -> topic %s", path, r.topic)
	before, err := topicRecords(ctx, d.s.KafkaAddr, r.topic)
	if err != nil {
		return fmt.Errorf("count the records in %s: %w", r.topic, err)
	}

	viaREST, err := d.postValid(ctx, addrs.HTTP, path, demoRESTKey, demoRESTPayload)
	if err != nil {
		return fmt.Errorf("REST publish: %w", err)
	}
	d.s.Say("      REST  POST %s Kafka-Key: %s %s -> partition %d offset %d", path, demoRESTKey, demoRESTPayload, viaREST.Partition, viaREST.Offset)

	viaGRPC, err := publishGRPC(ctx, addrs.GRPC, r.version, r.name, demoGRPCKey, demoGRPCPayload)
	if err != nil {
		return fmt.Errorf("gRPC publish: %w", err)
	}
	d.s.Say("      gRPC  Publish %s key=%s %s -> partition %d offset %d", path, demoGRPCKey, demoGRPCPayload, viaGRPC.Partition, viaGRPC.Offset)
	for _, p := range []published{viaREST, viaGRPC} {
		if p.Topic != "" && p.Topic != r.topic {
			return fmt.Errorf("bridge wrote to topic %q, the MessageTopic names %q", p.Topic, r.topic)
		}
	}

	problem, err := d.postInvalid(ctx, addrs.HTTP, path, demoInvalidPayload)
	if err != nil {
		return fmt.Errorf("REST invalid record: %w", err)
	}
	d.s.Say("      REST  POST %s %s -> 422 application/problem+json:\n%s", path, demoInvalidPayload, indent(problem, "            "))

	st, err := publishGRPCInvalid(ctx, addrs.GRPC, r.version, r.name, demoInvalidPayload)
	if err != nil {
		return fmt.Errorf("gRPC invalid record: %w", err)
	}
	d.s.Say("      gRPC  Publish %s %s -> %s", path, demoInvalidPayload, st)

	recs, err := readBack(ctx, d.s.KafkaAddr, r.topic, []published{viaREST, viaGRPC})
	if err != nil {
		return fmt.Errorf("read back from Kafka: %w", err)
	}
	d.s.Say("      read back from Kafka topic %s:", r.topic)
	for _, rec := range recs.records {
		d.s.Say("        partition %d offset %d key=%q value=%s", rec.Partition, rec.Offset, rec.Key, rec.Value)
	}
	d.s.Say("      topic %s holds %d record(s) in %d partition(s), %d more than before the demo wrote",
		r.topic, recs.total, recs.partitions, recs.total-before)
	if recs.total-before != 2 {
		return fmt.Errorf("topic %s gained %d records, want 2: the invalid records must not be written", r.topic, recs.total-before)
	}
	return nil
}

// postValid publishes one record over REST and expects a 2xx with where Kafka stored it.
func (d *demo) postValid(ctx context.Context, addr, path, key, body string) (published, error) {
	code, ctype, data, err := d.post(ctx, addr, path, key, body)
	if err != nil {
		return published{}, err
	}
	if code/100 != 2 {
		return published{}, fmt.Errorf("POST %s answered %d (%s): %s", path, code, ctype, bytes.TrimSpace(data))
	}
	var p published
	if err := json.Unmarshal(data, &p); err != nil {
		return published{}, fmt.Errorf("POST %s answered %d with %q: %w", path, code, data, err)
	}
	return p, nil
}

// postInvalid publishes a record that breaks the schema and expects a 422 problem document
// with at least one violation; it returns the document, indented.
func (d *demo) postInvalid(ctx context.Context, addr, path, body string) (string, error) {
	code, ctype, data, err := d.post(ctx, addr, path, "", body)
	if err != nil {
		return "", err
	}
	if code != http.StatusUnprocessableEntity {
		return "", fmt.Errorf("POST %s answered %d, want 422: %s", path, code, bytes.TrimSpace(data))
	}
	if !strings.HasPrefix(ctype, "application/problem+json") {
		return "", fmt.Errorf("POST %s answered 422 with Content-Type %q, want application/problem+json", path, ctype)
	}
	var doc struct {
		Violations []struct {
			Pointer string `json:"pointer"`
			Detail  string `json:"detail"`
		} `json:"violations"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("422 body is not JSON: %w", err)
	}
	if len(doc.Violations) == 0 {
		return "", fmt.Errorf("422 problem document lists no violations: %s", data)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(data), "", "  "); err != nil {
		return "", err
	}
	return out.String(), nil
}

// post sends body as JSON, with key in the bridge's Kafka-Key header unless it is empty.
func (d *demo) post(ctx context.Context, addr, path, key, body string) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Kafka-Key", key)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("Content-Type"), data, err
}

// printOpenAPI fetches the bridge's OpenAPI document and prints its operations; every
// publishing route must be among them.
func (d *demo) printOpenAPI(ctx context.Context, addrs BridgeAddrs, routes []route) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addrs.HTTP+"/openapi.json", nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET /openapi.json: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("GET /openapi.json: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /openapi.json answered %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Info    struct{ Title, Version string }      `json:"info"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("GET /openapi.json: not an OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		return fmt.Errorf("GET /openapi.json: openapi is %q, want 3.1.x", doc.OpenAPI)
	}
	d.s.Say("      GET /openapi.json: OpenAPI %s %q %s", doc.OpenAPI, doc.Info.Title, doc.Info.Version)
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		var methods []string
		for m := range doc.Paths[p] {
			if isHTTPMethod(m) {
				methods = append(methods, strings.ToUpper(m))
			}
		}
		sort.Strings(methods)
		d.s.Say("        %-7s %s", strings.Join(methods, ","), p)
	}
	for _, r := range routes {
		if _, ok := doc.Paths["/"+r.version+"/"+r.name]["post"]; !ok {
			return fmt.Errorf("GET /openapi.json has no POST /%s/%s", r.version, r.name)
		}
	}
	return nil
}

func isHTTPMethod(m string) bool {
	switch strings.ToLower(m) {
	case "get", "put", "post", "delete", "options", "head", "patch", "trace":
		return true
	}
	return false
}

// loadManifests reads every object in the YAML files of dir, in file order, skipping
// kustomization files. Namespaces come first, then brokers, topics and exposures, so each object
// finds what it refers to.
func loadManifests(dir string) ([]*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) ||
			strings.HasPrefix(name, "kustomization.") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				f.Close()
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if len(m) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			if u.GetAPIVersion() == "" || u.GetKind() == "" {
				f.Close()
				return nil, fmt.Errorf("%s: an object without apiVersion or kind", name)
			}
			objs = append(objs, u)
		}
		f.Close()
	}
	sort.SliceStable(objs, func(i, j int) bool { return applyRank(objs[i]) < applyRank(objs[j]) })
	return objs, nil
}

func applyRank(u *unstructured.Unstructured) int {
	switch {
	case u.GetKind() == "Namespace" && u.GroupVersionKind().Group == "":
		return 0
	case u.GroupVersionKind().Group != group:
		return 1
	case u.GetKind() == kindBroker:
		return 2
	case u.GetKind() == kindTopic:
		return 3
	default:
		return 4
	}
}

func isKind(u *unstructured.Unstructured, kind string) bool {
	return u.GroupVersionKind().Group == group && u.GetKind() == kind
}

func ref(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
