package bridge

import (
	"context"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
)

// Subscribe is the gRPC form of the REST events stream (from offsets) and group poll (from a
// group's committed offsets), reading through the same openConsumer and checkRecord. Like
// SSE it holds one of the bridge's stream slots and a Kafka client without group membership,
// so any replica can serve the resumed stream.
func (s *grpcServer) Subscribe(req *bridgev1.SubscribeRequest, stream bridgev1.SubscribeService_SubscribeServer) error {
	ctx := stream.Context()
	if md := s.deprecation(req.GetVersion(), req.GetRoute()); md != nil {
		_ = stream.SetHeader(md)
	}
	p, err := s.authenticate(ctx)
	if err != nil {
		return err
	}
	rt, err := s.core.Authorize(p, req.GetVersion(), req.GetRoute(), bridgeconfig.OperationSubscribe)
	if err != nil {
		return err
	}
	var group string
	from := int64(-1) // as SSE: latest unless asked
	if req.GetGroup() != "" {
		if len(req.GetOffsets()) > 0 {
			return newError(KindMalformed, "set group or offsets, not both: a group resumes from its committed offsets")
		}
		if group, err = s.core.kafkaGroup(req.GetGroup()); err != nil {
			return err
		}
		from = -2 // as the group poll: a group without commits starts at the earliest record
	}
	switch req.GetStart() {
	case bridgev1.Start_START_LATEST:
		from = -1
	case bridgev1.Start_START_EARLIEST:
		from = -2
	}
	next := map[int32]int64{}
	for i, o := range req.GetOffsets() {
		if o.GetPartition() < 0 || o.GetOffset() < 0 {
			return newError(KindMalformed, "/offsets/%d: partition %d offset %d; both start at 0", i, o.GetPartition(), o.GetOffset())
		}
		next[o.GetPartition()] = o.GetOffset()
	}
	release, err := s.core.acquireStream()
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.stopping, cancel)
	defer stop()

	octx, ocancel := context.WithTimeout(ctx, 15*time.Second)
	cl, next, _, err := s.core.openConsumer(octx, rt, group, next, from)
	ocancel()
	if err != nil {
		return asError(err)
	}
	defer cl.Close()
	if err := stream.Send(&bridgev1.SubscribeResponse{Event: &bridgev1.SubscribeResponse_Opened{Opened: &bridgev1.Opened{}}, Resume: resume(next)}); err != nil {
		return err
	}
	limit := rt.cfg.MessageLimit()
	for {
		fetches := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			if s.stopping.Err() != nil {
				return newError(KindOverloaded, "the bridge is shutting down; subscribe again with the offsets of the last resume received")
			}
			return status.FromContextError(ctx.Err()).Err()
		}
		var sendErr error
		fetches.EachRecord(func(rec *kgo.Record) {
			if sendErr != nil {
				return
			}
			next[rec.Partition] = rec.Offset + 1
			resp := &bridgev1.SubscribeResponse{Resume: resume(next)}
			if e := checkRecord(rt, rec, limit); e != "" {
				resp.Event = &bridgev1.SubscribeResponse_Undeliverable{Undeliverable: &bridgev1.Undeliverable{Partition: rec.Partition, Offset: rec.Offset, Detail: e}}
			} else {
				resp.Event = &bridgev1.SubscribeResponse_Record{Record: toProtoRecord(rec)}
			}
			sendErr = stream.Send(resp)
		})
		if sendErr != nil {
			return sendErr
		}
	}
}

// Commit stores a group's offsets through the same path as POST .../commits.
func (s *grpcServer) Commit(ctx context.Context, req *bridgev1.CommitRequest) (*bridgev1.CommitResponse, error) {
	p, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	rt, err := s.core.Authorize(p, req.GetVersion(), req.GetRoute(), bridgeconfig.OperationSubscribe)
	if err != nil {
		return nil, err
	}
	group, err := s.core.kafkaGroup(req.GetGroup())
	if err != nil {
		return nil, err
	}
	if len(req.GetOffsets()) == 0 {
		return nil, newError(KindMalformed, "offsets must list at least one {partition, offset}")
	}
	offsets := make([]partitionOffset, len(req.GetOffsets()))
	for i, o := range req.GetOffsets() {
		offsets[i] = partitionOffset{o.GetPartition(), o.GetOffset()}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.core.commitGroup(ctx, rt, group, offsets); err != nil {
		return nil, asError(err)
	}
	return &bridgev1.CommitResponse{}, nil
}

// resume lists next in partition order.
func resume(next map[int32]int64) []*bridgev1.PartitionOffset {
	out := make([]*bridgev1.PartitionOffset, 0, len(next))
	for p, o := range next {
		out = append(out, &bridgev1.PartitionOffset{Partition: p, Offset: o})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out
}

// toProtoRecord is toSSE for gRPC: a JSON value as google.protobuf.Value, anything else raw.
func toProtoRecord(rec *kgo.Record) *bridgev1.Record {
	out := &bridgev1.Record{Partition: rec.Partition, Offset: rec.Offset, Key: string(rec.Key)}
	for _, h := range rec.Headers {
		if out.Headers == nil {
			out.Headers = map[string]string{}
		}
		out.Headers[h.Key] = string(h.Value)
	}
	if isJSONValue(rec) {
		v := &structpb.Value{}
		if err := protojson.Unmarshal(rec.Value, v); err == nil {
			out.Value = &bridgev1.Record_Json{Json: v}
			return out
		}
	}
	out.Value = &bridgev1.Record_Raw{Raw: rec.Value}
	return out
}
