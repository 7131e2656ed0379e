package schema

import (
	"errors"
	"strings"
	"testing"
)

const orderSchema = `{
  "type": "object",
  "required": ["id", "qty"],
  "additionalProperties": false,
  "properties": {
    "id":    {"type": "string", "minLength": 3},
    "qty":   {"type": "integer", "minimum": 1},
    "tags":  {"type": "array", "items": {"type": "string"}},
    "a/b~c": {"type": "boolean"}
  }
}`

func TestValidate(t *testing.T) {
	s, err := Compile(orderSchema)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
		want []Violation // messages are matched by substring
	}{
		{name: "valid", doc: `{"id": "abc", "qty": 2, "tags": ["x"]}`},
		{name: "big integer keeps precision", doc: `{"id": "abc", "qty": 123456789012345678901234567890}`},
		{name: "missing required", doc: `{"id": "abc"}`, want: []Violation{{"", "qty"}}},
		{name: "every violation is reported, sorted", doc: `{"id": 1, "qty": 0, "tags": ["ok", 2, false], "x": 1}`, want: []Violation{
			{"", "x"},
			{"/id", "want string"},
			{"/qty", "minimum"},
			{"/tags/1", "want string"},
			{"/tags/2", "want string"},
		}},
		{name: "pointer escapes ~ and /", doc: `{"id": "abc", "qty": 1, "a/b~c": "no"}`, want: []Violation{{"/a~1b~0c", "want boolean"}}},
		{name: "root type", doc: `[1]`, want: []Violation{{"", "want object"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			got := s.Validate(v)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i].Pointer != tt.want[i].Pointer || !strings.Contains(got[i].Message, tt.want[i].Message) {
					t.Errorf("violation %d = %+v, want pointer %q and message containing %q", i, got[i], tt.want[i].Pointer, tt.want[i].Message)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"not JSON", `{"type":`, "not valid JSON"},
		{"bad keyword value", `{"type": "nope"}`, "invalid schema"},
		{"remote ref refused", `{"$ref": "https://example.com/s.json"}`, "not supported"},
		{"file ref refused", `{"$ref": "file:///etc/passwd"}`, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile(%s) error = %v, want containing %q", tt.text, err, tt.want)
			}
		})
	}
}

func TestCompileLocalRef(t *testing.T) {
	s, err := Compile(`{"$defs": {"id": {"type": "string"}}, "properties": {"id": {"$ref": "#/$defs/id"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := Decode([]byte(`{"id": 5}`))
	if got := s.Validate(v); len(got) != 1 || got[0].Pointer != "/id" {
		t.Fatalf("violations = %+v, want one at /id", got)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		offset int64 // -1: valid
	}{
		{"object", `{"a": 1}`, -1},
		{"surrounding whitespace", " \n{\"a\": 1}\n ", -1},
		{"empty", ``, 0},
		{"blank", `   `, 0},
		{"truncated", `{"a": `, 6},
		{"bad token", `{"a": x}`, 7},
		{"trailing value", `{"a": 1} {"b": 2}`, 9},
		{"trailing garbage", `{"a": 1}  ,`, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if tt.offset < 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error = %v, want *SyntaxError", err)
			}
			if se.Offset != tt.offset {
				t.Errorf("offset = %d, want %d (%v)", se.Offset, tt.offset, se)
			}
			if !strings.Contains(se.Error(), "byte offset") {
				t.Errorf("message %q does not name the offset", se.Error())
			}
		})
	}
}
