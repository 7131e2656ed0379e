package bridge

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/junction-dev/junction/internal/kafka"
	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
)

type grpcServer struct {
	bridgev1.UnimplementedPublishServiceServer
	bridgev1.UnimplementedSubscribeServiceServer
	core *Core
	log  *slog.Logger
	// stopping ends when the bridge shuts down: streams then end with a status instead of
	// holding GracefulStop until its timeout.
	stopping context.Context
}

// newGRPCServer registers the publish and subscribe services, health and reflection. The
// receive limit follows the largest route limit, so the core (not the transport) refuses
// oversized records with its own error.
func newGRPCServer(core *Core, hs *health.Server, log *slog.Logger, m *metrics, stopping context.Context) *grpc.Server {
	// Room for the envelope (version, route, key, headers) around the largest payload.
	const envelope = 64 << 10
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(int(core.maxMessageLimit())+envelope),
		grpc.ChainUnaryInterceptor(accessLogUnary(log, m)),
		grpc.ChainStreamInterceptor(accessLogStream(log)))
	gs := &grpcServer{core: core, log: log, stopping: stopping}
	bridgev1.RegisterPublishServiceServer(srv, gs)
	bridgev1.RegisterSubscribeServiceServer(srv, gs)
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv
}

// message turns a PublishRequest into the core's Message; REST builds the same from a body.
// md is the call's incoming metadata (read once per stream, not per record).
func message(md metadata.MD, req *bridgev1.PublishRequest) (Message, error) {
	m := Message{Key: req.GetKey(), Headers: req.GetHeaders()}
	if req.Partition != nil {
		p := req.GetPartition()
		m.Partition = &p
	}
	switch p := req.GetPayload().(type) {
	case *bridgev1.PublishRequest_Json:
		// encoding/json is compact and deterministic, unlike protojson.
		body, err := json.Marshal(p.Json.AsInterface())
		if err != nil {
			return Message{}, newError(KindMalformed, "json payload: %v", err)
		}
		m.ContentType, m.Body = contentTypeJSON, body
	case *bridgev1.PublishRequest_Raw:
		m.ContentType, m.Body = contentTypeBytes, p.Raw
	default:
		return Message{}, newError(KindMalformed, "payload is required: set json or raw")
	}
	m.TraceParent = first(md, "traceparent")
	return m, nil
}

// authenticate reads the API key from "authorization: Bearer <key>" or "x-api-key", the
// same two places REST reads it from.
func (s *grpcServer) authenticate(ctx context.Context) (*Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	key := first(md, "x-api-key")
	if a := first(md, "authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		key = strings.TrimSpace(a[7:])
	}
	return s.core.Authenticate(key)
}

// deprecation is the response metadata announcing a deprecated version (nil otherwise).
func (s *grpcServer) deprecation(version, routeName string) metadata.MD {
	h := s.core.deprecationHeaders(version, routeName)
	if h == nil {
		return nil
	}
	md := metadata.MD{}
	for k, v := range h {
		md.Set(strings.ToLower(k), v)
	}
	return md
}

func (s *grpcServer) Publish(ctx context.Context, req *bridgev1.PublishRequest) (*bridgev1.PublishResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	m, err := message(md, req)
	if err != nil {
		return nil, err
	}
	if md := s.deprecation(req.GetVersion(), req.GetRoute()); md != nil {
		_ = grpc.SetHeader(ctx, md)
	}
	p, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.core.Publish(ctx, p, req.GetVersion(), req.GetRoute(), m)
	if err != nil {
		e := asError(err)
		if e.Kind == KindInternal || e.Kind == KindUnavailable {
			s.log.Warn("publish failed", "version", req.GetVersion(), "route", req.GetRoute(), "error", err)
		}
		return nil, e
	}
	return &bridgev1.PublishResponse{Topic: res.Topic, Partition: res.Partition, Offset: res.Offset, RequestId: res.RequestID}, nil
}

// routed is a request naming a route (PublishRequest, CommitRequest, SubscribeRequest).
type routed interface {
	GetVersion() string
	GetRoute() string
}

// accessLogUnary logs and counts every Publish and Commit like the REST access log: no
// payloads, no keys.
func accessLogUnary(log *slog.Logger, m *metrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod != bridgev1.PublishService_Publish_FullMethodName && info.FullMethod != bridgev1.SubscribeService_Commit_FullMethodName {
			return handler(ctx, req)
		}
		start := time.Now()
		resp, err := handler(ctx, req)
		code := status.Code(err).String()
		d := time.Since(start)
		m.observeGRPC(info.FullMethod, code, d)
		if !log.Enabled(ctx, slog.LevelInfo) {
			return resp, err
		}
		// Typed attributes in a stack array: no boxing, no slice growth per call.
		var buf [6]slog.Attr
		attrs := append(buf[:0], slog.String("method", info.FullMethod), slog.String("code", code), slog.Int64("duration_ms", d.Milliseconds()))
		if pr, ok := req.(routed); ok {
			attrs = append(attrs, slog.String("version", pr.GetVersion()), slog.String("route", pr.GetRoute()))
		}
		if pr, ok := peer.FromContext(ctx); ok {
			attrs = append(attrs, slog.String("remote", pr.Addr.String()))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "grpc request", attrs...)
		return resp, err
	}
}

// accessLogStream logs every PublishStream and Subscribe when it ends, with its status.
func accessLogStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !strings.HasPrefix(info.FullMethod, "/junction.bridge.v1.") {
			return handler(srv, ss)
		}
		start := time.Now()
		err := handler(srv, ss)
		attrs := []any{"method", info.FullMethod, "code", status.Code(err).String(), "duration_ms", time.Since(start).Milliseconds()}
		if pr, ok := peer.FromContext(ss.Context()); ok {
			attrs = append(attrs, "remote", pr.Addr.String())
		}
		log.Info("grpc stream", attrs...)
		return err
	}
}

func first(md metadata.MD, key string) string {
	if vs := md.Get(key); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// watchHealth keeps the gRPC health status in step with Kafka until ctx ends.
func watchHealth(ctx context.Context, hs *health.Server, p kafka.Producer, every time.Duration) {
	services := []string{"", bridgev1.PublishService_ServiceDesc.ServiceName, bridgev1.SubscribeService_ServiceDesc.ServiceName}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st := healthpb.HealthCheckResponse_SERVING
		if p.Ping(pctx) != nil {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		for _, svc := range services {
			hs.SetServingStatus(svc, st)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
