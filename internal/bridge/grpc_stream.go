package bridge

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/kafka"
	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
)

const (
	// streamBatchRecords and streamBatchBytes bound the records of a PublishStream produced
	// together: a client that pipelines gets batches (few round trips to Kafka), one that
	// waits for each acknowledgement gets batches of one.
	streamBatchRecords = MaxBatchRecords
	streamBatchBytes   = 4 << 20
)

// PublishStream validates each record exactly as Publish does and produces the records that
// have arrived together, in order, so records of one key keep their order. Each record gets
// one response, in order, sent only after Kafka acknowledged it (or with the error Publish
// would have answered). Each record takes a rate-limit token, as a REST request does.
//
// On shutdown the batch being produced is acknowledged and the stream ends with UNAVAILABLE
// and RetryInfo: records received but not acknowledged were not produced and are resent.
func (s *grpcServer) PublishStream(stream bridgev1.PublishService_PublishStreamServer) error {
	ctx := stream.Context()
	p, err := s.authenticate(ctx)
	if err != nil {
		return err
	}
	in := make(chan *bridgev1.PublishStreamRequest, streamBatchRecords)
	recvErr := make(chan error, 1)
	go func() {
		defer close(in)
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case in <- req:
			case <-ctx.Done():
				return
			}
		}
	}()

	var seq uint64
	headerSent := false
	for {
		if s.stopping.Err() != nil {
			return shuttingDown(seq)
		}
		var batch []*bridgev1.PublishStreamRequest
		select {
		case req, ok := <-in:
			if !ok {
				select {
				case err := <-recvErr:
					if errors.Is(err, io.EOF) {
						return nil // the client closed its side and has every response
					}
					return err
				default:
					return status.FromContextError(ctx.Err()).Err()
				}
			}
			batch = append(batch, req)
		case <-s.stopping.Done():
			return shuttingDown(seq)
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
		size := proto.Size(batch[0])
	fill:
		for len(batch) < streamBatchRecords && size < streamBatchBytes {
			select {
			case req, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, req)
				size += proto.Size(req)
			default:
				break fill
			}
		}
		if !headerSent {
			// Metadata goes out once, before the first response: the first record's version speaks.
			if md := s.deprecation(batch[0].GetRecord().GetVersion(), batch[0].GetRecord().GetRoute()); md != nil {
				_ = stream.SetHeader(md)
			}
			headerSent = true
		}
		for _, resp := range s.publishBatch(ctx, p, seq, batch) {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
		seq += uint64(len(batch))
	}
}

// shuttingDown is the status a stream ends with when the bridge stops.
func shuttingDown(acknowledged uint64) error {
	e := newError(KindOverloaded, "the bridge is shutting down; %d record(s) of this stream were answered, resend any without a response to another replica", acknowledged)
	return e
}

// publishBatch answers the records of one batch: each is authorized and validated alone (a
// refusal concerns that record only); the valid ones are produced together.
func (s *grpcServer) publishBatch(ctx context.Context, p *Principal, seq uint64, batch []*bridgev1.PublishStreamRequest) []*bridgev1.PublishStreamResponse {
	out := make([]*bridgev1.PublishStreamResponse, len(batch))
	var recs []kafka.Record
	var rts []*route
	var idx []int
	var size int64
	for i, req := range batch {
		out[i] = &bridgev1.PublishStreamResponse{Sequence: seq + uint64(i)}
		rt, rec, err := s.prepare(ctx, p, req.GetRecord())
		if err != nil {
			out[i].Result = errorResult(err)
			continue
		}
		recs = append(recs, rec)
		rts = append(rts, rt)
		idx = append(idx, i)
		size += int64(len(rec.Value))
	}
	if len(recs) == 0 {
		return out
	}
	release, err := s.core.acquire(size)
	if err != nil {
		for _, i := range idx {
			out[i].Result = errorResult(err)
		}
		return out
	}
	defer release()
	for j, o := range s.core.produceRequests(ctx, rts, recs) {
		i := idx[j]
		if o.Err != nil {
			e := asError(o.Err)
			if e.Kind == KindInternal || e.Kind == KindUnavailable {
				s.log.Warn("stream publish failed", "version", batch[i].GetRecord().GetVersion(), "route", batch[i].GetRecord().GetRoute(), "error", e)
			}
			out[i].Result = errorResult(e)
			continue
		}
		out[i].Result = &bridgev1.PublishStreamResponse_Stored{Stored: &bridgev1.PublishResponse{
			Topic: o.Result.Topic, Partition: o.Result.Partition, Offset: o.Result.Offset, RequestId: recs[j].Headers[headerRequestID]}}
	}
	return out
}

// prepare authorizes and validates one record: the steps of Core.Publish before producing.
func (s *grpcServer) prepare(ctx context.Context, p *Principal, req *bridgev1.PublishRequest) (*route, kafka.Record, error) {
	if req == nil {
		return nil, kafka.Record{}, newError(KindMalformed, "record is required")
	}
	m, err := message(ctx, req)
	if err != nil {
		return nil, kafka.Record{}, err
	}
	rt, err := s.core.Authorize(p, req.GetVersion(), req.GetRoute(), bridgeconfig.OperationPublish)
	if err != nil {
		return nil, kafka.Record{}, err
	}
	rec, err := rt.record(m, "")
	if err != nil {
		return nil, kafka.Record{}, err
	}
	if err := s.core.checkPartitions(ctx, rt, []kafka.Record{rec}, func(int) string { return "" }); err != nil {
		return nil, kafka.Record{}, err
	}
	return rt, rec, nil
}

// errorResult is err as the per-record status of a stream response, with the details a
// unary call would carry.
func errorResult(err error) *bridgev1.PublishStreamResponse_Error {
	sp := asError(err).GRPCStatus().Proto()
	return &bridgev1.PublishStreamResponse_Error{Error: &bridgev1.Status{Code: sp.GetCode(), Message: sp.GetMessage(), Details: sp.GetDetails()}}
}
