package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// committer owns the dispatcher's offset commits. Workers tell it where each partition
// stands (the next offset to deliver: every record before it is settled) and which records
// at or after that offset have failed attempts; it commits that state, batching whatever
// changed across partitions into one OffsetCommit, and tells waiters when their change is
// durable. A perKey worker waits for the commit of a settled record before it delivers the
// next one, so a bridge killed mid-delivery repeats at most one record per partition.
//
// What a commit carries is read at the moment franz-go issues the request (PreCommitFn), not
// when the commit was asked for: a commit that waited behind a rebalance never writes a
// partition this member no longer owns, nor an older state of one it still owns.
type committer struct {
	topic string
	log   *slog.Logger
	kick  chan struct{}
	// linger is how long a commit waits after the first change to gather more: 0 for perKey,
	// whose workers wait on each commit; a little for unordered, whose commits only bound what
	// a crash repeats.
	linger time.Duration

	mu    sync.Mutex
	parts map[int32]*commitState
}

type commitState struct {
	offset  int64  // next offset to deliver; -1 until a worker reports one
	meta    string // attempt counts of unsettled records (attemptsMetadata)
	ver     uint64 // bumped by every change
	done    uint64 // highest ver known committed
	changed chan struct{}
}

func newCommitter(topic string, log *slog.Logger, linger time.Duration) *committer {
	return &committer{topic: topic, log: log, linger: linger, kick: make(chan struct{}, 1), parts: map[int32]*commitState{}}
}

// track starts tracking an assigned partition.
func (c *committer) track(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts[p] == nil {
		c.parts[p] = &commitState{offset: -1, changed: make(chan struct{})}
	}
}

// untrack forgets partitions that were revoked or lost and wakes their waiters.
func (c *committer) untrack(ps []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		if st := c.parts[p]; st != nil {
			close(st.changed)
			delete(c.parts, p)
		}
	}
}

// set records partition p's position and attempt metadata and returns the change's version.
func (c *committer) set(p int32, offset int64, meta string) uint64 {
	c.mu.Lock()
	st := c.parts[p]
	var v uint64
	if st != nil && (st.offset != offset || st.meta != meta) {
		st.offset, st.meta = offset, meta
		st.ver++
		v = st.ver
	} else if st != nil {
		v = st.ver
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return v
}

// wait blocks until version v of partition p is committed (ok), the partition is
// untracked or stop is closed (not ok), or timeout passes (not ok, timedOut).
func (c *committer) wait(p int32, v uint64, stop <-chan struct{}, timeout time.Duration) (ok, timedOut bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		st := c.parts[p]
		if st == nil {
			c.mu.Unlock()
			return false, false
		}
		if st.done >= v {
			c.mu.Unlock()
			return true, false
		}
		ch := st.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-stop:
			return false, false
		case <-deadline.C:
			return false, true
		}
	}
}

// loop commits whatever changed until ctx ends, retrying failed commits with backoff.
func (c *committer) loop(ctx context.Context, cl *kgo.Client) {
	wait := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		if c.linger > 0 && !sleepCtx(ctx, c.linger) {
			return
		}
		if err := c.commit(ctx, cl, nil); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("dispatcher offset commit failed, retrying", "error", err, "in", wait)
			if !sleepCtx(ctx, wait) {
				return
			}
			wait = min(2*wait, 5*time.Second)
			select {
			case c.kick <- struct{}{}:
			default:
			}
			continue
		}
		wait = 100 * time.Millisecond
	}
}

// commit commits the changed state of the given partitions (nil: all tracked ones).
func (c *committer) commit(ctx context.Context, cl *kgo.Client, only []int32) error {
	c.mu.Lock()
	offsets := map[int32]kgo.EpochOffset{}
	for p, st := range c.parts {
		if st.offset >= 0 && st.ver > st.done && (only == nil || containsPartition(only, p)) {
			offsets[p] = kgo.EpochOffset{Epoch: -1, Offset: st.offset}
		}
	}
	c.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	sent := map[int32]uint64{}
	cctx := kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for ti := range req.Topics {
			if req.Topics[ti].Topic != c.topic {
				continue
			}
			kept := req.Topics[ti].Partitions[:0]
			for _, rp := range req.Topics[ti].Partitions {
				st := c.parts[rp.Partition]
				if st == nil || st.offset < 0 {
					continue // revoked while this commit waited: not ours to write
				}
				rp.Offset = st.offset
				rp.LeaderEpoch = -1
				md := st.meta
				rp.Metadata = &md
				sent[rp.Partition] = st.ver
				kept = append(kept, rp)
			}
			req.Topics[ti].Partitions = kept
		}
		return nil
	})
	var cerr error
	cl.CommitOffsetsSync(cctx, map[string]map[int32]kgo.EpochOffset{c.topic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, t := range resp.Topics {
				for _, rp := range t.Partitions {
					if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
						cerr = errors.Join(cerr, fmt.Errorf("partition %d: %w", rp.Partition, e))
						continue
					}
					st := c.parts[rp.Partition]
					if v, ok := sent[rp.Partition]; ok && st != nil && v > st.done {
						st.done = v
						close(st.changed)
						st.changed = make(chan struct{})
					}
				}
			}
		})
	return cerr
}

func containsPartition(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// attemptState is what the commit metadata records about one unsettled record.
type attemptState struct {
	offset   int64
	attempts int
	status   int
}

// attemptsMetadataPrefix starts the commit metadata of a partition with failed attempts:
// "junction-attempts/2 offset:attempts:status ...". Kafka bounds commit metadata (4 KiB by
// default), so at most maxSavedAttempts records are listed, the lowest offsets first.
const (
	attemptsMetadataPrefix = "junction-attempts/2"
	maxSavedAttempts       = 64
)

func attemptsMetadata(as []attemptState) string {
	if len(as) == 0 {
		return ""
	}
	sort.Slice(as, func(i, j int) bool { return as[i].offset < as[j].offset })
	var b strings.Builder
	b.WriteString(attemptsMetadataPrefix)
	for i, a := range as {
		if i == maxSavedAttempts {
			break
		}
		fmt.Fprintf(&b, " %d:%d:%d", a.offset, a.attempts, a.status)
	}
	return b.String()
}

// parseAttemptsMetadata reads attemptsMetadata back; anything else (another tool's metadata,
// an older format) means no saved attempts.
func parseAttemptsMetadata(md string) map[int64]attemptState {
	rest, ok := strings.CutPrefix(md, attemptsMetadataPrefix)
	if !ok {
		return nil
	}
	out := map[int64]attemptState{}
	for _, f := range strings.Fields(rest) {
		var a attemptState
		if _, err := fmt.Sscanf(f, "%d:%d:%d", &a.offset, &a.attempts, &a.status); err != nil || a.attempts < 1 || a.offset < 0 {
			continue
		}
		out[a.offset] = a
	}
	return out
}
