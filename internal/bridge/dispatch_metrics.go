package bridge

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dispatchMetrics are the dispatcher's series; a nil *dispatchMetrics records nothing.
type dispatchMetrics struct {
	attempts    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	lagGauge    *prometheus.GaugeVec
}

func newDispatchMetrics(m *metrics) *dispatchMetrics {
	if m == nil {
		return nil
	}
	d := &dispatchMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "junction_bridge_dispatch_attempts_total",
			Help: "Delivery attempts to backends by version, route and result (delivered, retryable, rejected).",
		}, []string{"version", "route", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "junction_bridge_dispatch_dead_letters_total",
			Help: "Records given up on by version, route and reason (rejected: a final 4xx; exhausted: maxAttempts reached).",
		}, []string{"version", "route", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "junction_bridge_dispatch_delivery_seconds",
			Help:    "Time from the record's Kafka timestamp until the backend accepted it, by version and route.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}, []string{"version", "route"}),
		lagGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "junction_bridge_dispatch_lag_records",
			Help: "Records of an assigned partition not yet delivered or dead-lettered (high watermark minus next offset).",
		}, []string{"version", "route", "partition"}),
	}
	m.reg.MustRegister(d.attempts, d.deadLetters, d.latency, d.lagGauge)
	return d
}

func (d *dispatchMetrics) attempt(rt *route, result string) {
	if d != nil {
		d.attempts.WithLabelValues(rt.version, rt.cfg.Name, result).Inc()
	}
}

func (d *dispatchMetrics) deadLetter(rt *route, reason string) {
	if d != nil {
		d.deadLetters.WithLabelValues(rt.version, rt.cfg.Name, reason).Inc()
	}
}

func (d *dispatchMetrics) delivered(rt *route, since time.Duration) {
	if d != nil {
		d.latency.WithLabelValues(rt.version, rt.cfg.Name).Observe(max(since, 0).Seconds())
	}
}

func (d *dispatchMetrics) lag(rt *route, p int32, n int64) {
	if d != nil {
		d.lagGauge.WithLabelValues(rt.version, rt.cfg.Name, strconv.Itoa(int(p))).Set(float64(max(n, 0)))
	}
}

func (d *dispatchMetrics) forgetPartition(rt *route, p int32) {
	if d != nil {
		d.lagGauge.DeleteLabelValues(rt.version, rt.cfg.Name, strconv.Itoa(int(p)))
	}
}
