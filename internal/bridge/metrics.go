package bridge

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are registered on a registry per Run, so two bridges in one test process do not
// share counters. A nil *metrics records nothing.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	produce    *prometheus.HistogramVec
	records    prometheus.Counter
	inflight   prometheus.Gauge
	sseStreams prometheus.Gauge
	grpc       *prometheus.HistogramVec

	// The children of the vectors above, looked up once per label set rather than hashed
	// per request. Label values come from the config and status codes, so these stay small.
	produceChildren sync.Map // batch class → prometheus.Observer
	requestChildren sync.Map // requestLabels → *requestChild
	grpcChildren    sync.Map // [2]string{method, code} → prometheus.Observer
}

type requestLabels struct {
	version, route, op string
	code               int
}

type requestChild struct {
	count    prometheus.Counter
	duration prometheus.Observer // nil for subscribe
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		// route is the route template (version/route), never the raw path, so the label set
		// stays bounded whatever clients send.
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "junction_bridge_http_requests_total",
			Help: "HTTP requests by version, route, operation and status code.",
		}, []string{"version", "route", "operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "junction_bridge_http_request_duration_seconds",
			Help:    "HTTP request latency by version, route and operation (SSE streams excluded).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"version", "route", "operation"}),
		produce: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "junction_bridge_produce_duration_seconds",
			Help:    "Time from handing records to the producer until Kafka acknowledged all of them, by batch size class.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"batch"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "junction_bridge_records_produced_total",
			Help: "Records handed to the producer.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "junction_bridge_in_flight_requests",
			Help: "Publish requests (REST and gRPC) holding an in-flight slot.",
		}),
		sseStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "junction_bridge_sse_streams",
			Help: "Open Server-Sent Events streams.",
		}),
	}
	m.grpc = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "junction_bridge_grpc_request_duration_seconds",
		Help:    "gRPC Publish latency by status code (its _count is the request count).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{"method", "code"})
	reg.MustRegister(m.grpc, m.requests, m.duration, m.produce, m.records, m.inflight, m.sseStreams,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) inFlight(delta float64) {
	if m != nil {
		m.inflight.Add(delta)
	}
}

func (m *metrics) observeProduce(d time.Duration, n int) {
	if m == nil {
		return
	}
	class := "1"
	if n > 1 {
		class = "many"
	}
	observer(&m.produceChildren, class, m.produce, class).Observe(d.Seconds())
	m.records.Add(float64(n))
}

func (m *metrics) observeRequest(info *requestInfo, code int, d time.Duration) {
	if m == nil {
		return
	}
	version, route, op := info.labels()
	key := requestLabels{version, route, op, code}
	c, ok := m.requestChildren.Load(key)
	if !ok {
		child := &requestChild{count: m.requests.WithLabelValues(version, route, op, strconv.Itoa(code))}
		if op != "subscribe" {
			child.duration = m.duration.WithLabelValues(version, route, op)
		}
		c, _ = m.requestChildren.LoadOrStore(key, child)
	}
	child := c.(*requestChild)
	child.count.Inc()
	if child.duration != nil {
		child.duration.Observe(d.Seconds())
	}
}

func (m *metrics) streams(delta float64) {
	if m != nil {
		m.sseStreams.Add(delta)
	}
}

func (m *metrics) observeGRPC(method, code string, d time.Duration) {
	if m == nil {
		return
	}
	observer(&m.grpcChildren, [2]string{method, code}, m.grpc, method, code).Observe(d.Seconds())
}

// observer is vec's child for labels, created on first use (as WithLabelValues would) and
// then found in cache by key.
func observer(cache *sync.Map, key any, vec *prometheus.HistogramVec, labels ...string) prometheus.Observer {
	if o, ok := cache.Load(key); ok {
		return o.(prometheus.Observer)
	}
	o, _ := cache.LoadOrStore(key, vec.WithLabelValues(labels...))
	return o.(prometheus.Observer)
}
