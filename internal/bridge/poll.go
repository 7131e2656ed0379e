package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// Consumer-group poll without sticky sessions: the group's position lives only in Kafka's
// committed offsets. A poll reads from the committed offsets without joining the group (so no
// rebalance, no member state in a replica), and a commit is a standalone OffsetCommit
// (generation -1), which any replica can serve. Two clients polling one group at once read the
// same records: the contract is at-least-once, one poller per group.

const (
	maxPollRecords = 500
	maxPollBytes   = 8 << 20
	maxPollWait    = 30 * time.Second
)

var groupRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,100}$`)

// kafkaGroup scopes a client's group name to its exposure, so a client can neither read nor
// move the offsets of a group outside the exposure (the dispatcher's, another team's).
func (c *Core) kafkaGroup(name string) (string, error) {
	if !groupRE.MatchString(name) {
		return "", newError(KindMalformed, "group must match %s", groupRE)
	}
	return fmt.Sprintf("junction.%s.%s.%s", c.cfg.Namespace, c.cfg.Name, name), nil
}

type pollResponse struct {
	Records []sseRecord `json:"records"`
	// Errors are records that could not be delivered (too large, not decodable); the commit
	// offsets already cover them, so they never stall the group.
	Errors []sseError `json:"errors"`
	// Commit is what to POST to .../commits once the records are processed.
	Commit commitRequest `json:"commit"`
}

type commitRequest struct {
	Offsets []partitionOffset `json:"offsets"`
}

type partitionOffset struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// poll answers GET /{version}/{route}/records?group=g[&max=n][&wait=1s][&from=earliest|latest].
func (s *restServer) poll(w http.ResponseWriter, r *http.Request) {
	rt, err := s.admit(w, r, bridgeconfig.OperationSubscribe)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	group, err := s.core.kafkaGroup(q.Get("group"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	maxRecords := 100
	if v := q.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPollRecords {
			s.fail(w, r, newError(KindMalformed, "max must be 1 to %d", maxPollRecords))
			return
		}
		maxRecords = n
	}
	wait := time.Second
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxPollWait {
			s.fail(w, r, newError(KindMalformed, "wait must be a duration from 0s to %s", maxPollWait))
			return
		}
		wait = d
	}
	reset := int64(-2) // a group without commits starts at the earliest record
	switch q.Get("from") {
	case "", "earliest":
	case "latest":
		reset = -1
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
	ctx, cancel := context.WithTimeout(r.Context(), wait+10*time.Second)
	defer cancel()
	cl, next, n, err := s.core.openConsumer(ctx, rt, group, nil, reset)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer cl.Close()

	resp := pollResponse{Records: []sseRecord{}, Errors: []sseError{}}
	limit := rt.cfg.MessageLimit()
	deadline := time.Now().Add(wait)
	size := 0
	for len(resp.Records)+len(resp.Errors) < maxRecords && size < maxPollBytes {
		left := time.Until(deadline)
		if left <= 0 && (len(resp.Records) > 0 || len(resp.Errors) > 0 || wait == 0) {
			break
		}
		pctx, pcancel := context.WithTimeout(ctx, max(left, 200*time.Millisecond))
		fetches := cl.PollRecords(pctx, maxRecords-len(resp.Records)-len(resp.Errors))
		pcancel()
		fetches.EachRecord(func(rec *kgo.Record) {
			next[rec.Partition] = rec.Offset + 1
			size += len(rec.Value)
			if e := checkRecord(rt, rec, limit); e != "" {
				resp.Errors = append(resp.Errors, sseError{rec.Partition, rec.Offset, e})
				return
			}
			resp.Records = append(resp.Records, toSSE(rec))
		})
		if time.Now().After(deadline) || r.Context().Err() != nil {
			break
		}
	}
	for p := int32(0); p < n; p++ {
		resp.Commit.Offsets = append(resp.Commit.Offsets, partitionOffset{p, next[p]})
	}
	writeJSON(w, http.StatusOK, resp)
}

// commit answers POST /{version}/{route}/commits?group=g with {"offsets":[{partition, offset}]}.
func (s *restServer) commit(w http.ResponseWriter, r *http.Request) {
	rt, err := s.admit(w, r, bridgeconfig.OperationSubscribe)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	group, err := s.core.kafkaGroup(r.URL.Query().Get("group"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := readSmallBody(w, r, 64<<10)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req commitRequest
	if err := decodeStrict(body, &req, ""); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Offsets) == 0 {
		s.fail(w, r, newError(KindMalformed, `offsets must list at least one {"partition", "offset"}`))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	if err := s.core.commitGroup(ctx, rt, group, req.Offsets); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func readSmallBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, newError(KindTooLarge, "the body exceeds %d bytes", limit)
	case err != nil:
		return nil, newError(KindMalformed, "reading the body: %v", err)
	}
	return body, nil
}

// commitGroup checks offsets against rt's topic and stores them for group (REST commits and
// gRPC Commit).
func (c *Core) commitGroup(ctx context.Context, rt *route, group string, offsets []partitionOffset) error {
	cl, n, err := c.consumerClient(ctx, rt)
	if err != nil {
		return err
	}
	defer cl.Close()
	for i, o := range offsets {
		if o.Partition < 0 || o.Partition >= n || o.Offset < 0 {
			return newError(KindInvalidPartition, "/offsets/%d: partition %d offset %d (the topic has %d partition(s))", i, o.Partition, o.Offset, n)
		}
	}
	return commitOffsets(ctx, cl, group, rt.cfg.Topic, offsets)
}

// consumerClient is a short-lived franz-go client for one request, and the topic's partitions.
func (c *Core) consumerClient(ctx context.Context, rt *route) (*kgo.Client, int32, error) {
	n, err := c.producer.Partitions(ctx, rt.cfg.Topic)
	if err != nil {
		return nil, 0, err
	}
	// A fetch of one message limit: a poll answers at most 500 records and SSE sends as it
	// reads, so larger fetches were mostly decoded to be dropped (peak RSS of the poll bench
	// 77 → 69 MiB, SSE 53 → 46 MiB). Kafka returns a first batch larger than this anyway.
	cl, err := newConsumerClient(c.cfg.Kafka, kgo.FetchMaxBytes(int32(min(rt.cfg.MessageLimit(), 16<<20))))
	if err != nil {
		return nil, 0, newError(KindUnavailable, "%v", err)
	}
	return cl, n, nil
}

// retryCoordinator repeats f while the group coordinator is moving or loading (as on a fresh
// cluster creating __consumer_offsets), up to 10s; other errors return at once.
func retryCoordinator[T any](ctx context.Context, f func() (T, error)) (T, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := f()
		var ke *kerr.Error
		if err == nil || !errors.As(err, &ke) || !ke.Retriable || time.Now().After(deadline) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func committedOffsets(ctx context.Context, cl *kgo.Client, group, topic string, n int32) (map[int32]int64, error) {
	out, err := retryCoordinator(ctx, func() (map[int32]int64, error) { return fetchCommitted(ctx, cl, group, topic, n) })
	if err != nil {
		return nil, newError(KindUnavailable, "fetching the offsets of group %s: %v", group, err)
	}
	return out, nil
}

func fetchCommitted(ctx context.Context, cl *kgo.Client, group, topic string, n int32) (map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	t := kmsg.NewOffsetFetchRequestTopic()
	t.Topic = topic
	for p := int32(0); p < n; p++ {
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	if err := kerr.ErrorForCode(resp.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil // a group that never committed
	} else if err != nil {
		return nil, err
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("%s/%d: %w", topic, rp.Partition, err)
			}
			if rp.Offset >= 0 {
				out[rp.Partition] = rp.Offset
			}
		}
	}
	return out, nil
}

func commitOffsets(ctx context.Context, cl *kgo.Client, group, topic string, offsets []partitionOffset) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	req.Generation = -1 // a standalone commit: the bridge never joins the group
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	// OffsetCommit v10+ names topics by id; a fresh client has not learned it yet.
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return newError(KindUnavailable, "metadata of %s: %v", topic, err)
	}
	for _, m := range mresp.Topics {
		if m.Topic != nil && *m.Topic == topic {
			t.TopicID = m.TopicID
		}
	}
	for _, o := range offsets {
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = o.Partition, o.Offset, -1
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	resp, err := retryCoordinator(ctx, func() (*kmsg.OffsetCommitResponse, error) {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, err
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return resp, err
				}
			}
		}
		return resp, nil
	})
	if resp == nil {
		return newError(KindUnavailable, "committing for group %s: %v", group, err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) {
					return newError(KindConflict, "group %s has active members; the bridge commits only for groups it polls: %v", group, err)
				}
				return newError(KindUnavailable, "committing %s/%d for group %s: %v", topic, rp.Partition, group, err)
			}
		}
	}
	return nil
}
