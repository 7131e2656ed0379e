// Package schema compiles the JSON Schemas (2020-12) attached to topics and validates
// messages against them, reporting every violation with the JSON pointer of its location.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// resourceURL names the compiled document; it never leaves the process.
const resourceURL = "urn:junction:schema"

var printer = message.NewPrinter(language.English)

// Schema is a compiled JSON Schema, safe for concurrent use.
type Schema struct {
	compiled *jsonschema.Schema
}

// Violation is one reason a value does not match a schema.
type Violation struct {
	// Pointer is the RFC 6901 JSON pointer of the offending value; "" is the root.
	Pointer string `json:"pointer"`
	Message string `json:"detail"`
}

// noLoader refuses every external $ref: a schema must be self-contained, and a bridge
// must never read files or the network because a user wrote a URL in a schema.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external $ref %q is not supported: schemas must be self-contained", url)
}

// Compile parses and compiles text. Documents without "$schema" are read as 2020-12.
func Compile(text string) (*Schema, error) {
	return compile(text, noLoader{})
}

// anyLoader reads every external $ref as the schema true, so that a schema using one can still be
// compared (the comparison reports the reference as one it cannot judge).
type anyLoader struct{}

func (anyLoader) Load(string) (any, error) { return true, nil }

func compile(text string, loader jsonschema.URLLoader) (*Schema, error) {
	doc, err := Decode([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(loader)
	if err := c.AddResource(resourceURL, doc); err != nil {
		return nil, err
	}
	compiled, err := c.Compile(resourceURL)
	if err != nil {
		return nil, fmt.Errorf("invalid schema: %w", err)
	}
	return &Schema{compiled: compiled}, nil
}

// Validate returns every violation of s by v, sorted by pointer then message; nil means valid.
// v must be a value produced by Decode (numbers as json.Number).
func (s *Schema) Validate(v any) []Violation {
	err := s.compiled.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Pointer: "", Message: err.Error()}}
	}
	var out []Violation
	collectLeaves(ve, &out)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pointer != out[j].Pointer {
			return out[i].Pointer < out[j].Pointer
		}
		return out[i].Message < out[j].Message
	})
	return dedupe(out)
}

// collectLeaves flattens the error tree: inner nodes only say "some subschema failed",
// the leaves carry the actual reasons.
func collectLeaves(e *jsonschema.ValidationError, out *[]Violation) {
	if len(e.Causes) == 0 {
		*out = append(*out, Violation{
			Pointer: pointer(e.InstanceLocation),
			Message: e.ErrorKind.LocalizedString(printer),
		})
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

// dedupe drops repeats that arise when the same subschema is reached twice (e.g. via $ref).
func dedupe(vs []Violation) []Violation {
	out := vs[:0]
	for i, v := range vs {
		if i > 0 && v == vs[i-1] {
			continue
		}
		out = append(out, v)
	}
	return out
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(t))
	}
	return b.String()
}

// SyntaxError reports malformed JSON and where it was found.
type SyntaxError struct {
	// Offset is the byte offset in the input at which the problem was detected.
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte offset %d: %s", e.Offset, e.Msg)
}

// Decode parses exactly one JSON value from data, keeping numbers as json.Number so that
// no precision is lost before validation. Empty input and trailing data are errors.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, &SyntaxError{Offset: se.Offset, Msg: se.Error()}
		case errors.Is(err, io.EOF) && len(bytes.TrimSpace(data)) == 0:
			return nil, &SyntaxError{Offset: 0, Msg: "empty input, expected a JSON value"}
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return nil, &SyntaxError{Offset: int64(len(data)), Msg: "unexpected end of input"}
		default:
			return nil, &SyntaxError{Offset: dec.InputOffset(), Msg: err.Error()}
		}
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &SyntaxError{Offset: end + int64(leadingSpace(data[end:])), Msg: "unexpected data after the JSON value"}
	}
	return v, nil
}

func leadingSpace(b []byte) int {
	return len(b) - len(bytes.TrimLeft(b, " \t\r\n"))
}
