package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// result is one row of the table.
type result struct {
	name    string
	proc    string // the process whose CPU and RSS are reported
	records int64  // acknowledged records in the measured window
	bytes   int64  // their value bytes
	elapsed time.Duration
	lats    []time.Duration // per record (direct, gRPC stream) or per request (REST, unary)
	latUnit string
	cpu     float64 // CPU-seconds of proc during the measured window
	kcpu    float64 // CPU-seconds of the kfake child during the window
	ccpu    float64 // CPU-seconds of the harness (the clients) during the window, when proc is another process
	rss     int64   // peak RSS of proc during the case
	failed  int64
	target  string
	note    string    // what the row's columns do not say, appended to target
	noRate  bool      // a latency-only row (operator): no throughput or per-record columns
	also    []*result // rows measured together with this one, printed before it
	err     error
}

func (r *result) rate() float64 { return float64(r.records) / r.elapsed.Seconds() }
func (r *result) mbps() float64 { return float64(r.bytes) / r.elapsed.Seconds() / (1 << 20) }

func (r *result) pct(p float64) time.Duration {
	if len(r.lats) == 0 {
		return 0
	}
	s := slices.Clone(r.lats)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

// meter samples the CPU of the measured process and of the kfake child around a window.
type meter struct {
	pid, kpid    int
	cpu0, k0, c0 float64
	start        time.Time
}

func startMeter(pid, kpid int) (*meter, error) {
	if err := resetPeakRSS(pid); err != nil {
		return nil, fmt.Errorf("resetting the peak RSS of %d: %w", pid, err)
	}
	m := &meter{pid: pid, kpid: kpid, start: time.Now()}
	var err error
	if m.cpu0, err = cpuSeconds(pid); err != nil {
		return nil, err
	}
	if kpid != 0 {
		m.k0, _ = cpuSeconds(kpid)
	}
	m.c0, _ = cpuSeconds(os.Getpid())
	return m, nil
}

func (m *meter) stop(r *result) {
	r.elapsed = time.Since(m.start)
	c, _ := cpuSeconds(m.pid)
	r.cpu = c - m.cpu0
	if m.kpid != 0 {
		k, _ := cpuSeconds(m.kpid)
		r.kcpu = k - m.k0
	}
	r.rss, _ = peakRSS(m.pid)
	if m.pid != os.Getpid() {
		c, _ := cpuSeconds(os.Getpid())
		r.ccpu = c - m.c0
	}
}

// latencies collects samples from many goroutines.
type latencies struct {
	mu sync.Mutex
	s  []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.s = append(l.s, d...)
	l.mu.Unlock()
}

// applyTargets computes every ratio from the rows of this run (issue 9's targets).
func applyTargets(rs []*result) {
	by := map[string]*result{}
	for _, r := range rs {
		if r.err == nil {
			by[r.name] = r
		}
	}
	ratio := func(r *result, base string, what string, got, min float64) string {
		b := by[base]
		if b == nil {
			return fmt.Sprintf("%s: no %s row", what, base)
		}
		var den float64
		if what == "MB/s" {
			den = b.mbps()
		} else {
			den = b.rate()
		}
		x := got / den
		if min == 0 {
			return fmt.Sprintf("%.2f× %s %s (no target)", x, base, what)
		}
		mark := "met"
		if x < min {
			mark = "MISSED"
		}
		return fmt.Sprintf("%.2f× %s %s (≥ %.2f): %s", x, base, what, min, mark)
	}
	rssT := func(r *result) string {
		mark := "met"
		if r.rss > 64<<20 {
			mark = "MISSED"
		}
		return fmt.Sprintf("; RSS %.1f/64 MiB: %s", float64(r.rss)/(1<<20), mark)
	}
	defer func() {
		for _, r := range rs {
			if r.note != "" {
				r.target += "; " + r.note
			}
		}
	}()
	for _, r := range rs {
		if r.err != nil {
			continue
		}
		if strings.HasPrefix(r.name, "operator-new-topic-") {
			mark := "met"
			if r.pct(0.99) > 2*time.Second {
				mark = "MISSED"
			}
			r.target = fmt.Sprintf("create→Ready p99 %s (≤ 2 s): %s; max %s", ms(r.pct(0.99)), mark, ms(r.pct(1)))
			continue
		}
		switch r.name {
		case "direct-firehose", "direct-request":
			r.target = "baseline"
		case "rest-one":
			r.target = ratio(r, "direct-request", "rec/s", r.rate(), 0.60) + rssT(r)
		case "rest-batch":
			r.target = ratio(r, "direct-firehose", "MB/s", r.mbps(), 0.90) + rssT(r)
		case "grpc-stream":
			r.target = ratio(r, "direct-request", "rec/s", r.rate(), 0.80) + rssT(r)
		case "direct-consume", "direct-deliver":
			r.target = "baseline"
		case "sse", "poll":
			// The issue asks for the ratio against a direct consumer and sets no target.
			r.target = ratio(r, "direct-consume", "rec/s", r.rate(), 0) + rssT(r)
		case "direct-half", "direct-half-rest":
			r.target = "baseline at the same rate"
		case "rest-half":
			r.target = added(r, by["direct-half"], "direct-half") + rssT(r)
		case "rest-half-rest":
			r.target = added(r, by["direct-half-rest"], "direct-half-rest") + rssT(r)
		case "overload":
			if len(r.lats) == 0 {
				r.target = "no 503 answers: the in-flight limit was not reached"
				break
			}
			mark := "met"
			if r.pct(0.99) > 50*time.Millisecond {
				mark = "MISSED"
			}
			r.target = fmt.Sprintf("503 answers p99 %s (≤ 50 ms): %s", ms(r.pct(0.99)), mark) + rssT(r)
		case "delivery", "delivery-unordered":
			// A record delivered is an HTTP request answered: the baseline that does the same
			// work is direct-deliver; direct-consume (no backend) is shown for scale.
			r.target = ratio(r, "direct-deliver", "rec/s", r.rate(), 0.80) + "; " + ratio(r, "direct-consume", "rec/s", r.rate(), 0) + rssT(r)
		case "delivery-fail10":
			// The target is for a healthy backend; with failures the ratio is informative.
			r.target = ratio(r, "direct-consume", "rec/s", r.rate(), 0) + rssT(r)
		case "grpc-unary":
			// The issue sets no throughput target for unary; the ratio is informative.
			r.target = ratio(r, "direct-request", "rec/s", r.rate(), 0) + rssT(r)
		}
	}
}

// added is the latency the bridge adds over the direct row at the same offered rate
// (targets: ≤ +0.5 ms at p50, ≤ +3 ms at p99).
func added(r, direct *result, base string) string {
	if direct == nil {
		return fmt.Sprintf("no %s row", base)
	}
	mark := func(d, limit time.Duration) string {
		if d > limit {
			return "MISSED"
		}
		return "met"
	}
	d50, d99 := r.pct(0.50)-direct.pct(0.50), r.pct(0.99)-direct.pct(0.99)
	return fmt.Sprintf("added over %s: %+.2f ms p50 (≤ +0.5): %s, %+.2f ms p99 (≤ +3): %s",
		base, float64(d50.Microseconds())/1000, mark(d50, 500*time.Microsecond),
		float64(d99.Microseconds())/1000, mark(d99, 3*time.Millisecond))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func printTable(w io.Writer, rs []*result, kfake bool) {
	kcol := ""
	if kfake {
		kcol = " kfake CPU s/10k |"
	}
	fmt.Fprintf(w, "| case | records/s | MB/s | p50 | p99 | latency of | CPU s/10k rec | measured process | peak RSS |%s client CPU s/10k | failed | vs target |\n", kcol)
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---|---:|---|---:|%s---:|---:|---|\n", strings.Repeat("---:|", boolInt(kfake)))
	for _, r := range rs {
		if r.err != nil {
			fmt.Fprintf(w, "| %s | error: %s |\n", r.name, strings.ReplaceAll(r.err.Error(), "|", "/"))
			continue
		}
		if r.noRate {
			fmt.Fprintf(w, "| %s | — | — | %s | %s | %s | %.1f CPU-s | %s | %.0f MiB |%s — | — | %s |\n",
				r.name, ms(r.pct(0.50)), ms(r.pct(0.99)), r.latUnit, r.cpu, r.proc, float64(r.rss)/(1<<20),
				strings.Repeat(" — |", boolInt(kfake)), r.target)
			continue
		}
		k := ""
		if kfake {
			k = fmt.Sprintf(" %.3f |", r.kcpu/float64(r.records)*10000)
		}
		cc := "(same)"
		if r.ccpu != 0 {
			cc = fmt.Sprintf("%.3f", r.ccpu/float64(r.records)*10000)
		}
		p50, p99 := "—", "—"
		if len(r.lats) > 0 {
			p50, p99 = ms(r.pct(0.50)), ms(r.pct(0.99))
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %s | %s | %s | %.3f | %s | %.0f MiB |%s %s | %d | %s |\n",
			r.name, r.rate(), r.mbps(), p50, p99, r.latUnit,
			r.cpu/float64(r.records)*10000, r.proc, float64(r.rss)/(1<<20), k, cc, r.failed, r.target)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
