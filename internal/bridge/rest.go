package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/junction-dev/junction/internal/kafka"
)

// keyHeader carries the record key when the query parameter "key" is absent.
const keyHeader = "Kafka-Key"

type restServer struct {
	core     *Core
	producer kafka.Producer
	openapi  []byte
	log      *slog.Logger
}

func (s *restServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{version}/{route}", s.publish)
	mux.HandleFunc("/{version}/{route}", s.methodNotAllowed)
	mux.HandleFunc("GET /openapi.json", s.serveOpenAPI)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newError(KindNotFound, "no handler for %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *restServer) publish(w http.ResponseWriter, r *http.Request) {
	version, routeName := r.PathValue("version"), r.PathValue("route")
	contentType := r.Header.Get("Content-Type")
	rt, err := s.core.prepare(version, routeName, contentType)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit := rt.cfg.MessageLimit()
	tooLarge := newError(KindTooLarge, "the body exceeds this route's limit of %d bytes", limit)
	if r.ContentLength > limit {
		s.fail(w, r, tooLarge)
		return
	}
	// MaxBytesReader stops reading at the limit, so an oversized body is never held whole.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, tooLarge)
		} else {
			s.fail(w, r, newError(KindMalformed, "reading the body: %v", err))
		}
		return
	}
	key := r.URL.Query().Get("key")
	if key == "" {
		key = r.Header.Get(keyHeader)
	}
	res, err := s.core.publish(r.Context(), rt, Message{Key: key, ContentType: contentType, Body: body})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	_ = json.NewEncoder(w).Encode(struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}{res.Topic, res.Partition, res.Offset})
}

func (s *restServer) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	if _, err := s.core.lookup(r.PathValue("version"), r.PathValue("route")); err != nil {
		writeProblem(w, r, asError(err))
		return
	}
	w.Header().Set("Allow", http.MethodPost)
	writeProblem(w, r, &Error{Kind: KindOperationNotAllowed, Title: "Method not allowed", Detail: r.Method + " is not supported here; use POST to publish"})
}

func (s *restServer) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", contentTypeJSON)
	_, _ = w.Write(s.openapi)
}

// readyz asks Kafka on every probe, so the bridge leaves the Service while Kafka is away.
func (s *restServer) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.producer.Ping(ctx); err != nil {
		writeProblem(w, r, asError(err))
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// fail answers with err; failures that are not the client's fault are logged here, once.
func (s *restServer) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e.Kind == KindInternal || e.Kind == KindUnavailable {
		s.log.Warn("publish failed", "path", r.URL.Path, "error", err)
	}
	writeProblem(w, r, e)
}

func writeProblem(w http.ResponseWriter, r *http.Request, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if e.Kind == KindUnavailable {
		h.Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
	}
	w.WriteHeader(e.HTTPStatus())
	_ = json.NewEncoder(w).Encode(e.Problem(r.URL.Path))
}
