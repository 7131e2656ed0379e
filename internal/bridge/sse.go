package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// The SSE consumer uses franz-go rather than sarama: it assigns partitions at explicit offsets
// with no group membership (kgo.ConsumePartitions), which is exactly what a stateless stream
// resumed from Last-Event-ID needs, while sarama's consumer needs one PartitionConsumer per
// partition plus its own offset bookkeeping. Producing stays on the one sarama producer.

const sseKeepAlive = 15 * time.Second

// eventID encodes the next offset of every partition ("0:17,1:4"), so any replica can resume
// a stream exactly where the client left off; no state lives in the bridge.
func eventID(next map[int32]int64) string {
	ps := make([]int32, 0, len(next))
	for p := range next {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%d:%d", p, next[p])
	}
	return strings.Join(parts, ",")
}

func parseEventID(s string) (map[int32]int64, error) {
	out := map[int32]int64{}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		ps, os, ok := strings.Cut(part, ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, newError(KindMalformed, "Last-Event-ID %q is not a list of partition:offset", s)
		}
		out[int32(p)] = o
	}
	return out, nil
}

type sseRecord struct {
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	Key         string            `json:"key,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Value       json.RawMessage   `json:"value,omitempty"`
	ValueBase64 []byte            `json:"valueBase64,omitempty"`
}

type sseError struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Detail    string `json:"detail"`
}

// events streams a route's records as Server-Sent Events from Last-Event-ID (or ?from=earliest,
// default latest). A record that is too large or not decodable becomes an "error" event naming
// its partition and offset, and the stream goes on.
func (s *restServer) events(w http.ResponseWriter, r *http.Request) {
	rt, err := s.admit(w, r, bridgeconfig.OperationSubscribe)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("lastEventId") // for clients that cannot set headers
	}
	next, err := parseEventID(lastID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from := int64(-1) // ListOffsets: -1 latest, -2 earliest
	switch r.URL.Query().Get("from") {
	case "", "latest":
	case "earliest":
		from = -2
	default:
		s.fail(w, r, newError(KindMalformed, "from must be earliest or latest"))
		return
	}
	release, err := s.core.acquireStream()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer release()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.stopping, cancel)
	defer stop()

	cl, next, _, err := s.core.openConsumer(ctx, rt, "", next, from)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer cl.Close()

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\nid: %s\nevent: open\ndata: {}\n\n", eventID(next))
	_ = rc.Flush()
	s.metrics.streams(1)
	defer s.metrics.streams(-1)

	limit := rt.cfg.MessageLimit()
	for ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, sseKeepAlive)
		fetches := cl.PollRecords(pctx, 500)
		pcancel()
		if ctx.Err() != nil {
			return
		}
		wrote := false
		fetches.EachRecord(func(rec *kgo.Record) {
			next[rec.Partition] = rec.Offset + 1
			event, data := "record", []byte(nil)
			if e := checkRecord(rt, rec, limit); e != "" {
				event = "error"
				data, _ = json.Marshal(sseError{rec.Partition, rec.Offset, e})
			} else {
				data, _ = json.Marshal(toSSE(rec))
			}
			fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", eventID(next), event, data)
			wrote = true
		})
		if !wrote {
			_, _ = w.Write([]byte(": keep-alive\n\n"))
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// checkRecord says why a record cannot be delivered as an event, or "".
func checkRecord(rt *route, rec *kgo.Record, limit int64) string {
	if int64(len(rec.Value)) > limit {
		return fmt.Sprintf("record is %d bytes, over this route's limit of %d", len(rec.Value), limit)
	}
	if (rt.schema != nil || contentTypeOf(rec) == contentTypeJSON) && !json.Valid(rec.Value) {
		return "record value is not valid JSON"
	}
	return ""
}

func contentTypeOf(rec *kgo.Record) string {
	for _, h := range rec.Headers {
		if h.Key == headerContentType {
			return string(h.Value)
		}
	}
	return ""
}

// isJSONValue says whether a record's value is delivered as JSON (rather than as bytes).
func isJSONValue(rec *kgo.Record) bool {
	return json.Valid(rec.Value) && contentTypeOf(rec) != contentTypeBytes
}

func toSSE(rec *kgo.Record) sseRecord {
	out := sseRecord{Partition: rec.Partition, Offset: rec.Offset, Key: string(rec.Key)}
	for _, h := range rec.Headers {
		if out.Headers == nil {
			out.Headers = map[string]string{}
		}
		out.Headers[h.Key] = string(h.Value)
	}
	if isJSONValue(rec) {
		out.Value = rec.Value
	} else {
		out.ValueBase64 = rec.Value
	}
	return out
}

// openConsumer opens a franz-go client assigned to every partition of rt's topic, at the
// offsets in next; partitions next lacks start at group's committed offset (when group is
// set), else at from (-1 latest, -2 earliest). Partitions the topic does not have are
// dropped. The answer holds the concrete start of every partition, so the first position a
// client is told already covers them all. Both REST (SSE, poll) and gRPC (Subscribe) read
// through it.
func (c *Core) openConsumer(ctx context.Context, rt *route, group string, next map[int32]int64, from int64) (*kgo.Client, map[int32]int64, int32, error) {
	cl, n, err := c.consumerClient(ctx, rt)
	if err != nil {
		return nil, nil, 0, err
	}
	start := map[int32]int64{}
	for p, o := range next {
		if p < n {
			start[p] = o
		}
	}
	if group != "" {
		committed, err := committedOffsets(ctx, cl, group, rt.cfg.Topic, n)
		if err != nil {
			cl.Close()
			return nil, nil, 0, err
		}
		for p, o := range committed {
			if _, ok := start[p]; !ok {
				start[p] = o
			}
		}
	}
	var unknown []int32
	for p := int32(0); p < n; p++ {
		if _, ok := start[p]; !ok {
			unknown = append(unknown, p)
		}
	}
	if len(unknown) > 0 {
		listed, err := listOffsets(ctx, cl, rt.cfg.Topic, unknown, from)
		if err != nil {
			cl.Close()
			return nil, nil, 0, err
		}
		for p, o := range listed {
			start[p] = o
		}
	}
	assign := map[int32]kgo.Offset{}
	for p, o := range start {
		assign[p] = kgo.NewOffset().At(o)
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{rt.cfg.Topic: assign})
	return cl, start, n, nil
}

// listOffsets asks the partition leaders for the latest (-1) or earliest (-2) offsets.
func listOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions []int32, ts int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, ts
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	out := map[int32]int64{}
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return nil, newError(KindUnavailable, "listing offsets: %v", shard.Err)
		}
		for _, rt := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return nil, newError(KindUnavailable, "listing offsets of %s/%d: %v", topic, rp.Partition, err)
				}
				out[rp.Partition] = rp.Offset
			}
		}
	}
	if len(out) != len(partitions) {
		return nil, newError(KindUnavailable, "listing offsets of %s: %d of %d partitions answered", topic, len(out), len(partitions))
	}
	return out, nil
}
