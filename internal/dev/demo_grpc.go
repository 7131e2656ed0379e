package dev

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
)

const grpcTimeout = 10 * time.Second

func publishRequest(version, route, key, payload string) (*bridgev1.PublishRequest, error) {
	var v any
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		return nil, err
	}
	val, err := structpb.NewValue(v)
	if err != nil {
		return nil, err
	}
	return &bridgev1.PublishRequest{
		Version: version, Route: route, Key: key,
		Payload: &bridgev1.PublishRequest_Json{Json: val},
	}, nil
}

func grpcPublish(ctx context.Context, addr string, req *bridgev1.PublishRequest) (*bridgev1.PublishResponse, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, grpcTimeout)
	defer cancel()
	return bridgev1.NewPublishServiceClient(conn).Publish(ctx, req)
}

// publishGRPC publishes one JSON record through the bridge's gRPC PublishService.
func publishGRPC(ctx context.Context, addr, version, route, key, payload string) (published, error) {
	req, err := publishRequest(version, route, key, payload)
	if err != nil {
		return published{}, err
	}
	resp, err := grpcPublish(ctx, addr, req)
	if err != nil {
		return published{}, err
	}
	return published{Topic: resp.GetTopic(), Partition: resp.GetPartition(), Offset: resp.GetOffset()}, nil
}

// publishGRPCInvalid publishes a record that breaks the schema and expects InvalidArgument; it
// returns the status and its field violations, readable.
func publishGRPCInvalid(ctx context.Context, addr, version, route, payload string) (string, error) {
	req, err := publishRequest(version, route, "", payload)
	if err != nil {
		return "", err
	}
	resp, err := grpcPublish(ctx, addr, req)
	if err == nil {
		return "", fmt.Errorf("Publish accepted it: partition %d offset %d", resp.GetPartition(), resp.GetOffset())
	}
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		return "", fmt.Errorf("Publish answered %s, want InvalidArgument: %s", st.Code(), st.Message())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", st.Code(), st.Message())
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				field := v.GetField()
				if field == "" {
					field = "(root)"
				}
				fmt.Fprintf(&b, "\n            %s: %s", field, v.GetDescription())
			}
		}
	}
	return b.String(), nil
}
