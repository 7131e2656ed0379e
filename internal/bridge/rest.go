package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/kafka"
)

// keyHeader carries the record key when the query parameter "key" is absent.
const keyHeader = "Kafka-Key"

type restServer struct {
	core     *Core
	producer kafka.Producer
	openapi  []byte
	docs     []byte
	log      *slog.Logger
	metrics  *metrics
	// replies reads the reply topics; nil when no route keeps replies.
	replies *replyReader
	// stopping ends when the server shuts down, so open SSE streams end instead of holding
	// Shutdown until its timeout.
	stopping context.Context
	// draining makes /readyz fail once shutdown began.
	draining atomic.Bool
}

func (s *restServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{version}/{route}", s.publish)
	mux.HandleFunc("/{version}/{route}", s.methodNotAllowed)
	mux.HandleFunc("GET /{version}/{route}/events", s.events)
	mux.HandleFunc("GET /{version}/{route}/records", s.poll)
	mux.HandleFunc("POST /{version}/{route}/commits", s.commit)
	mux.HandleFunc("GET /{version}/{route}/requests/{id}", s.requestStatus)
	mux.HandleFunc("GET /openapi.json", s.serveOpenAPI)
	mux.HandleFunc("GET /docs", s.serveDocs)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newError(KindNotFound, "no handler for %s %s", r.Method, r.URL.Path))
	})
	return s.accessLog(s.cors(mux))
}

// requestInfo is filled in by handlers for the access log and metrics. Labels are set only
// from the config (a route that exists), never from raw client input.
type requestInfo struct {
	version, route, op string
	key                string
}

func (i *requestInfo) labels() (string, string, string) {
	if i.route == "" {
		return "", "unmatched", i.op
	}
	return i.version, i.route, i.op
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// statusRecorder remembers the status and size; Unwrap lets http.ResponseController reach
// Flush on the real writer (SSE).
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one structured line per request and records the metrics. It logs neither
// bodies nor credentials: the API key appears only by its configured name.
func (s *restServer) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observeRequest(info, rec.status, d)
		if r.URL.Path == "/metrics" || r.URL.Path == "/readyz" || r.URL.Path == "/healthz" {
			return
		}
		if !s.log.Enabled(r.Context(), slog.LevelInfo) {
			return
		}
		// Typed attributes in a stack array: no boxing, no slice growth per request.
		var buf [12]slog.Attr
		attrs := append(buf[:0], slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Int64("duration_ms", d.Milliseconds()),
			slog.Int64("request_bytes", r.ContentLength), slog.Int64("response_bytes", rec.bytes),
			slog.String("remote", r.RemoteAddr))
		if info.route != "" {
			attrs = append(attrs, slog.String("version", info.version), slog.String("route", info.route), slog.String("operation", info.op))
		}
		if info.key != "" {
			attrs = append(attrs, slog.String("api_key", info.key))
		}
		if tp := r.Header.Get("traceparent"); validTraceparent(tp) {
			attrs = append(attrs, slog.String("trace_id", tp[3:35]))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
	})
}

// cors applies the exposure's CORS policy: preflights are answered here, and responses to an
// allowed origin carry the headers a browser needs to read them.
func (s *restServer) cors(next http.Handler) http.Handler {
	c := s.core.cfg.CORS
	if c == nil || len(c.AllowedOrigins) == 0 {
		return next
	}
	allowHeaders := strings.Join(append([]string{"Content-Type", "Authorization", "X-API-Key", keyHeader, "traceparent", "tracestate", "Last-Event-ID"}, c.AllowedHeaders...), ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		allowed := ""
		for _, o := range c.AllowedOrigins {
			if o == "*" || o == origin {
				allowed = o
				break
			}
		}
		if origin != "" {
			h.Add("Vary", "Origin")
		}
		if origin != "" && allowed != "" {
			if allowed == "*" {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
			h.Set("Access-Control-Expose-Headers", "Retry-After, Deprecation, Sunset, Link, Location, Junction-Request-State")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if origin != "" && allowed != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST")
				h.Set("Access-Control-Allow-Headers", allowHeaders)
				if c.MaxAgeSeconds > 0 {
					h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAgeSeconds)))
				}
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// apiKey reads "Authorization: Bearer <key>" or "X-API-Key: <key>".
func apiKey(h http.Header) string {
	if a := h.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return h.Get("X-API-Key")
}

// admit labels the request, announces deprecation, authenticates and authorizes it.
func (s *restServer) admit(w http.ResponseWriter, r *http.Request, op bridgeconfig.Operation) (*route, error) {
	version, routeName := r.PathValue("version"), r.PathValue("route")
	info := infoOf(r)
	info.op = string(op)
	if _, err := s.core.lookup(version, routeName); err == nil {
		info.version, info.route = version, routeName
	}
	s.versionHeaders(w, version, routeName)
	p, err := s.core.Authenticate(apiKey(r.Header))
	if err != nil {
		return nil, err
	}
	if p != nil {
		info.key = p.Name
	}
	rt, err := s.core.Authorize(p, version, routeName, op)
	if e, ok := err.(*Error); ok && e.Kind == KindOperationNotAllowed {
		w.Header().Set("Allow", s.allowed(version, routeName, r.URL.Path))
	}
	return rt, err
}

// allowed is the Allow header for path on a route: POST /{v}/{r} publishes; GET .../events,
// GET .../records and POST .../commits subscribe.
func (s *restServer) allowed(version, routeName, path string) string {
	rt, err := s.core.lookup(version, routeName)
	if err != nil {
		return ""
	}
	var methods []string
	switch {
	case strings.HasSuffix(path, "/events"), strings.HasSuffix(path, "/records"):
		if rt.cfg.Allows(bridgeconfig.OperationSubscribe) {
			methods = append(methods, http.MethodGet)
		}
	case strings.Contains(path, "/requests/"):
		if rt.cfg.Allows(bridgeconfig.OperationPublish) {
			methods = append(methods, http.MethodGet)
		}
	case strings.HasSuffix(path, "/commits"):
		if rt.cfg.Allows(bridgeconfig.OperationSubscribe) {
			methods = append(methods, http.MethodPost)
		}
	default:
		if rt.cfg.Allows(bridgeconfig.OperationPublish) {
			methods = append(methods, http.MethodPost)
		}
	}
	return strings.Join(methods, ", ")
}

// versionHeaders announces a deprecated version on the response.
func (s *restServer) versionHeaders(w http.ResponseWriter, version, routeName string) {
	for k, v := range s.core.deprecationHeaders(version, routeName) {
		w.Header().Set(k, v)
	}
}

func (s *restServer) publish(w http.ResponseWriter, r *http.Request) {
	rt, err := s.admit(w, r, bridgeconfig.OperationPublish)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	contentType := r.Header.Get("Content-Type")
	batch := false
	if mt, _, err := parseMediaType(contentType); err == nil && mt == contentTypeBatch {
		batch = true
	} else if _, err := rt.mediaType(contentType); err != nil {
		s.fail(w, r, err)
		return
	}
	limit := rt.cfg.MessageLimit()
	if batch {
		limit = rt.batchLimit()
	}
	tooLarge := newError(KindTooLarge, "the body exceeds this route's limit of %d bytes", limit)
	if r.ContentLength > limit {
		s.fail(w, r, tooLarge)
		return
	}
	reserve := limit
	if r.ContentLength >= 0 {
		reserve = r.ContentLength
	}
	release, err := s.core.acquire(reserve)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer release()
	// MaxBytesReader stops reading at the limit, so an oversized body is never held whole.
	body, err := readBody(http.MaxBytesReader(w, r.Body, min(limit, reserve)), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, tooLarge)
		} else {
			s.fail(w, r, newError(KindMalformed, "reading the body: %v", err))
		}
		return
	}
	if batch {
		s.publishBatch(w, r, rt, body)
		return
	}
	m := Message{Key: r.URL.Query().Get("key"), ContentType: contentType, Body: body, TraceParent: r.Header.Get("traceparent")}
	if b := rt.cfg.Backend; b != nil {
		m.Headers = passHeaders(r.Header, b.PassHeaders)
	}
	if m.Key == "" {
		m.Key = r.Header.Get(keyHeader)
	}
	if ps := r.URL.Query().Get("partition"); ps != "" {
		n, err := strconv.ParseInt(ps, 10, 32)
		if err != nil {
			s.fail(w, r, newError(KindInvalidPartition, "partition %q is not a number", ps))
			return
		}
		p := int32(n)
		m.Partition = &p
	}
	rec, err := rt.record(m, "")
	if err == nil {
		err = s.core.checkPartitions(r.Context(), rt, []kafka.Record{rec}, func(int) string { return "" })
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	o := s.core.produceRequests(r.Context(), []*route{rt}, []kafka.Record{rec})[0]
	if o.Err != nil {
		s.fail(w, r, o.Err)
		return
	}
	if rt.cfg.Backend != nil {
		id := rec.Headers[headerRequestID]
		w.Header().Set("Location", "/"+rt.version+"/"+rt.cfg.Name+"/requests/"+id)
		writeJSON(w, http.StatusAccepted, acceptedResult{id, o.Result.Topic, o.Result.Partition, o.Result.Offset})
		return
	}
	writePublishResult(w, publishResult{o.Result.Topic, o.Result.Partition, o.Result.Offset})
}

// writePublishResult answers 200 with r, byte for byte what writeJSON writes, without
// reflection: topic names are plain ASCII that JSON needs no escape for.
func writePublishResult(w http.ResponseWriter, r publishResult) {
	for i := 0; i < len(r.Topic); i++ {
		if c := r.Topic[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			writeJSON(w, http.StatusOK, r)
			return
		}
	}
	b := make([]byte, 0, 48+len(r.Topic))
	b = append(b, `{"topic":"`...)
	b = append(b, r.Topic...)
	b = append(b, `","partition":`...)
	b = strconv.AppendInt(b, int64(r.Partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, r.Offset, 10)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// readBody is io.ReadAll starting with room for the announced length (already checked against
// the limit), so a 100 KiB batch is read without growing and copying its buffer ten times.
func readBody(rd io.Reader, contentLength int64) ([]byte, error) {
	if contentLength <= 0 {
		return io.ReadAll(rd)
	}
	// One byte more than announced, so the read that reports EOF needs no growth either.
	b := make([]byte, 0, contentLength+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// acceptedResult answers a publish on a route with a backend: stored, not yet delivered.
type acceptedResult struct {
	RequestID string `json:"requestId"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

type publishResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// batchRecord is one element of {"records": [...]}.
type batchRecord struct {
	Key       *string           `json:"key"`
	Value     json.RawMessage   `json:"value"`
	Headers   map[string]string `json:"headers"`
	Partition *int32            `json:"partition"`
	// err is why this record could not be decoded (decodeBatchByRecord only).
	err *Error
}

// decodeBatchByRecord decodes the envelope, then each record on its own: an envelope error
// is returned, a record's error is kept on that record.
func decodeBatchByRecord(body []byte) ([]batchRecord, error) {
	var env struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := decodeStrict(body, &env, ""); err != nil {
		return nil, err
	}
	if env.Records == nil {
		return nil, nil
	}
	brs := make([]batchRecord, len(env.Records))
	for i, raw := range env.Records {
		if err := decodeStrict(raw, &brs[i], "/records/"+strconv.Itoa(i)); err != nil {
			brs[i] = batchRecord{err: asError(err)}
		}
	}
	return brs, nil
}

// decodeStrict decodes exactly one JSON value into v, naming unknown fields.
func decodeStrict(data []byte, v any, at string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if at != "" {
			msg = at + ": " + msg
		}
		return newError(KindMalformed, "%s", msg)
	}
	if dec.More() {
		return newError(KindMalformed, "unexpected data after the batch")
	}
	return nil
}

// publishBatch validates every record before producing any, so a refused batch moves no
// offsets; then it produces all in order and reports each record's outcome.
func (s *restServer) publishBatch(w http.ResponseWriter, r *http.Request, rt *route, body []byte) {
	brs, ok := scanBatch(body)
	if !ok {
		// Something is wrong or unusual in the batch: decode it again record by record, so
		// every error names the record it is about.
		var err error
		if brs, err = decodeBatchByRecord(body); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if brs == nil {
		s.fail(w, r, newError(KindMalformed, `the batch needs a "records" array`))
		return
	}
	if n := len(brs); n == 0 || n > MaxBatchRecords {
		s.fail(w, r, newError(KindMalformed, "a batch holds 1 to %d records, got %d", MaxBatchRecords, n))
		return
	}
	recs := make([]kafka.Record, len(brs))
	var errs []*Error
	at := func(i int) string { return "/records/" + strconv.Itoa(i) }
	traceParent := r.Header.Get("traceparent")
	for i, br := range brs {
		if br.err != nil {
			errs = append(errs, br.err)
			continue
		}
		if len(br.Value) == 0 {
			errs = append(errs, newError(KindMalformed, "%s/value is required", at(i)))
			continue
		}
		// Decoding the batch scanned every value, so each is one well-formed JSON value.
		m := Message{ContentType: contentTypeJSON, Body: br.Value, Headers: br.Headers, Partition: br.Partition, TraceParent: traceParent, wellFormed: true}
		if br.Key != nil {
			m.Key = *br.Key
		}
		rec, err := rt.record(m, at(i)+"/value")
		if err != nil {
			errs = append(errs, asError(err))
			continue
		}
		recs[i] = rec
	}
	if len(errs) > 0 {
		s.fail(w, r, mergeBatchErrors(errs, len(recs)))
		return
	}
	if err := s.core.checkPartitions(r.Context(), rt, recs, func(i int) string { return at(i) + "/partition" }); err != nil {
		s.fail(w, r, err)
		return
	}
	outcomes := s.core.produceRequests(r.Context(), routes(rt, len(recs)), recs)
	results := make([]RecordResult, len(outcomes))
	// A route with a backend accepts (202) like a single publish, with each record's request id.
	okStatus := http.StatusOK
	if rt.cfg.Backend != nil {
		okStatus = http.StatusAccepted
	}
	var worst *Error
	failed := 0
	for i, o := range outcomes {
		if o.Err == nil {
			p, off := o.Result.Partition, o.Result.Offset
			results[i] = RecordResult{Status: okStatus, Topic: o.Result.Topic, Partition: &p, Offset: &off, RequestID: recs[i].Headers[headerRequestID]}
			continue
		}
		failed++
		e := asError(o.Err)
		results[i] = RecordResult{Status: e.HTTPStatus(), Error: kinds[e.Kind].reason, Detail: e.Detail}
		if worst == nil || severity(e) > severity(worst) {
			worst = e
		}
	}
	if worst == nil {
		writeJSON(w, okStatus, struct {
			Results []RecordResult `json:"results"`
		}{results})
		return
	}
	s.logFailure(r, worst)
	p := worst.Problem(r.URL.Path)
	p.Type = problemBase + "PARTIAL_FAILURE"
	p.Title = "Not every record was acknowledged"
	p.Detail = fmt.Sprintf("%d of %d records were not acknowledged by Kafka; retry only those (results lists each record in order). First cause: %s", failed, len(results), worst.Detail)
	p.Violations = nil
	p.Results = results
	writeProblemDoc(w, worst, p)
}

// severity orders failures for a batch's overall status: retryable outages first.
func severity(e *Error) int {
	switch e.Kind {
	case KindUnavailable, KindOverloaded:
		return 3
	case KindInternal:
		return 2
	}
	return 1
}

// mergeBatchErrors makes one refusal for a batch: schema violations are combined (their
// pointers already lead into /records/i/value); otherwise the first record's error stands.
func mergeBatchErrors(errs []*Error, n int) *Error {
	first := errs[0]
	merged := &Error{Kind: first.Kind, Title: first.Title, Detail: first.Detail}
	if len(errs) > 1 {
		merged.Detail = fmt.Sprintf("%d of %d records refused, nothing was written; first: %s", len(errs), n, first.Detail)
	} else {
		merged.Detail = first.Detail + "; nothing was written"
	}
	if first.Kind == KindSchemaViolation {
		for _, e := range errs {
			if e.Kind == KindSchemaViolation {
				merged.Violations = append(merged.Violations, e.Violations...)
			}
		}
	}
	return merged
}

func parseMediaType(ct string) (string, map[string]string, error) {
	if ct == "" {
		return "", nil, errors.New("no content type")
	}
	return mime.ParseMediaType(ct)
}

func (s *restServer) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	if _, err := s.core.lookup(r.PathValue("version"), r.PathValue("route")); err != nil {
		writeProblem(w, r, asError(err))
		return
	}
	w.Header().Set("Allow", s.allowed(r.PathValue("version"), r.PathValue("route"), r.URL.Path))
	writeProblem(w, r, &Error{Kind: KindOperationNotAllowed, Title: "Method not allowed", Detail: r.Method + " is not supported here; POST /{version}/{route} publishes, GET .../events and GET .../records subscribe"})
}

func (s *restServer) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", contentTypeJSON)
	_, _ = w.Write(s.openapi)
}

func (s *restServer) serveDocs(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page is self-contained: no scripts, no external styles or fonts.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(s.docs)
}

// readyz asks Kafka on every probe, so the bridge leaves the Service while Kafka is away.
func (s *restServer) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		e := newError(KindOverloaded, "the bridge is shutting down")
		writeProblem(w, r, e)
		return
	}
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
	s.logFailure(r, e)
	writeProblem(w, r, e)
}

func (s *restServer) logFailure(r *http.Request, e *Error) {
	if e.Kind == KindInternal || e.Kind == KindUnavailable {
		s.log.Warn("request failed", "path", r.URL.Path, "error", e)
	}
}

const problemBase = "https://junction.dev/problems/"

func writeProblem(w http.ResponseWriter, r *http.Request, e *Error) {
	writeProblemDoc(w, e, e.Problem(r.URL.Path))
}

func writeProblemDoc(w http.ResponseWriter, e *Error, p Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if d := e.retryAfter(); d > 0 {
		h.Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
	switch e.Kind {
	case KindUnauthenticated:
		h.Set("WWW-Authenticate", `Bearer realm="junction"`)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
