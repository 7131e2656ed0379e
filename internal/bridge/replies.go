package bridge

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/kafka"
)

// Async request-reply. A route whose backend keeps replies has a compacted reply topic keyed
// by request id. Publishing writes a "pending" marker there before the request record, so an
// id a client holds (from a 202) is always in the reply topic; the dispatcher then writes the
// outcome under the same key (same partition, later offset, so it supersedes the marker and
// compaction keeps only the outcome). Every replica reads the whole reply topic, without a
// group, into a bounded index. A GET for an id the index does not know (or knows as pending)
// first waits, bounded, until the reader reached the topic's end offsets as of the request:
// an id acknowledged by any replica before the GET is then found, so what one replica
// answered another never contradicts (read-your-writes across replicas).

const (
	replyStatePending   = "pending"
	replyStateCompleted = "completed"
	replyStateFailed    = "failed"

	// replyCatchUp bounds a GET's wait for this replica's reader to reach the topic's end.
	replyCatchUp = 2 * time.Second
	// maxReplyEntries and maxReplyIndexBytes bound the index of one replica; the oldest
	// entries go first. An id evicted here is answered as unknown.
	maxReplyEntries    = 100_000
	maxReplyIndexBytes = 64 << 20

	// headerRequestState tells a stored reply from the bridge's own answers on GET .../requests/{id}.
	headerRequestState = "Junction-Request-State"
)

// reply is the value kept in the reply topic under a request id.
type reply struct {
	State string    `json:"state"`
	Time  time.Time `json:"time"`
	// Status is the backend's status: its answer when completed, its last one when failed
	// (0 when none arrived).
	Status int `json:"status,omitempty"`
	// Headers are the kept response headers (lowercase names) of a completed request.
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
	// BodyOmitted says the body exceeded the route's limit and was not kept.
	BodyOmitted bool `json:"bodyOmitted,omitempty"`
	Attempts    int  `json:"attempts,omitempty"`
	// Error, Reason ("rejected" or "exhausted") and DeadLetterTopic describe a failed request.
	Error           string `json:"error,omitempty"`
	Reason          string `json:"reason,omitempty"`
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
}

func (r reply) final() bool { return r.State != replyStatePending }

// size approximates the memory an indexed reply holds.
func (r reply) size() int {
	n := 128 + len(r.Body) + len(r.Error)
	for k, v := range r.Headers {
		n += len(k) + len(v)
	}
	return n
}

// requestIDOf is a delivered record's request id: the header the bridge set at publish, or,
// for records produced without the bridge, the record's position (stable across redeliveries).
func requestIDOf(rec *kgo.Record) string {
	for _, h := range rec.Headers {
		if strings.EqualFold(h.Key, headerRequestID) && len(h.Value) > 0 {
			return string(h.Value)
		}
	}
	return fmt.Sprintf("%s-%d-%d", rec.Topic, rec.Partition, rec.Offset)
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,320}$`)

// pendingMarker is the marker written before rec on rt's reply topic; false when rt keeps no
// replies.
func pendingMarker(rt *route, rec kafka.Record, now time.Time) (kafka.Record, bool) {
	b := rt.cfg.Backend
	if b == nil || b.Replies == nil {
		return kafka.Record{}, false
	}
	value, _ := json.Marshal(reply{State: replyStatePending, Time: now.UTC()})
	return kafka.Record{Topic: b.Replies.Topic, Key: []byte(rec.Headers[headerRequestID]), Value: value,
		Headers: map[string]string{headerContentType: contentTypeJSON}}, true
}

// keepsReplies reports whether any of rts keeps replies (its records need pending markers).
func keepsReplies(rts []*route) bool {
	for _, rt := range rts {
		if b := rt.cfg.Backend; b != nil && b.Replies != nil {
			return true
		}
	}
	return false
}

// produceRequests produces recs, recs[i] published on rts[i], like produce. A record of a
// route that keeps replies is produced only after its pending marker was acknowledged; a
// record whose marker was not answers the marker's error and is not produced.
func (c *Core) produceRequests(ctx context.Context, rts []*route, recs []kafka.Record) []kafka.Outcome {
	var markers []kafka.Record
	var of []int
	now := time.Now()
	for i := range recs {
		if m, ok := pendingMarker(rts[i], recs[i], now); ok {
			markers = append(markers, m)
			of = append(of, i)
		}
	}
	if len(markers) == 0 {
		return c.produce(ctx, recs)
	}
	mctx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		mctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	out := make([]kafka.Outcome, len(recs))
	failed := map[int]bool{}
	for j, o := range c.producer.ProduceBatch(mctx, markers) {
		if o.Err != nil {
			out[of[j]].Err = o.Err
			failed[of[j]] = true
		}
	}
	if len(failed) == 0 {
		return c.produce(ctx, recs)
	}
	var rest []kafka.Record
	var idx []int
	for i := range recs {
		if !failed[i] {
			rest = append(rest, recs[i])
			idx = append(idx, i)
		}
	}
	if len(rest) > 0 {
		for j, o := range c.produce(ctx, rest) {
			out[idx[j]] = o
		}
	}
	return out
}

// routes is rt n times, for produceRequests on one route.
func routes(rt *route, n int) []*route {
	out := make([]*route, n)
	for i := range out {
		out[i] = rt
	}
	return out
}

// readReply keeps the backend's answer: status, Content-Type and the listed headers, and the
// body up to the route's limit.
func readReply(resp *http.Response, rp *bridgeconfig.Replies) *reply {
	r := &reply{State: replyStateCompleted, Status: resp.StatusCode, Headers: map[string]string{}}
	for _, name := range append([]string{"Content-Type"}, rp.Headers...) {
		if v := resp.Header.Get(name); v != "" {
			r.Headers[strings.ToLower(name)] = v
		}
	}
	limit := rp.BodyLimit()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	switch {
	case err != nil:
		r.BodyOmitted = true
		r.Error = "reading the reply body: " + err.Error()
	case len(body) > limit:
		r.BodyOmitted = true
	default:
		r.Body = body
	}
	return r
}

// keepReply writes rec's outcome to the route's reply topic, retrying until Kafka
// acknowledges it. False means the worker stopped first: the record stays unsettled and its
// next owner delivers it again. Routes without replies keep nothing.
func (d *dispatcher) keepReply(w *partWorker, rec *kgo.Record, r reply) bool {
	rp := d.backend.Replies
	if rp == nil {
		return true
	}
	r.Time = time.Now().UTC()
	value, err := json.Marshal(r)
	if err != nil {
		d.log.Error("cannot encode a reply", "error", err)
		return true
	}
	out := kafka.Record{Topic: rp.Topic, Key: []byte(requestIDOf(rec)), Value: value,
		Headers: map[string]string{headerContentType: contentTypeJSON}}
	wait := 250 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(w.ctx, 15*time.Second)
		_, err := d.producer.Produce(pctx, out)
		cancel()
		if err == nil {
			return true
		}
		d.log.Warn("reply produce failed, retrying", "replyTopic", rp.Topic, "partition", rec.Partition, "offset", rec.Offset, "error", err, "in", wait)
		select {
		case <-w.ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// completedReply is the outcome of a delivered record.
func completedReply(last attemptResult, attempts int) reply {
	r := reply{State: replyStateCompleted, Status: last.status}
	if last.reply != nil {
		r = *last.reply
	}
	r.Attempts = attempts
	return r
}

// failedReply is the outcome of a dead-lettered (or, without a dead-letter topic, skipped) record.
func failedReply(last attemptResult, attempts int, reason, deadLetterTopic string) reply {
	return reply{State: replyStateFailed, Status: last.status, Attempts: attempts, Error: last.errText(), Reason: reason,
		DeadLetterTopic: deadLetterTopic}
}

// replyReader reads every reply topic of the bridge into a bounded index.
type replyReader struct {
	kcfg   bridgeconfig.Kafka
	topics []string
	log    *slog.Logger

	mu       sync.Mutex
	cl       *kgo.Client // nil until connected
	index    map[replyKey]*list.Element
	order    *list.List // of *replyEntry, oldest first
	bytes    int
	pos      map[string]map[int32]int64 // next offset read, per topic and partition
	advanced chan struct{}              // closed (and replaced) whenever pos moves
	parts    map[string]partitionsAt
	// maxEntries and maxBytes bound the index (maxReplyEntries, maxReplyIndexBytes).
	maxEntries, maxBytes int
}

type replyKey struct{ topic, id string }

type replyEntry struct {
	key   replyKey
	reply reply
}

type partitionsAt struct {
	parts []int32
	at    time.Time
}

// newReplyReader reads the reply topics of cfg's routes; nil when no route keeps replies.
func newReplyReader(cfg *bridgeconfig.Config, log *slog.Logger) *replyReader {
	var topics []string
	for _, v := range cfg.Versions {
		for _, r := range v.Routes {
			if b := r.Backend; b != nil && b.Replies != nil {
				topics = append(topics, b.Replies.Topic)
			}
		}
	}
	if len(topics) == 0 {
		return nil
	}
	return &replyReader{kcfg: cfg.Kafka, topics: topics, log: log.With("component", "replies"),
		index: map[replyKey]*list.Element{}, order: list.New(), pos: map[string]map[int32]int64{},
		advanced: make(chan struct{}), parts: map[string]partitionsAt{}, maxEntries: maxReplyEntries, maxBytes: maxReplyIndexBytes}
}

// run reads the reply topics from their start until ctx ends.
func (r *replyReader) run(ctx context.Context) {
	cl := dialConsumer(ctx, r.log, "reply reader", r.kcfg, kgo.ConsumeTopics(r.topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	if cl == nil {
		return
	}
	defer cl.Close()
	r.mu.Lock()
	r.cl = cl
	r.mu.Unlock()
	r.log.Info("reply reader started", "topics", r.topics)
	for {
		fetches := cl.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			r.log.Warn("reply reader fetch", "topic", topic, "partition", p, "error", err)
		})
		r.mu.Lock()
		moved := false
		fetches.EachRecord(func(rec *kgo.Record) {
			var rep reply
			if err := json.Unmarshal(rec.Value, &rep); err == nil && rep.State != "" && len(rec.Key) > 0 {
				r.put(replyKey{rec.Topic, string(rec.Key)}, rep)
			}
			ps := r.pos[rec.Topic]
			if ps == nil {
				ps = map[int32]int64{}
				r.pos[rec.Topic] = ps
			}
			if rec.Offset+1 > ps[rec.Partition] {
				ps[rec.Partition] = rec.Offset + 1
				moved = true
			}
		})
		if moved {
			close(r.advanced)
			r.advanced = make(chan struct{})
		}
		r.mu.Unlock()
	}
}

// put indexes rep under k (r.mu held). A pending marker never replaces an outcome: the two
// share a partition, so this only matters if the reply topic gained partitions in between.
func (r *replyReader) put(k replyKey, rep reply) {
	if el, ok := r.index[k]; ok {
		e := el.Value.(*replyEntry)
		if e.reply.final() && !rep.final() {
			return
		}
		r.bytes += rep.size() - e.reply.size()
		e.reply = rep
		r.order.MoveToBack(el)
	} else {
		r.index[k] = r.order.PushBack(&replyEntry{key: k, reply: rep})
		r.bytes += rep.size()
	}
	for r.order.Len() > r.maxEntries || r.bytes > r.maxBytes {
		e := r.order.Remove(r.order.Front()).(*replyEntry)
		delete(r.index, e.key)
		r.bytes -= e.reply.size()
	}
}

func (r *replyReader) get(topic, id string) (reply, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.index[replyKey{topic, id}]; ok {
		return el.Value.(*replyEntry).reply, true
	}
	return reply{}, false
}

// lookup answers id's state in topic. An outcome is answered at once; otherwise the reader
// first catches up with the topic's end (bounded by replyCatchUp). It reports an error, and
// no reply, only when the id is unknown and catching up was impossible.
func (r *replyReader) lookup(ctx context.Context, topic, id string) (reply, bool, error) {
	if rep, ok := r.get(topic, id); ok && rep.final() {
		return rep, true, nil
	}
	cctx, cancel := context.WithTimeout(ctx, replyCatchUp)
	defer cancel()
	err := r.catchUp(cctx, topic)
	rep, ok := r.get(topic, id)
	if !ok && err != nil {
		return reply{}, false, err
	}
	return rep, ok, nil
}

// catchUp waits until the reader has read topic up to its end offsets as of now.
func (r *replyReader) catchUp(ctx context.Context, topic string) error {
	r.mu.Lock()
	cl := r.cl
	r.mu.Unlock()
	if cl == nil {
		return fmt.Errorf("%w: the reply reader is not connected yet", kafka.ErrUnavailable)
	}
	parts, err := r.partitions(ctx, cl, topic)
	if err != nil {
		return err
	}
	ends, err := listOffsets(ctx, cl, topic, parts, -1)
	if err != nil {
		return err
	}
	starts, err := listOffsets(ctx, cl, topic, parts, -2)
	if err != nil {
		return err
	}
	for {
		r.mu.Lock()
		done := true
		for p, end := range ends {
			if r.pos[topic][p] < end && starts[p] < end {
				done = false
			}
		}
		ch := r.advanced
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: this replica has not read the reply topic %s up to its end yet", kafka.ErrUnavailable, topic)
		}
	}
}

// partitions lists topic's partitions, cached for a few seconds.
func (r *replyReader) partitions(ctx context.Context, cl *kgo.Client, topic string) ([]int32, error) {
	r.mu.Lock()
	c, ok := r.parts[topic]
	r.mu.Unlock()
	if ok && time.Since(c.at) < 10*time.Second {
		return c.parts, nil
	}
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("%w: reply topic metadata: %w", kafka.ErrUnavailable, err)
	}
	var parts []int32
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return nil, fmt.Errorf("%w: reply topic %s: %w", kafka.ErrUnavailable, topic, err)
		}
		for _, p := range rt.Partitions {
			parts = append(parts, p.Partition)
		}
	}
	r.mu.Lock()
	r.parts[topic] = partitionsAt{parts, time.Now()}
	r.mu.Unlock()
	return parts, nil
}

// requestStatus answers GET /{version}/{route}/requests/{id}: 202 while pending, the stored
// backend answer once completed, a DELIVERY_FAILED problem once dead-lettered, 404 for an id
// this route never accepted (or whose reply expired).
func (s *restServer) requestStatus(w http.ResponseWriter, r *http.Request) {
	rt, err := s.admit(w, r, bridgeconfig.OperationPublish)
	infoOf(r).op = "reply" // authorized as publish, counted apart
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	b := rt.cfg.Backend
	if b == nil || b.Replies == nil || s.replies == nil {
		s.fail(w, r, newError(KindRequestNotFound, "route %s/%s keeps no replies (its backend does not set replies: true)", rt.version, rt.cfg.Name))
		return
	}
	if !requestIDRE.MatchString(id) {
		s.fail(w, r, newError(KindMalformed, "%q is not a request id (letters, digits, '.', '_' and '-', at most 320)", id))
		return
	}
	rep, ok, err := s.replies.lookup(r.Context(), b.Replies.Topic, id)
	switch {
	case err != nil:
		s.fail(w, r, err)
		return
	case !ok:
		s.fail(w, r, newError(KindRequestNotFound, "route %s/%s has no request %s (never accepted here, or its reply expired)", rt.version, rt.cfg.Name, id))
		return
	}
	h := w.Header()
	h.Set(headerRequestState, rep.State)
	switch rep.State {
	case replyStatePending:
		h.Set("Location", r.URL.Path)
		h.Set("Retry-After", "1")
		writeJSON(w, http.StatusAccepted, pendingStatus{RequestID: id, State: rep.State, Since: rep.Time})
	case replyStateCompleted:
		for k, v := range rep.Headers {
			h.Set(k, v)
		}
		h.Set("Junction-Delivery-Attempts", strconv.Itoa(rep.Attempts))
		if rep.BodyOmitted {
			h.Del("Content-Type")
			h.Set("Junction-Reply-Body-Omitted", "true")
		}
		status := rep.Status
		if status < 200 || status > 599 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		if !rep.BodyOmitted && status != http.StatusNoContent && status != http.StatusNotModified {
			_, _ = w.Write(rep.Body)
		}
	default:
		writeFailed(w, r, id, rep)
	}
}

// pendingStatus is the body of a 202 for a request not delivered yet.
type pendingStatus struct {
	RequestID string    `json:"requestId"`
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
}

// failedProblem is the problem document of a request that was dead-lettered.
type failedProblem struct {
	Type            string `json:"type"`
	Title           string `json:"title"`
	Status          int    `json:"status"`
	Detail          string `json:"detail"`
	Instance        string `json:"instance"`
	RequestID       string `json:"requestId"`
	State           string `json:"state"`
	Reason          string `json:"reason"`
	Attempts        int    `json:"attempts"`
	LastStatus      int    `json:"lastStatus,omitempty"`
	LastError       string `json:"lastError,omitempty"`
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
}

// writeFailed answers a dead-lettered request: the backend's own 4xx when it refused the
// request (what a synchronous caller would have seen), 502 when retries ran out.
func writeFailed(w http.ResponseWriter, r *http.Request, id string, rep reply) {
	status := http.StatusBadGateway
	detail := fmt.Sprintf("not delivered after %d attempt(s); the last: %s", rep.Attempts, rep.Error)
	if rep.Reason == "rejected" && rep.Status >= 400 && rep.Status < 500 {
		status = rep.Status
		detail = fmt.Sprintf("the backend refused the request with HTTP %d (attempt %d): %s", rep.Status, rep.Attempts, rep.Error)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(failedProblem{Type: problemBase + "DELIVERY_FAILED", Title: "The request was not delivered",
		Status: status, Detail: detail, Instance: r.URL.Path, RequestID: id, State: rep.State, Reason: rep.Reason,
		Attempts: rep.Attempts, LastStatus: rep.Status, LastError: rep.Error, DeadLetterTopic: rep.DeadLetterTopic})
}
