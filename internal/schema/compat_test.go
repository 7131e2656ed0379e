package schema

import (
	"strings"
	"testing"
)

// obj wraps properties into an object schema with the given extra keywords.
func obj(props string, extra ...string) string {
	s := `{"type": "object", "properties": {` + props + `}`
	for _, e := range extra {
		s += ", " + e
	}
	return s + "}"
}

func TestCheckPairs(t *testing.T) {
	const closed = `"additionalProperties": false`
	tests := []struct {
		name     string
		old, new string
		backward bool // consumers on new read old data
		forward  bool // consumers on old read new data
		// reasons are substrings expected among the reasons of the failing directions.
		reasons []string
	}{
		{name: "identical", old: obj(`"id": {"type": "string"}`), new: obj(`"id": {"type": "string"}`), backward: true, forward: true},
		{name: "whitespace and key order only", old: `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, new: obj(`"b": {"type": "integer"}, "a": {"type": "string"}`), backward: true, forward: true},
		{name: "field became required", old: obj(`"id": {"type": "string"}`), new: obj(`"id": {"type": "string"}`, `"required": ["id"]`), forward: true, reasons: []string{"`/properties/id` became required"}},
		{name: "field no longer required", old: obj(`"id": {"type": "string"}`, `"required": ["id"]`), new: obj(`"id": {"type": "string"}`), backward: true, reasons: []string{"`/properties/id` is no longer required"}},
		{name: "number narrowed to integer", old: obj(`"amount": {"type": "number"}`), new: obj(`"amount": {"type": "integer"}`), forward: true, reasons: []string{"`/properties/amount` narrowed from number to integer"}},
		{name: "integer widened to number", old: obj(`"amount": {"type": "integer"}`), new: obj(`"amount": {"type": "number"}`), backward: true, reasons: []string{"`/properties/amount` widened from integer to number"}},
		{name: "type changed string to integer", old: obj(`"id": {"type": "string"}`), new: obj(`"id": {"type": "integer"}`), reasons: []string{"`/properties/id` changed type from string to integer"}},
		{name: "nullable added", old: obj(`"note": {"type": "string"}`), new: obj(`"note": {"type": ["string", "null"]}`), backward: true, reasons: []string{"widened from string to null or string"}},
		{name: "type constraint added", old: obj(`"v": {}`), new: obj(`"v": {"type": "string"}`), forward: true, reasons: []string{"narrowed from any type to string"}},
		{name: "root type changed", old: `{"type": "object"}`, new: `{"type": "array"}`, reasons: []string{"the root schema changed type from object to array"}},
		{name: "enum value removed", old: obj(`"status": {"enum": ["NEW", "PAID"]}`), new: obj(`"status": {"enum": ["NEW"]}`), forward: true, reasons: []string{"`/properties/status` enum value `PAID` removed"}},
		{name: "enum value added", old: obj(`"status": {"enum": ["NEW"]}`), new: obj(`"status": {"enum": ["NEW", "PAID"]}`), backward: true, reasons: []string{"enum value `PAID` added"}},
		{name: "enum numbers compare by value", old: obj(`"n": {"enum": [1, 2.50]}`), new: obj(`"n": {"enum": [1.0, 2.5]}`), backward: true, forward: true},
		{name: "enum introduced", old: obj(`"c": {"type": "string"}`), new: obj(`"c": {"type": "string", "enum": ["EUR"]}`), forward: true, reasons: []string{"now restricted to 1 value"}},
		{name: "const changed", old: obj(`"kind": {"const": "order"}`), new: obj(`"kind": {"const": "invoice"}`), reasons: []string{"enum value `order` removed", "enum value `invoice` added"}},
		{name: "optional field added to closed model", old: obj(`"id": {"type": "string"}`, closed), new: obj(`"id": {"type": "string"}, "note": {"type": "string"}`, closed), backward: true, reasons: []string{"`/properties/note` added but the old schema at the root schema does not allow additional properties"}},
		{name: "optional field removed from closed model", old: obj(`"id": {"type": "string"}, "note": {"type": "string"}`, closed), new: obj(`"id": {"type": "string"}`, closed), forward: true, reasons: []string{"`/properties/note` removed while the root schema does not allow additional properties"}},
		{name: "optional field added to open model", old: obj(`"id": {"type": "string"}`), new: obj(`"id": {"type": "string"}, "note": {"type": "string"}`), forward: true, reasons: []string{"`/properties/note` added to an open content model"}},
		{name: "optional field removed from open model", old: obj(`"id": {"type": "string"}, "note": {"type": "string"}`), new: obj(`"id": {"type": "string"}`), backward: true, reasons: []string{"`/properties/note` removed from the schema while additional properties are allowed"}},
		{name: "unconstrained field added to open model", old: obj(`"id": {"type": "string"}`), new: obj(`"id": {"type": "string"}, "note": {"description": "free text"}`), backward: true, forward: true},
		{name: "additionalProperties closed", old: obj(`"id": {"type": "string"}`), new: obj(`"id": {"type": "string"}`, closed), forward: true, reasons: []string{"the root schema no longer allows additional properties"}},
		{name: "additionalProperties opened", old: obj(`"id": {"type": "string"}`, closed), new: obj(`"id": {"type": "string"}`), backward: true, reasons: []string{"the root schema now allows additional properties"}},
		{name: "additionalProperties schema narrowed", old: obj(``, `"additionalProperties": {"type": "number"}`), new: obj(``, `"additionalProperties": {"type": "integer"}`), forward: true, reasons: []string{"`/additionalProperties` narrowed from number to integer"}},
		{name: "field added matching additionalProperties schema", old: obj(``, `"additionalProperties": {"type": "string"}`), new: obj(`"x": {"type": "string", "maxLength": 10}`, `"additionalProperties": {"type": "string"}`), forward: true, reasons: []string{"`/properties/x` maxLength changed from none to 10"}},
		{name: "nested field became required", old: obj(`"customer": ` + obj(`"name": {"type": "string"}`)), new: obj(`"customer": ` + obj(`"name": {"type": "string"}`, `"required": ["name"]`)), forward: true, reasons: []string{"`/properties/customer/properties/name` became required"}},
		{name: "nested type narrowed", old: obj(`"customer": ` + obj(`"age": {"type": "number"}`)), new: obj(`"customer": ` + obj(`"age": {"type": "integer"}`)), forward: true, reasons: []string{"`/properties/customer/properties/age` narrowed from number to integer"}},
		{name: "array items narrowed", old: obj(`"tags": {"type": "array", "items": {"type": ["string", "integer"]}}`), new: obj(`"tags": {"type": "array", "items": {"type": "string"}}`), forward: true, reasons: []string{"`/properties/tags/items` narrowed from integer or string to string"}},
		{name: "array items object field required", old: obj(`"lines": {"type": "array", "items": ` + obj(`"sku": {"type": "string"}`) + `}`), new: obj(`"lines": {"type": "array", "items": ` + obj(`"sku": {"type": "string"}`, `"required": ["sku"]`) + `}`), forward: true, reasons: []string{"`/properties/lines/items/properties/sku` became required"}},
		{name: "maxItems added", old: obj(`"tags": {"type": "array"}`), new: obj(`"tags": {"type": "array", "maxItems": 5}`), forward: true, reasons: []string{"`/properties/tags` maxItems changed from none to 5"}},
		{name: "uniqueItems added", old: obj(`"tags": {"type": "array"}`), new: obj(`"tags": {"type": "array", "uniqueItems": true}`), forward: true, reasons: []string{"now requires unique items"}},
		{name: "minimum added", old: obj(`"amount": {"type": "number"}`), new: obj(`"amount": {"type": "number", "minimum": 0}`), forward: true, reasons: []string{"`/properties/amount` lower bound changed from none to >= 0"}},
		{name: "minimum raised", old: obj(`"amount": {"type": "number", "minimum": 0}`), new: obj(`"amount": {"type": "number", "minimum": 1}`), forward: true, reasons: []string{"lower bound changed from >= 0 to >= 1"}},
		{name: "minimum lowered", old: obj(`"amount": {"type": "number", "minimum": 1}`), new: obj(`"amount": {"type": "number", "minimum": 0}`), backward: true, reasons: []string{"lower bound changed from >= 1 to >= 0"}},
		{name: "minimum made exclusive", old: obj(`"amount": {"type": "number", "minimum": 0}`), new: obj(`"amount": {"type": "number", "exclusiveMinimum": 0}`), forward: true, reasons: []string{"lower bound changed from >= 0 to > 0"}},
		{name: "maximum lowered", old: obj(`"qty": {"type": "integer", "maximum": 100}`), new: obj(`"qty": {"type": "integer", "maximum": 10}`), forward: true, reasons: []string{"upper bound changed from <= 100 to <= 10"}},
		{name: "exclusiveMaximum equivalent to maximum for decimals is not assumed", old: obj(`"r": {"type": "number", "exclusiveMaximum": 1}`), new: obj(`"r": {"type": "number", "maximum": 1}`), backward: true, reasons: []string{"upper bound changed from < 1 to <= 1"}},
		{name: "multipleOf tightened", old: obj(`"p": {"type": "number", "multipleOf": 0.01}`), new: obj(`"p": {"type": "number", "multipleOf": 0.05}`), forward: true, reasons: []string{"multipleOf changed from 1/100 to 1/20"}},
		{name: "bounds ignored for non-numbers", old: obj(`"s": {"type": "string"}`), new: obj(`"s": {"type": "string", "minimum": 5}`), backward: true, forward: true},
		{name: "minLength raised", old: obj(`"id": {"type": "string", "minLength": 1}`), new: obj(`"id": {"type": "string", "minLength": 3}`), forward: true, reasons: []string{"`/properties/id` minLength changed from 1 to 3"}},
		{name: "maxLength removed", old: obj(`"id": {"type": "string", "maxLength": 8}`), new: obj(`"id": {"type": "string"}`), backward: true, reasons: []string{"maxLength changed from 8 to none"}},
		{name: "pattern added", old: obj(`"id": {"type": "string"}`), new: obj(`"id": {"type": "string", "pattern": "^o-"}`), forward: true, reasons: []string{"`/properties/id` pattern `^o-` added"}},
		{name: "pattern changed cannot be judged", old: obj(`"id": {"type": "string", "pattern": "^o-"}`), new: obj(`"id": {"type": "string", "pattern": "^o-[0-9]+$"}`), reasons: []string{"cannot judge `/properties/id/pattern`"}},
		{name: "format is an annotation", old: obj(`"at": {"type": "string"}`), new: obj(`"at": {"type": "string", "format": "date-time"}`), backward: true, forward: true},
		{name: "local ref unchanged target", old: `{"$defs": {"money": {"type": "number"}}, "type": "object", "properties": {"amount": {"$ref": "#/$defs/money"}}}`, new: `{"$defs": {"money": {"type": "number"}}, "type": "object", "properties": {"amount": {"$ref": "#/$defs/money"}}}`, backward: true, forward: true},
		{name: "local ref target narrowed", old: `{"$defs": {"money": {"type": "number"}}, "type": "object", "properties": {"amount": {"$ref": "#/$defs/money"}}}`, new: `{"$defs": {"money": {"type": "integer"}}, "type": "object", "properties": {"amount": {"$ref": "#/$defs/money"}}}`, forward: true, reasons: []string{"`/$defs/money` narrowed from number to integer"}},
		{name: "inline schema moved into $defs", old: obj(`"amount": {"type": "number"}`), new: `{"$defs": {"money": {"type": "number"}}, "type": "object", "properties": {"amount": {"$ref": "#/$defs/money"}}}`, backward: true, forward: true},
		{name: "recursive ref", old: `{"$defs": {"node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"}`, new: `{"$defs": {"node": {"type": "object", "required": ["children"], "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"}`, forward: true, reasons: []string{"`/$defs/node/properties/children` became required"}},
		{name: "oneOf changed cannot be judged", old: obj(`"x": {"oneOf": [{"type": "string"}, {"type": "integer"}]}`), new: obj(`"x": {"oneOf": [{"type": "string"}]}`), reasons: []string{"cannot judge `/properties/x/oneOf`"}},
		{name: "unchanged anyOf is judged around", old: obj(`"x": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "y": {"type": "integer"}`), new: obj(`"x": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "y": {"type": "number"}`), backward: true, reasons: []string{"`/properties/y` widened from integer to number"}},
		{name: "allOf added cannot be judged", old: obj(`"x": {"type": "string"}`), new: obj(`"x": {"type": "string", "allOf": [{"minLength": 1}]}`), reasons: []string{"cannot judge `/properties/x/allOf`"}},
		{name: "if-then-else cannot be judged (old readers accept anything there)", old: obj(`"x": {}`), new: obj(`"x": {"if": {"type": "string"}, "then": {"minLength": 1}}`), forward: true, reasons: []string{"cannot judge `/properties/x/if`", "cannot judge `/properties/x/then`"}},
		{name: "patternProperties cannot be judged", old: obj(`"a": {"type": "string"}`, `"patternProperties": {"^x-": {"type": "string"}}`), new: obj(`"a": {"type": "string"}, "b": {"type": "string"}`, `"patternProperties": {"^x-": {"type": "string"}}`), reasons: []string{"cannot judge `/patternProperties`"}},
		{name: "unchanged patternProperties subtree is fine", old: obj(`"m": ` + obj(``, `"patternProperties": {"^x-": {"type": "string"}}`) + `, "n": {"type": "string"}`), new: obj(`"m": ` + obj(``, `"patternProperties": {"^x-": {"type": "string"}}`) + `, "n": {"type": ["string", "null"]}`), backward: true, reasons: []string{"`/properties/n` widened"}},
		{name: "remote ref cannot be judged", old: obj(`"a": {"type": "string"}`), new: obj(`"a": {"$ref": "https://example.com/a.json"}`), reasons: []string{"cannot judge `/properties/a/$ref`: remote reference `https://example.com/a.json`"}},
		{name: "boolean false reader", old: obj(`"a": {"type": "string"}`), new: obj(`"a": false`), forward: true, reasons: []string{"`/properties/a` now refuses every value"}},
		{name: "true schema widened to anything", old: obj(`"a": {"type": "string"}`), new: obj(`"a": true`), backward: true, reasons: []string{"`/properties/a` widened from string to any type"}},
		{name: "forbidden property dropped from closed model", old: obj(`"id": {"type": "string"}, "legacy": false`, closed), new: obj(`"id": {"type": "string"}`, closed), backward: true, forward: true},
		{name: "several reasons at once", old: obj(`"id": {"type": "string"}, "amount": {"type": "number"}, "status": {"enum": ["NEW", "PAID"]}`, closed), new: obj(`"id": {"type": "string"}, "amount": {"type": "integer"}, "status": {"enum": ["NEW"]}`, closed, `"required": ["id"]`), forward: true, reasons: []string{"`/properties/id` became required", "`/properties/amount` narrowed from number to integer", "enum value `PAID` removed"}},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d pairs", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := map[Mode]bool{
				ModeNone: true, ModeBackward: tt.backward, ModeForward: tt.forward, ModeFull: tt.backward && tt.forward,
				ModeBackwardTransitive: tt.backward, ModeForwardTransitive: tt.forward, ModeFullTransitive: tt.backward && tt.forward,
			}
			var all []string
			for _, mode := range Modes {
				res, err := Check(mode, []string{tt.old}, tt.new)
				if err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				if res.Compatible != want[mode] {
					t.Errorf("%s: compatible = %v, want %v; reasons: %s", mode, res.Compatible, want[mode], res.Summary())
				}
				if res.Compatible != (len(res.Reasons) == 0) {
					t.Errorf("%s: compatible = %v with %d reasons", mode, res.Compatible, len(res.Reasons))
				}
				if mode == ModeFull {
					for _, r := range res.Reasons {
						all = append(all, r.Message)
					}
				}
			}
			joined := strings.Join(all, "\n")
			for _, r := range tt.reasons {
				if !strings.Contains(joined, r) {
					t.Errorf("reasons do not mention %q:\n%s", r, joined)
				}
			}
			if tt.backward && tt.forward && joined != "" {
				t.Errorf("unexpected reasons: %s", joined)
			}
		})
	}
}

func TestCheckTransitive(t *testing.T) {
	v1 := obj(`"id": {"type": "string"}, "note": {"type": "string"}`, `"additionalProperties": false`)
	v2 := obj(`"id": {"type": "string"}, "note": {"type": ["string", "null"]}`, `"additionalProperties": false`)
	// v3 narrows note again: readers on v3 cannot read v2 data holding a null or a long note.
	v3 := obj(`"id": {"type": "string"}, "note": {"type": "string", "maxLength": 5}`, `"additionalProperties": false`)
	history := []string{v1, v2}

	res, err := Check(ModeBackward, history, v3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Compatible || len(res.Reasons) != 2 || res.Reasons[0].Version != 2 {
		t.Fatalf("BACKWARD against v2: %+v", res)
	}

	// v3 data is readable by readers on v2 and on v1.
	if res, _ := Check(ModeForwardTransitive, history, v3); !res.Compatible {
		t.Fatalf("FORWARD_TRANSITIVE: %s", res.Summary())
	}

	// A change compatible with the latest version only.
	v4 := obj(`"id": {"type": "string"}, "note": {"type": ["string", "null"]}, "x": {"type": "integer"}`, `"additionalProperties": false`)
	h := []string{v1, v2}
	if res, _ := Check(ModeForward, h, v4); res.Compatible {
		t.Fatalf("FORWARD against v2 should refuse the added property x under a closed model")
	}
	v5 := obj(`"id": {"type": "string"}, "note": {"type": ["string", "null"]}`, `"additionalProperties": false`)
	if res, _ := Check(ModeForward, h, v5); !res.Compatible {
		t.Fatalf("FORWARD v2→v5 (identical): %s", res.Summary())
	}
	res, _ = Check(ModeForwardTransitive, h, v5)
	if res.Compatible {
		t.Fatalf("FORWARD_TRANSITIVE should refuse: v1 readers cannot read null notes")
	}
	if len(res.Reasons) != 1 || res.Reasons[0].Version != 1 || !strings.Contains(res.Reasons[0].String(), "FORWARD against version 1: `/properties/note` widened from string to null or string") {
		t.Fatalf("FORWARD_TRANSITIVE reasons: %s", res.Summary())
	}
}

func TestCheckEdges(t *testing.T) {
	if res, err := Check(ModeFullTransitive, nil, `{"type": "string"}`); err != nil || !res.Compatible {
		t.Fatalf("empty history: %+v %v", res, err)
	}
	if _, err := Check(ModeBackward, []string{`{}`}, `{"type": 1`); err == nil {
		t.Fatal("invalid new schema accepted")
	}
	if _, err := Check(ModeBackward, []string{`{"type": "nope"}`}, `{}`); err == nil {
		t.Fatal("invalid old schema accepted")
	}
	if m, err := ParseMode(""); err != nil || m != ModeBackward {
		t.Fatalf("default mode: %v %v", m, err)
	}
	if _, err := ParseMode("SIDEWAYS"); err == nil {
		t.Fatal("unknown mode accepted")
	}
}
