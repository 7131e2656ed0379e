// Package openapi renders the OpenAPI 3.1 document of a bridge from its config, so the
// document a client reads is derived from the same routes and schemas the bridge enforces.
package openapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// obj keeps the builder terse; encoding/json sorts map keys, which makes the output deterministic.
type obj = map[string]any

const (
	problemRef = "#/components/schemas/ProblemDetails"
	resultRef  = "#/components/schemas/PublishResult"
)

// BatchMediaType is the request media type of a batch publish ({"records": [...]}).
const BatchMediaType = "application/vnd.junction.batch+json"

// Build returns the OpenAPI 3.1 document (indented JSON) for every publish route in cfg.
func Build(cfg *bridgeconfig.Config) ([]byte, error) {
	paths := obj{}
	opIDs := map[string]string{}
	names := map[string]string{}
	schemas := obj{
		"ProblemDetails": problemSchema(),
		"PublishResult":  resultSchema(),
		"BatchResult":    batchResultSchema(),
		"RecordError":    recordErrorSchema(),
		"Commit":         commitSchema(),
	}
	if hasBackend(cfg) {
		schemas["AcceptedResult"] = acceptedSchema()
		schemas["RequestPending"] = pendingSchema()
		schemas["DeliveryFailed"] = deliveryFailedSchema()
	}
	var served []string
	for _, v := range cfg.Versions {
		served = append(served, v.Name)
		for _, r := range v.Routes {
			path := "/" + v.Name + "/" + r.Name
			if _, dup := paths[path]; dup {
				return nil, fmt.Errorf("openapi: path %s is defined twice", path)
			}
			value, err := valueSchema(v, r, path)
			if err != nil {
				return nil, err
			}
			valueName := valueSchemaName(v.Name, r.Name)
			if other, dup := names[valueName]; dup {
				return nil, fmt.Errorf("openapi: paths %s and %s both map to operationIds and schema names %q", other, path, camel(v.Name, r.Name))
			}
			names[valueName] = path
			schemas[valueName] = value
			ref := "#/components/schemas/" + valueName
			ops := map[string]obj{}
			if r.Allows(bridgeconfig.OperationPublish) {
				paths[path] = obj{"post": publishOperation(cfg, v, r, ref)}
				ops[path] = paths[path].(obj)["post"].(obj)
			}
			if r.Allows(bridgeconfig.OperationPublish) && r.Backend != nil && r.Backend.Replies != nil {
				paths[path+"/requests/{id}"] = obj{"get": requestOperation(cfg, v, r)}
				ops[path+"/requests/{id}"] = paths[path+"/requests/{id}"].(obj)["get"].(obj)
			}
			if r.Allows(bridgeconfig.OperationSubscribe) {
				for sub, item := range subscribeOperations(cfg, v, r, ref) {
					paths[path+sub] = item
					for _, op := range item {
						ops[path+sub] = op.(obj)
					}
				}
			}
			for p, op := range ops {
				id := op["operationId"].(string)
				if other, dup := opIDs[id]; dup {
					return nil, fmt.Errorf("openapi: paths %s and %s both map to operationId %q", other, p, id)
				}
				opIDs[id] = p
			}
		}
	}
	title := cfg.Name
	if title == "" {
		title = "junction bridge"
	}
	components := obj{"schemas": schemas}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       title,
			"version":     strings.Join(served, ", "),
			"description": fmt.Sprintf("Publish records to Kafka topics through the %s/%s bridge.", cfg.Namespace, cfg.Name),
		},
		"paths":      paths,
		"components": components,
	}
	if cfg.Auth != nil {
		components["securitySchemes"] = obj{
			"apiKey": obj{"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key from the exposure's Secret; each key is granted named routes and operations."},
			"bearer": obj{"type": "http", "scheme": "bearer", "description": "The same API key sent as Authorization: Bearer <key>."},
		}
		doc["security"] = []obj{{"apiKey": []string{}}, {"bearer": []string{}}}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// valueSchemaName names the component holding a route's record schema, e.g. V2OrdersValue.
func valueSchemaName(version, route string) string {
	return camel(version, route) + "Value"
}

// valueSchema is the route's JSON Schema with its local $refs rebased to the component.
func valueSchema(v bridgeconfig.Version, r bridgeconfig.Route, path string) (obj, error) {
	if r.Schema == "" {
		return obj{"description": "Any JSON value: this topic has no schema."}, nil
	}
	var s any
	if err := json.Unmarshal([]byte(r.Schema), &s); err != nil {
		return nil, fmt.Errorf("openapi: schema of route %s: %w", path, err)
	}
	m, ok := s.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi: schema of route %s is not an object", path)
	}
	return rebaseRefs(m, "#/components/schemas/"+valueSchemaName(v.Name, r.Name)).(map[string]any), nil
}

func publishOperation(cfg *bridgeconfig.Config, v bridgeconfig.Version, r bridgeconfig.Route, ref string) obj {
	limit := r.MessageLimit()
	id := operationID("publish", v.Name, r.Name)
	content := obj{}
	if r.Schema == "" {
		content["application/octet-stream"] = obj{"schema": obj{"type": "string", "contentMediaType": "application/octet-stream"}}
	}
	content["application/json"] = obj{"schema": obj{"$ref": ref}}
	content[BatchMediaType] = obj{"schema": batchSchema(ref)}
	okResp := obj{
		"description": "Kafka acknowledged every record: one result for a single record, results in request order for a batch.",
		"content": obj{"application/json": obj{"schema": obj{"oneOf": []obj{
			{"$ref": resultRef}, {"$ref": "#/components/schemas/BatchResult"},
		}}}},
	}
	okStatus, summary := "200", "Answers 200 only after Kafka acknowledged every record."
	if r.Backend != nil {
		okStatus = "202"
		summary = "A queue in front of a REST backend: answers 202 Accepted once Kafka acknowledged every record, " +
			"with a request id per record; the bridge then delivers each record to the backend, retrying failures."
		okResp = obj{
			"description": "Stored in Kafka, to be delivered to the backend: for one record its request id, with Location naming its status; for a batch, results in request order, each with its request id.",
			"headers": obj{"Location": obj{
				"description": "Single records only: /{version}/{route}/requests/{id}, where the outcome is answered when the route keeps replies.",
				"schema":      obj{"type": "string"},
			}},
			"content": obj{"application/json": obj{"schema": obj{"oneOf": []obj{
				{"$ref": "#/components/schemas/AcceptedResult"}, {"$ref": "#/components/schemas/BatchResult"},
			}}}},
		}
	}
	responses := obj{
		okStatus: okResp,
		"400":    problem("The body is not well-formed JSON, names an unknown field, or pins a partition the topic does not have."),
		"404":    problem("No such version or route."),
		"405":    problem("The route does not offer publish."),
		"413":    problem(fmt.Sprintf("A record is larger than %d bytes (or a batch body larger than its limit).", limit)),
		"415":    problem("The Content-Type is not accepted by this route."),
		"422":    problem("A record does not match the route's schema; violations lists every problem by JSON pointer into the body."),
		"429":    withRetryAfter(problem("The API key's or the exposure's rate limit is exhausted.")),
		"503":    withRetryAfter(problem("Kafka is unavailable or the bridge is at its in-flight limit. For a batch, a PARTIAL_FAILURE problem whose results list each record's outcome in order: retry only the failed ones.")),
	}
	if cfg.Auth != nil {
		responses["401"] = problem("No API key, or not a valid one.")
		responses["403"] = problem("The API key is not granted publish on this route.")
	}
	op := obj{
		"operationId": id,
		"summary":     fmt.Sprintf("Publish records to topic %s", r.Topic),
		"description": fmt.Sprintf("%s Records over %d bytes are refused. "+
			"Send one record as application/json (or application/octet-stream where the topic has no schema), or up to 500 as %s; "+
			"a batch is validated whole before anything is written.", summary, limit, BatchMediaType),
		"tags": []string{v.Name},
		"parameters": []obj{
			{"name": "key", "in": "query", "required": false, "description": "Kafka record key; Kafka-Key header is an alternative.", "schema": obj{"type": "string"}},
			{"name": "partition", "in": "query", "required": false, "description": "Pin the record to this partition.", "schema": obj{"type": "integer", "minimum": 0}},
			{"name": "Kafka-Key", "in": "header", "required": false, "description": "Kafka record key.", "schema": obj{"type": "string"}},
			{"name": "traceparent", "in": "header", "required": false, "description": "W3C trace context; copied into every record's headers.", "schema": obj{"type": "string"}},
		},
		"requestBody": obj{"required": true, "content": content},
		"responses":   responses,
	}
	if v.Deprecated {
		op["deprecated"] = true
		headers := obj{
			"Deprecation": obj{"description": "RFC 9745: when this version was deprecated (@unix-seconds).", "schema": obj{"type": "string"}},
			"Link":        obj{"description": "rel=\"successor-version\" names the route in the next version; rel=\"deprecation\" the docs.", "schema": obj{"type": "string"}},
		}
		if v.Sunset != nil {
			op["x-sunset"] = v.Sunset.UTC().Format(time.RFC3339)
			headers["Sunset"] = obj{"description": "RFC 8594: when this version stops being served.", "schema": obj{"type": "string"}}
			op["description"] = op["description"].(string) + fmt.Sprintf(" Deprecated: this version is served until %s.", v.Sunset.UTC().Format(time.RFC3339))
		}
		if h, ok := okResp["headers"].(obj); ok {
			maps.Copy(headers, h)
		}
		okResp["headers"] = headers
	}
	return op
}

func hasBackend(cfg *bridgeconfig.Config) bool {
	for _, v := range cfg.Versions {
		for _, r := range v.Routes {
			if r.Backend != nil {
				return true
			}
		}
	}
	return false
}

// requestOperation is GET /{version}/{route}/requests/{id} of a route whose backend keeps replies.
func requestOperation(cfg *bridgeconfig.Config, v bridgeconfig.Version, r bridgeconfig.Route) obj {
	state := obj{"description": "pending, completed (the backend's answer) or failed (dead-lettered).", "schema": obj{"type": "string", "enum": []string{"pending", "completed", "failed"}}}
	responses := obj{
		"202": obj{
			"description": "Not delivered yet (Junction-Request-State: pending). Poll again after Retry-After.",
			"headers": obj{
				"Junction-Request-State": state,
				"Retry-After":            obj{"description": "Seconds to wait before asking again.", "schema": obj{"type": "integer", "minimum": 0}},
				"Location":               obj{"description": "This request's status URL.", "schema": obj{"type": "string"}},
			},
			"content": obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/RequestPending"}}},
		},
		"2XX": obj{
			"description": fmt.Sprintf("Delivered (Junction-Request-State: completed): the backend's answer as it gave it, its status, "+
				"Content-Type and kept headers, and its body (up to %d bytes; a larger body is not kept and Junction-Reply-Body-Omitted: true says so).",
				r.Backend.Replies.BodyLimit()),
			"headers": obj{
				"Junction-Request-State":      state,
				"Junction-Delivery-Attempts":  obj{"description": "Delivery attempts made, the successful one included.", "schema": obj{"type": "integer", "minimum": 1}},
				"Junction-Reply-Body-Omitted": obj{"description": "true when the backend's body exceeded the kept size.", "schema": obj{"type": "string"}},
			},
			"content": obj{"*/*": obj{"schema": obj{"description": "The backend's response body."}}},
		},
		"400": problem("The id is not a request id."),
		"404": problem("No such version or route, or no such request (REQUEST_NOT_FOUND: never accepted on this route, or its reply expired)."),
		"4XX": obj{
			"description": "Dead-lettered (Junction-Request-State: failed): the backend refused the request with this 4xx status (DELIVERY_FAILED, reason rejected).",
			"headers":     obj{"Junction-Request-State": state},
			"content":     obj{"application/problem+json": obj{"schema": obj{"$ref": "#/components/schemas/DeliveryFailed"}}},
		},
		"429": withRetryAfter(problem("The API key's or the exposure's rate limit is exhausted.")),
		"502": obj{
			"description": "Dead-lettered (Junction-Request-State: failed): retries ran out on connection errors, timeouts, 408, 429 or 5xx (DELIVERY_FAILED, reason exhausted).",
			"headers":     obj{"Junction-Request-State": state},
			"content":     obj{"application/problem+json": obj{"schema": obj{"$ref": "#/components/schemas/DeliveryFailed"}}},
		},
		"503": withRetryAfter(problem("Kafka is unavailable, or this replica could not read the reply topic up to its end in time.")),
	}
	if cfg.Auth != nil {
		responses["401"] = problem("No API key, or not a valid one.")
		responses["403"] = problem("The API key is not granted publish on this route.")
	}
	op := obj{
		"operationId": operationID("getRequest", v.Name, r.Name),
		"summary":     "The outcome of an accepted request",
		"description": "What became of a request this route accepted (202): pending, the backend's answer, or the dead-letter outcome. " +
			"Any replica answers for requests accepted by any other.",
		"tags": []string{v.Name},
		"parameters": []obj{
			{"name": "id", "in": "path", "required": true, "description": "The requestId of the publish answer.", "schema": obj{"type": "string", "pattern": "^[A-Za-z0-9._-]{1,320}$"}},
		},
		"responses": responses,
	}
	if v.Deprecated {
		op["deprecated"] = true
	}
	return op
}

func acceptedSchema() obj {
	return obj{
		"type":     "object",
		"required": []string{"requestId", "topic", "partition", "offset"},
		"properties": obj{
			"requestId": obj{"type": "string", "description": "The CloudEvents id and Idempotency-Key of the delivery, and the id in /requests/{id}."},
			"topic":     obj{"type": "string"},
			"partition": obj{"type": "integer", "format": "int32"},
			"offset":    obj{"type": "integer", "format": "int64"},
		},
	}
}

func pendingSchema() obj {
	return obj{
		"type":     "object",
		"required": []string{"requestId", "state"},
		"properties": obj{
			"requestId": obj{"type": "string"},
			"state":     obj{"const": "pending"},
			"since":     obj{"type": "string", "format": "date-time", "description": "When the request was accepted."},
		},
	}
}

func deliveryFailedSchema() obj {
	return obj{
		"type":        "object",
		"description": "RFC 9457 problem details of a dead-lettered request (type .../DELIVERY_FAILED).",
		"required":    []string{"type", "title", "status", "requestId", "state", "reason", "attempts"},
		"properties": obj{
			"type":            obj{"type": "string", "format": "uri-reference"},
			"title":           obj{"type": "string"},
			"status":          obj{"type": "integer"},
			"detail":          obj{"type": "string"},
			"instance":        obj{"type": "string"},
			"requestId":       obj{"type": "string"},
			"state":           obj{"const": "failed"},
			"reason":          obj{"type": "string", "enum": []string{"rejected", "exhausted"}},
			"attempts":        obj{"type": "integer", "minimum": 1},
			"lastStatus":      obj{"type": "integer", "description": "The backend's last status; absent when no response arrived."},
			"lastError":       obj{"type": "string"},
			"deadLetterTopic": obj{"type": "string", "description": "The Kafka topic holding the record; absent when the route has none."},
		},
	}
}

// batchSchema is the {"records": [...]} envelope whose values follow valueRef.
func batchSchema(valueRef string) obj {
	return obj{
		"type":                 "object",
		"required":             []string{"records"},
		"additionalProperties": false,
		"properties": obj{
			"records": obj{
				"type": "array", "minItems": 1, "maxItems": 500,
				"items": obj{
					"type":                 "object",
					"required":             []string{"value"},
					"additionalProperties": false,
					"properties": obj{
						"key":       obj{"type": "string"},
						"value":     obj{"$ref": valueRef},
						"headers":   obj{"type": "object", "additionalProperties": obj{"type": "string"}},
						"partition": obj{"type": "integer", "minimum": 0},
					},
				},
			},
		},
	}
}

func batchResultSchema() obj {
	return obj{
		"type":     "object",
		"required": []string{"results"},
		"properties": obj{
			"results": obj{"type": "array", "items": recordResultSchema()},
		},
	}
}

func recordResultSchema() obj {
	return obj{
		"type":     "object",
		"required": []string{"status"},
		"properties": obj{
			"status":    obj{"type": "integer"},
			"topic":     obj{"type": "string"},
			"partition": obj{"type": "integer", "format": "int32"},
			"offset":    obj{"type": "integer", "format": "int64"},
			"requestId": obj{"type": "string", "description": "Routes with a backend: the record's request id."},
			"error":     obj{"type": "string"},
			"detail":    obj{"type": "string"},
		},
	}
}

func problem(desc string) obj {
	return obj{
		"description": desc,
		"content":     obj{"application/problem+json": obj{"schema": obj{"$ref": problemRef}}},
	}
}

func withRetryAfter(resp obj) obj {
	resp["headers"] = obj{"Retry-After": obj{
		"description": "Seconds to wait before retrying.",
		"schema":      obj{"type": "integer", "minimum": 0},
	}}
	return resp
}

// problemSchema is RFC 9457 with the violations extension the bridge adds for 422.
func problemSchema() obj {
	return obj{
		"type":        "object",
		"description": "RFC 9457 problem details.",
		"required":    []string{"type", "title", "status"},
		"properties": obj{
			"type":     obj{"type": "string", "format": "uri-reference"},
			"title":    obj{"type": "string"},
			"status":   obj{"type": "integer"},
			"detail":   obj{"type": "string"},
			"instance": obj{"type": "string"},
			"results":  obj{"type": "array", "description": "PARTIAL_FAILURE only: each record's outcome, in request order.", "items": recordResultSchema()},
			"violations": obj{
				"type": "array",
				"items": obj{
					"type":     "object",
					"required": []string{"pointer", "detail"},
					"properties": obj{
						"pointer": obj{"type": "string", "description": "RFC 6901 JSON pointer into the request body."},
						"detail":  obj{"type": "string"},
					},
				},
			},
		},
	}
}

func resultSchema() obj {
	return obj{
		"type":     "object",
		"required": []string{"topic", "partition", "offset"},
		"properties": obj{
			"topic":     obj{"type": "string"},
			"partition": obj{"type": "integer", "format": "int32"},
			"offset":    obj{"type": "integer", "format": "int64"},
		},
	}
}

// rebaseRefs rewrites document-local $refs ("#/$defs/x") of a schema inlined at pointer at,
// because inside the OpenAPI document "#" means the OpenAPI document, not the schema.
// Keywords holding instance data are left alone.
func rebaseRefs(v any, at string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			switch k {
			case "const", "enum", "default", "examples":
				continue
			}
			if s, ok := val.(string); ok && k == "$ref" && strings.HasPrefix(s, "#") {
				t[k] = at + strings.TrimPrefix(s, "#")
				continue
			}
			t[k] = rebaseRefs(val, at)
		}
	case []any:
		for i := range t {
			t[i] = rebaseRefs(t[i], at)
		}
	}
	return v
}

// escape encodes s as one JSON pointer token.
func escape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// operationID is the verb followed by the version and route in camel case, e.g.
// publishV2Orders; Build rejects configs where two routes collide.
func operationID(verb, version, route string) string {
	return verb + camel(version, route)
}

// camel joins parts in upper camel case, dropping characters that are not letters or digits.
func camel(parts ...string) string {
	var b strings.Builder
	for _, part := range parts {
		upper := true
		for _, c := range part {
			if !unicode.IsLetter(c) && !unicode.IsDigit(c) {
				upper = true
				continue
			}
			if upper {
				c = unicode.ToUpper(c)
				upper = false
			}
			b.WriteRune(c)
		}
	}
	return b.String()
}

// subscribeOperations are the consume paths of a route, by suffix: an SSE stream and a
// consumer-group poll with its commit.
func subscribeOperations(cfg *bridgeconfig.Config, v bridgeconfig.Version, r bridgeconfig.Route, ref string) map[string]obj {
	errs := func(extra obj) obj {
		out := obj{
			"400": problem("A malformed parameter or Last-Event-ID."),
			"404": problem("No such version or route."),
			"405": problem("The route does not offer subscribe."),
			"429": withRetryAfter(problem("The API key's or the exposure's rate limit is exhausted.")),
			"503": withRetryAfter(problem("Kafka is unavailable or the bridge is at its stream limit.")),
		}
		if cfg.Auth != nil {
			out["401"] = problem("No API key, or not a valid one.")
			out["403"] = problem("The API key is not granted subscribe on this route.")
		}
		for k, val := range extra {
			out[k] = val
		}
		return out
	}
	record := obj{
		"type":     "object",
		"required": []string{"partition", "offset"},
		"properties": obj{
			"partition":   obj{"type": "integer", "format": "int32"},
			"offset":      obj{"type": "integer", "format": "int64"},
			"key":         obj{"type": "string"},
			"headers":     obj{"type": "object", "additionalProperties": obj{"type": "string"}},
			"value":       obj{"$ref": ref},
			"valueBase64": obj{"type": "string", "contentEncoding": "base64", "description": "Set instead of value for records that are not JSON."},
		},
	}
	group := obj{"name": "group", "in": "query", "required": true, "description": "Consumer group name, scoped to this exposure.", "schema": obj{"type": "string", "pattern": "^[a-zA-Z0-9._-]{1,100}$"}}
	mark := func(op obj) obj {
		if v.Deprecated {
			op["deprecated"] = true
		}
		return op
	}
	return map[string]obj{
		"/events": {"get": mark(obj{
			"operationId": operationID("subscribe", v.Name, r.Name),
			"summary":     fmt.Sprintf("Stream records of topic %s as Server-Sent Events", r.Topic),
			"description": "Each event's id is the next offset of every partition (\"0:17,1:4\"); reconnecting with Last-Event-ID resumes exactly there, on any replica. " +
				"Event \"record\" carries a record; event \"error\" names the partition and offset of a record that is too large or not decodable, and the stream goes on.",
			"tags": []string{v.Name},
			"parameters": []obj{
				{"name": "Last-Event-ID", "in": "header", "required": false, "schema": obj{"type": "string", "pattern": "^([0-9]+:[0-9]+)(,[0-9]+:[0-9]+)*$"}},
				{"name": "from", "in": "query", "required": false, "description": "Where to start without Last-Event-ID.", "schema": obj{"type": "string", "enum": []string{"earliest", "latest"}, "default": "latest"}},
			},
			"responses": errs(obj{"200": obj{
				"description": "An event stream; data of \"record\" events follows the record schema below.",
				"content":     obj{"text/event-stream": obj{"schema": obj{"type": "string"}, "x-event-data": record}},
			}}),
		})},
		"/records": {"get": mark(obj{
			"operationId": operationID("poll", v.Name, r.Name),
			"summary":     fmt.Sprintf("Fetch a batch of records of topic %s for a consumer group", r.Topic),
			"description": "Reads from the group's committed offsets without joining it; POST the returned commit to .../commits once processed. One poller per group.",
			"tags":        []string{v.Name},
			"parameters": []obj{group,
				{"name": "max", "in": "query", "required": false, "schema": obj{"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
				{"name": "wait", "in": "query", "required": false, "description": "Longest wait for records, a Go duration (\"2s\").", "schema": obj{"type": "string", "default": "1s"}},
				{"name": "from", "in": "query", "required": false, "description": "Where a group without commits starts.", "schema": obj{"type": "string", "enum": []string{"earliest", "latest"}, "default": "earliest"}},
			},
			"responses": errs(obj{"200": obj{
				"description": "Records, undeliverable records, and the offsets to commit.",
				"content": obj{"application/json": obj{"schema": obj{
					"type":     "object",
					"required": []string{"records", "errors", "commit"},
					"properties": obj{
						"records": obj{"type": "array", "items": record},
						"errors":  obj{"type": "array", "items": obj{"$ref": "#/components/schemas/RecordError"}},
						"commit":  obj{"$ref": "#/components/schemas/Commit"},
					},
				}}},
			}}),
		})},
		"/commits": {"post": mark(obj{
			"operationId": operationID("commit", v.Name, r.Name),
			"summary":     "Commit a consumer group's offsets",
			"tags":        []string{v.Name},
			"parameters":  []obj{group},
			"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/Commit"}}}},
			"responses": errs(obj{
				"204": obj{"description": "Committed in Kafka."},
				"409": problem("The group has members that joined it directly."),
			}),
		})},
	}
}

func recordErrorSchema() obj {
	return obj{
		"type":        "object",
		"description": "A record that could not be delivered, by position.",
		"required":    []string{"partition", "offset", "detail"},
		"properties": obj{
			"partition": obj{"type": "integer", "format": "int32"},
			"offset":    obj{"type": "integer", "format": "int64"},
			"detail":    obj{"type": "string"},
		},
	}
}

func commitSchema() obj {
	return obj{
		"type":                 "object",
		"required":             []string{"offsets"},
		"additionalProperties": false,
		"properties": obj{
			"offsets": obj{
				"type": "array", "minItems": 1,
				"items": obj{
					"type":                 "object",
					"required":             []string{"partition", "offset"},
					"additionalProperties": false,
					"properties": obj{
						"partition": obj{"type": "integer", "minimum": 0},
						"offset":    obj{"type": "integer", "minimum": 0, "description": "The next offset to read."},
					},
				},
			},
		},
	}
}
