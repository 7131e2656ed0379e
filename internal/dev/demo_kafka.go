package dev

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// readBackTimeout bounds reading the demo's records back from Kafka.
const readBackTimeout = 30 * time.Second

// readBackResult is what the demo found in the topic.
type readBackResult struct {
	records    []*kgo.Record // the wanted records, in the order asked for
	total      int64         // records in the topic, over all partitions
	partitions int
}

// readBack consumes topic from the start until it has seen every wanted record, then counts
// the records the topic holds.
func readBack(ctx context.Context, bootstrap, topic string, want []published) (readBackResult, error) {
	ctx, cancel := context.WithTimeout(ctx, readBackTimeout)
	defer cancel()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return readBackResult{}, err
	}
	defer cl.Close()

	type at struct {
		p int32
		o int64
	}
	found := map[at]*kgo.Record{}
	for len(found) < len(want) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return readBackResult{}, fmt.Errorf("saw %d of the %d records within %s", len(found), len(want), readBackTimeout)
		}
		for _, fe := range fetches.Errors() {
			if fe.Err != context.DeadlineExceeded && fe.Err != context.Canceled {
				return readBackResult{}, fmt.Errorf("fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		fetches.EachRecord(func(r *kgo.Record) {
			for _, w := range want {
				if r.Partition == w.Partition && r.Offset == w.Offset {
					found[at{r.Partition, r.Offset}] = r
				}
			}
		})
	}
	res := readBackResult{}
	for _, w := range want {
		res.records = append(res.records, found[at{w.Partition, w.Offset}])
	}
	res.total, res.partitions, err = countRecords(ctx, cl, topic)
	return res, err
}

// topicRecords counts the records topic holds now.
func topicRecords(ctx context.Context, bootstrap, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, readBackTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	n, _, err := countRecords(ctx, cl, topic)
	return n, err
}

// countRecords sums end offset minus start offset over the topic's partitions.
func countRecords(ctx context.Context, cl *kgo.Client, topic string) (int64, int, error) {
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		return 0, 0, fmt.Errorf("metadata: %w", err)
	}
	if len(mresp.Topics) != 1 {
		return 0, 0, fmt.Errorf("metadata: %d topics in the answer", len(mresp.Topics))
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		return 0, 0, fmt.Errorf("metadata for %s: %w", topic, err)
	}
	var parts []int32
	for _, p := range mresp.Topics[0].Partitions {
		parts = append(parts, p.Partition)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	offsets := func(ts int64) (map[int32]int64, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range parts {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p
			rp.Timestamp = ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, err
		}
		out := map[int32]int64{}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("partition %d: %w", p.Partition, err)
				}
				out[p.Partition] = p.Offset
			}
		}
		return out, nil
	}
	start, err := offsets(-2)
	if err != nil {
		return 0, 0, fmt.Errorf("list start offsets: %w", err)
	}
	end, err := offsets(-1)
	if err != nil {
		return 0, 0, fmt.Errorf("list end offsets: %w", err)
	}
	var total int64
	for _, p := range parts {
		total += end[p] - start[p]
	}
	return total, len(parts), nil
}
