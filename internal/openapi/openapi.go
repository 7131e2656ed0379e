// Package openapi renders the OpenAPI 3.1 document of a bridge from its config, so the
// document a client reads is derived from the same routes and schemas the bridge enforces.
package openapi

import (
	"encoding/json"
	"fmt"
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

// Build returns the OpenAPI 3.1 document (indented JSON) for every publish route in cfg.
func Build(cfg *bridgeconfig.Config) ([]byte, error) {
	paths := obj{}
	opIDs := map[string]string{}
	var served []string
	for _, v := range cfg.Versions {
		served = append(served, v.Name)
		for _, r := range v.Routes {
			if !r.Allows(bridgeconfig.OperationPublish) {
				continue
			}
			path := "/" + v.Name + "/" + r.Name
			if _, dup := paths[path]; dup {
				return nil, fmt.Errorf("openapi: path %s is defined twice", path)
			}
			op, err := publishOperation(v, r, path)
			if err != nil {
				return nil, err
			}
			id := op["operationId"].(string)
			if other, dup := opIDs[id]; dup {
				return nil, fmt.Errorf("openapi: paths %s and %s both map to operationId %q", other, path, id)
			}
			opIDs[id] = path
			paths[path] = obj{"post": op}
		}
	}
	title := cfg.Name
	if title == "" {
		title = "junction bridge"
	}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       title,
			"version":     strings.Join(served, ", "),
			"description": fmt.Sprintf("Publish records to Kafka topics through the %s/%s bridge.", cfg.Namespace, cfg.Name),
		},
		"paths": paths,
		"components": obj{
			"schemas": obj{
				"ProblemDetails": problemSchema(),
				"PublishResult":  resultSchema(),
			},
		},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func publishOperation(v bridgeconfig.Version, r bridgeconfig.Route, path string) (obj, error) {
	limit := r.MessageLimit()
	content := obj{}
	if r.Schema == "" {
		content["application/octet-stream"] = obj{"schema": obj{"type": "string", "contentMediaType": "application/octet-stream"}}
	} else {
		var s any
		if err := json.Unmarshal([]byte(r.Schema), &s); err != nil {
			return nil, fmt.Errorf("openapi: schema of route %s: %w", path, err)
		}
		at := "#/paths/" + escape(path) + "/post/requestBody/content/application~1json/schema"
		content["application/json"] = obj{"schema": rebaseRefs(s, at)}
	}
	op := obj{
		"operationId": operationID(v.Name, r.Name),
		"summary":     fmt.Sprintf("Publish one record to topic %s", r.Topic),
		"description": fmt.Sprintf("Answers 200 only after Kafka acknowledged the record. Bodies over %d bytes are refused.", limit),
		"tags":        []string{v.Name},
		"parameters": []obj{
			{"name": "key", "in": "query", "required": false, "description": "Kafka record key; Kafka-Key header is an alternative.", "schema": obj{"type": "string"}},
			{"name": "Kafka-Key", "in": "header", "required": false, "description": "Kafka record key.", "schema": obj{"type": "string"}},
		},
		"requestBody": obj{"required": true, "content": content},
		"responses": obj{
			"200": obj{
				"description": "Kafka acknowledged the record.",
				"content":     obj{"application/json": obj{"schema": obj{"$ref": resultRef}}},
			},
			"400": problem("The body is not well-formed JSON."),
			"413": problem(fmt.Sprintf("The body is larger than %d bytes.", limit)),
			"415": problem("The Content-Type is not accepted by this route."),
			"422": problem("The body does not match the route's schema; violations lists every problem."),
			"503": withRetryAfter(problem("Kafka is unavailable; retry after the given delay.")),
		},
	}
	if v.Deprecated {
		op["deprecated"] = true
		if v.Sunset != nil {
			op["x-sunset"] = v.Sunset.UTC().Format(time.RFC3339)
		}
	}
	return op, nil
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
			"type":   obj{"type": "string", "format": "uri-reference"},
			"title":  obj{"type": "string"},
			"status": obj{"type": "integer"},
			"detail": obj{"type": "string"},
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

// operationID is "publish" followed by the version and route in camel case, e.g.
// publishV2Orders; Build rejects configs where two routes collide.
func operationID(version, route string) string {
	var b strings.Builder
	b.WriteString("publish")
	for _, part := range []string{version, route} {
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
