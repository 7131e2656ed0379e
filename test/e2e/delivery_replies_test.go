//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// replyingBackend answers by the body's "op": "block" holds the request until released,
// "reject" answers 400, anything else 201 with a JSON echo and an ETag.
type replyingBackend struct {
	srv     *httptest.Server
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	blocked int
}

func newReplyingBackend(t *testing.T) *replyingBackend {
	b := &replyingBackend{release: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct {
			Op string `json:"op"`
		}
		_ = json.Unmarshal(body, &in)
		switch in.Op {
		case "block":
			b.mu.Lock()
			b.blocked++
			b.mu.Unlock()
			select {
			case <-b.release:
			case <-r.Context().Done():
				return
			}
		case "reject":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "amount must be positive")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v7"`)
		w.Header().Set("X-Backend-Only", "dropped")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"paid":`+string(body)+`}`)
	}))
	t.Cleanup(func() { b.unblock(); b.srv.Close() })
	return b
}

func (b *replyingBackend) unblock() { b.once.Do(func() { close(b.release) }) }

func (b *replyingBackend) blockedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blocked
}

// requestState polls GET .../requests/{id} on base until Junction-Request-State is want.
func requestState(t *testing.T, base, path, want string, timeout time.Duration) (*http.Response, []byte) {
	t.Helper()
	var resp *http.Response
	var data []byte
	waitFor(t, timeout, path+" to be "+want, func() bool {
		resp, data = call(t, http.MethodGet, base+path, "", nil, nil)
		return resp.Header.Get("Junction-Request-State") == want
	})
	return resp, data
}

// TestAsyncRepliesE2E: the operator (envtest) creates the route's reply topic on the real
// broker (compacted, with a retention) and the exposure is Ready only with it; two bridge
// processes run from the rendered config. A request is pending (202) on both replicas while
// the backend holds it, including on the replica that did not accept it (read-your-writes);
// then both answer the backend's reply (status, kept headers, body); a request the backend
// refuses with a 4xx answers its dead-letter outcome; unknown ids answer 404.
func TestAsyncRepliesE2E(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster := kafkaharness.Start(t, 1)
	env := startOperator(t, cluster, time.Minute)
	ns := env.namespace
	be := newReplyingBackend(t)

	g.Expect(env.client.Create(ctx, env.topic("pay", 3, 1, nil))).To(Succeed())
	g.Expect(env.client.Create(ctx, env.topic("pay-dlq", 1, 1, nil))).To(Succeed())
	attempts := int32(3)
	exposure := &v1alpha1.ApiExposure{
		ObjectMeta: metav1.ObjectMeta{Name: "pay-api", Namespace: ns},
		Spec: v1alpha1.ApiExposureSpec{Versions: []v1alpha1.ApiVersion{{Name: "v1", Routes: []v1alpha1.Route{{
			Name: "pay", TopicRef: v1alpha1.LocalObjectReference{Name: "pay"}, Operations: []v1alpha1.Operation{v1alpha1.OperationPublish},
			Backend: &v1alpha1.Backend{URL: be.srv.URL + "/pay", Timeout: &metav1.Duration{Duration: 30 * time.Second},
				Retry:              &v1alpha1.RetryPolicy{MaxAttempts: &attempts, InitialBackoff: &metav1.Duration{Duration: 100 * time.Millisecond}},
				DeadLetterTopicRef: &v1alpha1.LocalObjectReference{Name: "pay-dlq"},
				Replies:            true, ReplyHeaders: []string{"ETag"}},
		}}}}},
	}
	g.Expect(env.client.Create(ctx, exposure)).To(Succeed())

	// The reply topic: a MessageTopic owned by the exposure, compacted in Kafka.
	reply := &v1alpha1.MessageTopic{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "pay-api-v1-pay-replies"}, reply)).To(Succeed())
	}, 60*time.Second, 200*time.Millisecond).Should(Succeed())
	g.Expect(metav1.IsControlledBy(reply, exposure)).To(BeTrue())
	env.waitReady(t, reply, 60*time.Second)
	state, err := env.admin.DescribeTopic(ctx, reply.KafkaTopicName())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Partitions).To(Equal(int32(3)))
	g.Expect(state.Config).To(HaveKeyWithValue("cleanup.policy", "compact,delete"))
	g.Expect(state.Config).To(HaveKeyWithValue("retention.ms", "86400000"))

	cm := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "pay-api-bridge"}, cm)).To(Succeed())
	}, 60*time.Second, 200*time.Millisecond).Should(Succeed())
	cfg, err := bridgeconfig.Parse([]byte(cm.Data[bridgeconfig.FileName]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Versions[0].Routes[0].Backend.Replies.Topic).To(Equal(reply.KafkaTopicName()))

	// Play kubelet with two replicas.
	a := startBridgeProc(t, cfg)
	b := startBridgeProc(t, cfg)
	d := &appsv1.Deployment{}
	g.Expect(env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "pay-api-bridge"}, d)).To(Succeed())
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
			LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
	g.Expect(env.client.Status().Update(ctx, d)).To(Succeed())
	env.waitReady(t, exposure, 60*time.Second)

	t.Run("PendingThenReply", func(t *testing.T) {
		acc := publishAccepted(t, a.baseURL, "v1", "pay", "k-block", `{"op": "block", "amount": 5}`, nil)
		path := "/v1/pay/requests/" + acc.RequestID
		// At once, before the backend answered, on the replica that accepted it and on the other.
		for name, base := range map[string]string{"other replica": b.baseURL, "accepting replica": a.baseURL} {
			resp, data := call(t, http.MethodGet, base+path, "", nil, nil)
			var p struct {
				RequestID string `json:"requestId"`
				State     string `json:"state"`
			}
			_ = json.Unmarshal(data, &p)
			if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Junction-Request-State") != "pending" ||
				p.State != "pending" || p.RequestID != acc.RequestID || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%s: %d %v %s, want 202 pending", name, resp.StatusCode, resp.Header, data)
			}
		}
		waitFor(t, 60*time.Second, "the backend to hold the request", func() bool { return be.blockedCount() >= 1 })
		if resp, data := call(t, http.MethodGet, b.baseURL+path, "", nil, nil); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("while the backend holds it: %d %s, want 202", resp.StatusCode, data)
		}
		be.unblock()
		for _, base := range []string{b.baseURL, a.baseURL} {
			resp, data := requestState(t, base, path, "completed", 60*time.Second)
			if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/json" ||
				resp.Header.Get("ETag") != `"v7"` || resp.Header.Get("X-Backend-Only") != "" {
				t.Errorf("reply: %d %v", resp.StatusCode, resp.Header)
			}
			if want := `{"paid":{"op": "block", "amount": 5}}`; string(data) != want {
				t.Errorf("reply body %s, want %s", data, want)
			}
		}
		// In Kafka: the pending marker, then the reply, both keyed by the request id.
		var states []string
		for _, m := range readAll(t, cluster, reply.KafkaTopicName()) {
			if string(m.Key) == acc.RequestID {
				var v struct {
					State string `json:"state"`
				}
				_ = json.Unmarshal(m.Value, &v)
				states = append(states, v.State)
			}
		}
		if strings.Join(states, ",") != "pending,completed" {
			t.Errorf("reply topic holds %v for the request, want pending then completed", states)
		}
	})

	t.Run("DeadLetterOutcome", func(t *testing.T) {
		acc := publishAccepted(t, b.baseURL, "v1", "pay", "k-bad", `{"op": "reject", "amount": -1}`, nil)
		resp, data := requestState(t, a.baseURL, "/v1/pay/requests/"+acc.RequestID, "failed", 60*time.Second)
		var p struct {
			problem
			RequestID       string `json:"requestId"`
			Reason          string `json:"reason"`
			Attempts        int    `json:"attempts"`
			LastStatus      int    `json:"lastStatus"`
			LastError       string `json:"lastError"`
			DeadLetterTopic string `json:"deadLetterTopic"`
		}
		decodeProblem(t, resp, data)
		_ = json.Unmarshal(data, &p)
		if resp.StatusCode != http.StatusBadRequest || !strings.HasSuffix(p.Type, "/DELIVERY_FAILED") || p.RequestID != acc.RequestID ||
			p.Reason != "rejected" || p.Attempts != 1 || p.LastStatus != 400 || !strings.Contains(p.LastError, "amount must be positive") ||
			p.DeadLetterTopic != cfg.Versions[0].Routes[0].Backend.DeadLetterTopic {
			t.Errorf("dead-letter outcome: %d %s", resp.StatusCode, data)
		}
	})

	t.Run("UnknownID", func(t *testing.T) {
		for _, base := range []string{a.baseURL, b.baseURL} {
			resp, data := call(t, http.MethodGet, base+"/v1/pay/requests/0b5c6a1e-1f0e-4c8e-9b1a-7d2f3e4c5a6b", "", nil, nil)
			if p := decodeProblem(t, resp, data); resp.StatusCode != http.StatusNotFound || !strings.HasSuffix(p.Type, "/REQUEST_NOT_FOUND") {
				t.Errorf("unknown id: %d %s", resp.StatusCode, data)
			}
		}
	})
}
