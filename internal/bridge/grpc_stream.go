package bridge

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/metadata"
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
	// streamPipelineDepth bounds the batches of one stream enqueued and not yet answered;
	// each holds one of the bridge's in-flight slots.
	streamPipelineDepth = 8
)

// PublishStream validates each record exactly as Publish does and produces the records that
// have arrived together, in order, so records of one key keep their order. Each record gets
// one response, in order, sent only after Kafka acknowledged it (or with the error Publish
// would have answered). Each record takes a rate-limit token, as a REST request does.
//
// Batches are pipelined: the next batch is enqueued while earlier ones wait for Kafka (up to
// streamPipelineDepth of them), and a sender answers them in order. Enqueueing stays in this
// goroutine, so the order of records is the order they arrived in.
//
// On shutdown the batches already produced are acknowledged and answered, and the stream ends
// with UNAVAILABLE and RetryInfo: records received but not answered were not produced and are
// resent.
func (s *grpcServer) PublishStream(stream bridgev1.PublishService_PublishStreamServer) error {
	ctx := stream.Context()
	p, err := s.authenticate(ctx)
	if err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(ctx)
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

	pipe := make(chan *streamBatch, streamPipelineDepth)
	failed := make(chan struct{}) // closed when a Send failed; sendErr is then set
	var sendErr error
	var answered uint64 // records answered; read only after senderDone
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		for b := range pipe {
			s.finish(b)
			if sendErr != nil {
				continue // only release what is still in the pipe
			}
			for _, resp := range b.out {
				if err := stream.Send(resp); err != nil {
					sendErr = err
					close(failed)
					break
				}
			}
			answered += uint64(len(b.out))
		}
	}()
	// end stops the sender after it answered every batch in the pipe; the handler may only
	// return after that, since Send must not be called once it has.
	end := func(err error) error {
		close(pipe)
		<-senderDone
		if sendErr != nil {
			return sendErr
		}
		if err == errStopping {
			return shuttingDown(answered)
		}
		return err
	}

	var seq uint64
	headerSent := false
	for {
		if s.stopping.Err() != nil {
			return end(errStopping)
		}
		var batch []*bridgev1.PublishStreamRequest
		select {
		case req, ok := <-in:
			if !ok {
				select {
				case err := <-recvErr:
					if errors.Is(err, io.EOF) {
						return end(nil) // the client closed its side; it gets every response
					}
					return end(err)
				default:
					return end(status.FromContextError(ctx.Err()).Err())
				}
			}
			batch = append(batch, req)
		case <-s.stopping.Done():
			return end(errStopping)
		case <-ctx.Done():
			return end(status.FromContextError(ctx.Err()).Err())
		case <-failed:
			return end(nil)
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
		b := s.startBatch(ctx, p, md, seq, batch)
		select {
		case pipe <- b:
		case <-failed:
			s.finish(b)
			return end(nil)
		}
		seq += uint64(len(batch))
	}
}

// errStopping tells PublishStream's end that the bridge is shutting down.
var errStopping = errors.New("stopping")

// shuttingDown is the status a stream ends with when the bridge stops.
func shuttingDown(acknowledged uint64) error {
	e := newError(KindOverloaded, "the bridge is shutting down; %d record(s) of this stream were answered, resend any without a response to another replica", acknowledged)
	return e
}

// streamBatch is one batch of a PublishStream between being enqueued and being answered.
type streamBatch struct {
	batch   []*bridgev1.PublishStreamRequest
	out     []*bridgev1.PublishStreamResponse
	idx     []int                  // the positions in batch of the records produced
	recs    []kafka.Record         // the records produced, in b.idx order
	wait    func() []kafka.Outcome // nil when nothing was produced
	release func()                 // the batch's in-flight slot
}

// startBatch answers the records of one batch that are refused (each is authorized and
// validated alone, and a refusal concerns that record only) and enqueues the valid ones
// together.
func (s *grpcServer) startBatch(ctx context.Context, p *Principal, md metadata.MD, seq uint64, batch []*bridgev1.PublishStreamRequest) *streamBatch {
	b := &streamBatch{batch: batch, out: make([]*bridgev1.PublishStreamResponse, len(batch))}
	var recs []kafka.Record
	var rts []*route
	var size int64
	for i, req := range batch {
		b.out[i] = &bridgev1.PublishStreamResponse{Sequence: seq + uint64(i)}
		rt, rec, err := s.prepare(ctx, p, md, req.GetRecord())
		if err != nil {
			b.out[i].Result = errorResult(err)
			continue
		}
		recs = append(recs, rec)
		rts = append(rts, rt)
		b.idx = append(b.idx, i)
		size += int64(len(rec.Value))
	}
	if len(recs) == 0 {
		return b
	}
	release, err := s.core.acquire(size)
	if err != nil {
		for _, i := range b.idx {
			b.out[i].Result = errorResult(err)
		}
		return b
	}
	b.release = release
	if keepsReplies(rts) {
		// Pending markers must be acknowledged before their records: no pipelining here.
		out := s.core.produceRequests(ctx, rts, recs)
		b.wait = func() []kafka.Outcome { return out }
	} else {
		b.wait = s.core.startProduce(ctx, recs)
	}
	b.recs = recs
	return b
}

// finish waits for the acknowledgements of b's records and fills in their responses.
func (s *grpcServer) finish(b *streamBatch) {
	if b.wait == nil {
		return
	}
	defer b.release()
	for j, o := range b.wait() {
		i := b.idx[j]
		if o.Err != nil {
			e := asError(o.Err)
			if e.Kind == KindInternal || e.Kind == KindUnavailable {
				s.log.Warn("stream publish failed", "version", b.batch[i].GetRecord().GetVersion(), "route", b.batch[i].GetRecord().GetRoute(), "error", e)
			}
			b.out[i].Result = errorResult(e)
			continue
		}
		b.out[i].Result = &bridgev1.PublishStreamResponse_Stored{Stored: &bridgev1.PublishResponse{
			Topic: o.Result.Topic, Partition: o.Result.Partition, Offset: o.Result.Offset, RequestId: b.recs[j].Headers[headerRequestID]}}
	}
}

// prepare authorizes and validates one record: the steps of Core.Publish before producing.
func (s *grpcServer) prepare(ctx context.Context, p *Principal, md metadata.MD, req *bridgev1.PublishRequest) (*route, kafka.Record, error) {
	if req == nil {
		return nil, kafka.Record{}, newError(KindMalformed, "record is required")
	}
	m, err := message(md, req)
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
