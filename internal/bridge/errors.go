package bridge

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/junction-dev/junction/internal/kafka"
	"github.com/junction-dev/junction/internal/schema"
)

// Kind classifies a failed publish. Each kind has exactly one meaning in both protocols:
//
//	kind                 HTTP                         gRPC                 why this gRPC code
//	Unauthenticated      401 + WWW-Authenticate       UNAUTHENTICATED      no API key, or not a valid one
//	Forbidden            403                          PERMISSION_DENIED    the key's grants do not cover route + operation
//	NotFound             404                          NOT_FOUND
//	OperationNotAllowed  405 (Allow: ...)             UNIMPLEMENTED        the route exists but does not offer the operation
//	UnsupportedMedia     415                          INVALID_ARGUMENT     raw bytes sent to a route that requires JSON
//	Malformed            400                          INVALID_ARGUMENT
//	InvalidPartition     400                          INVALID_ARGUMENT     a pinned partition the topic does not have
//	TooLarge             413                          RESOURCE_EXHAUSTED   what gRPC itself answers for an oversized message
//	SchemaViolation      422 + violations[]           INVALID_ARGUMENT     + google.rpc.BadRequest, field = JSON pointer
//	Conflict             409                          ABORTED              a poll group is also used by joined consumers
//	RequestNotFound      404                          NOT_FOUND            no such request id (async replies)
//	RateLimited          429 + Retry-After            RESOURCE_EXHAUSTED   + google.rpc.RetryInfo (a quota, per key or exposure)
//	Overloaded           503 + Retry-After            UNAVAILABLE          + google.rpc.RetryInfo (in-flight bound of this replica)
//	Unavailable          503 + Retry-After            UNAVAILABLE          + google.rpc.RetryInfo
//	Internal             500                          INTERNAL
//
// A batch whose records all passed validation but not all of which Kafka acknowledged answers
// with the status of its most severe failure (503 before 500 before 413), never 2xx, and a
// problem document of type PARTIAL_FAILURE listing each record's outcome in request order.
//
// Every gRPC error also carries google.rpc.ErrorInfo{reason, domain "junction.dev"}, so a
// client can tell 400, 415 and 422 apart although all three are INVALID_ARGUMENT.
type Kind int

const (
	KindInternal Kind = iota
	KindNotFound
	KindOperationNotAllowed
	KindUnsupportedMedia
	KindMalformed
	KindTooLarge
	KindSchemaViolation
	KindUnavailable
	KindUnauthenticated
	KindForbidden
	KindInvalidPartition
	KindRateLimited
	KindOverloaded
	KindConflict
	KindRequestNotFound
)

type kindInfo struct {
	status int
	code   codes.Code
	reason string // ErrorInfo reason and the last segment of the problem type URI
	title  string
}

var kinds = map[Kind]kindInfo{
	KindInternal:            {http.StatusInternalServerError, codes.Internal, "INTERNAL", "Internal error"},
	KindNotFound:            {http.StatusNotFound, codes.NotFound, "ROUTE_NOT_FOUND", "Route not found"},
	KindOperationNotAllowed: {http.StatusMethodNotAllowed, codes.Unimplemented, "OPERATION_NOT_ALLOWED", "Operation not allowed on this route"},
	KindUnsupportedMedia:    {http.StatusUnsupportedMediaType, codes.InvalidArgument, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"},
	KindMalformed:           {http.StatusBadRequest, codes.InvalidArgument, "MALFORMED_REQUEST", "Malformed request"},
	KindTooLarge:            {http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "MESSAGE_TOO_LARGE", "Message too large"},
	KindSchemaViolation:     {http.StatusUnprocessableEntity, codes.InvalidArgument, "SCHEMA_VIOLATION", "Message does not match the schema"},
	KindUnavailable:         {http.StatusServiceUnavailable, codes.Unavailable, "KAFKA_UNAVAILABLE", "Kafka unavailable"},
	KindUnauthenticated:     {http.StatusUnauthorized, codes.Unauthenticated, "UNAUTHENTICATED", "API key required"},
	KindForbidden:           {http.StatusForbidden, codes.PermissionDenied, "FORBIDDEN", "Not granted"},
	KindInvalidPartition:    {http.StatusBadRequest, codes.InvalidArgument, "INVALID_PARTITION", "No such partition"},
	KindRateLimited:         {http.StatusTooManyRequests, codes.ResourceExhausted, "RATE_LIMITED", "Rate limit exceeded"},
	KindOverloaded:          {http.StatusServiceUnavailable, codes.Unavailable, "OVERLOADED", "Bridge overloaded"},
	KindConflict:            {http.StatusConflict, codes.Aborted, "GROUP_CONFLICT", "Consumer group in use"},
	KindRequestNotFound:     {http.StatusNotFound, codes.NotFound, "REQUEST_NOT_FOUND", "Request not found"},
}

// RetryAfter is what clients are told to wait when Kafka is unavailable.
const RetryAfter = 5 * time.Second

const errorDomain = "junction.dev"

// Error is the one error type the core returns; REST and gRPC only translate it.
type Error struct {
	Kind       Kind
	Title      string
	Detail     string
	Violations []schema.Violation
	// RetryAfter is what the client is told to wait; 0 means the kind's default.
	RetryAfter time.Duration
}

// retryAfter is the wait to announce, or 0 when the kind is not retryable.
func (e *Error) retryAfter() time.Duration {
	switch {
	case e.RetryAfter > 0:
		return e.RetryAfter
	case e.Kind == KindUnavailable || e.Kind == KindOverloaded || e.Kind == KindRateLimited:
		return RetryAfter
	}
	return 0
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Title
	}
	return e.Title + ": " + e.Detail
}

func newError(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Title: kinds[k].title, Detail: fmt.Sprintf(format, args...)}
}

// asError returns err as *Error, classifying the producer's sentinels; anything unknown is internal.
func asError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, kafka.ErrInvalidPartition):
		return newError(KindInvalidPartition, "%v", err)
	case errors.Is(err, kafka.ErrMessageTooLarge):
		return newError(KindTooLarge, "Kafka refused the record for its size: %v", err)
	case errors.Is(err, kafka.ErrTopicNotFound):
		// The operator creates topics before it marks the exposure ready; a missing topic is
		// a transient state during rollout, not the client's fault.
		return newError(KindUnavailable, "the topic does not exist (yet): %v", err)
	case errors.Is(err, kafka.ErrUnavailable):
		return newError(KindUnavailable, "%v", err)
	}
	return newError(KindInternal, "%v", err)
}

// HTTPStatus is the response status for e.
func (e *Error) HTTPStatus() int { return kinds[e.Kind].status }

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Status     int                `json:"status"`
	Detail     string             `json:"detail,omitempty"`
	Instance   string             `json:"instance,omitempty"`
	Violations []schema.Violation `json:"violations,omitempty"`
	// Results is set on PARTIAL_FAILURE: one entry per record of the batch, in order.
	Results []RecordResult `json:"results,omitempty"`
}

// RecordResult is the outcome of one record of a batch: where Kafka stored it, or why not.
type RecordResult struct {
	Status    int    `json:"status"`
	Topic     string `json:"topic,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	// RequestID is set for records accepted on a route with a backend.
	RequestID string `json:"requestId,omitempty"`
	Error     string `json:"error,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// Problem renders e for the request path instance.
func (e *Error) Problem(instance string) Problem {
	return Problem{
		Type:       "https://junction.dev/problems/" + kinds[e.Kind].reason,
		Title:      e.Title,
		Status:     e.HTTPStatus(),
		Detail:     e.Detail,
		Instance:   instance,
		Violations: e.Violations,
	}
}

// GRPCStatus makes *Error usable directly as a gRPC handler error (status.FromError finds it).
func (e *Error) GRPCStatus() *status.Status {
	info := kinds[e.Kind]
	st := status.New(info.code, e.Error())
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: info.reason, Domain: errorDomain}}
	if len(e.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Pointer, Description: v.Message})
		}
		details = append(details, br)
	}
	if d := e.retryAfter(); d > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st
	}
	return withDetails
}
