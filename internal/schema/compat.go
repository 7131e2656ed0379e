package schema

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"
)

// Mode is a compatibility mode with the meaning schema registries give it.
type Mode string

const (
	// ModeNone accepts every change.
	ModeNone Mode = "NONE"
	// ModeBackward: consumers using the new schema can read data written with the previous one.
	ModeBackward Mode = "BACKWARD"
	// ModeForward: consumers using the previous schema can read data written with the new one.
	ModeForward Mode = "FORWARD"
	// ModeFull is BACKWARD and FORWARD.
	ModeFull Mode = "FULL"
	// ModeBackwardTransitive is BACKWARD against every previous version.
	ModeBackwardTransitive Mode = "BACKWARD_TRANSITIVE"
	// ModeForwardTransitive is FORWARD against every previous version.
	ModeForwardTransitive Mode = "FORWARD_TRANSITIVE"
	// ModeFullTransitive is FULL against every previous version.
	ModeFullTransitive Mode = "FULL_TRANSITIVE"
)

// Modes lists every mode.
var Modes = []Mode{ModeNone, ModeBackward, ModeForward, ModeFull, ModeBackwardTransitive, ModeForwardTransitive, ModeFullTransitive}

// ParseMode returns the mode named s; "" is BACKWARD, the default.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return ModeBackward, nil
	}
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown compatibility mode %q", s)
}

func (m Mode) backward() bool {
	return m == ModeBackward || m == ModeFull || m == ModeBackwardTransitive || m == ModeFullTransitive
}

func (m Mode) forward() bool {
	return m == ModeForward || m == ModeFull || m == ModeForwardTransitive || m == ModeFullTransitive
}

func (m Mode) transitive() bool {
	return strings.HasSuffix(string(m), "_TRANSITIVE")
}

// Direction says which readers a change breaks.
type Direction string

const (
	// Backward: readers using the new schema cannot read data written with the old one.
	Backward Direction = "BACKWARD"
	// Forward: readers using the old schema cannot read data written with the new one.
	Forward Direction = "FORWARD"
)

// Reason is one way a new schema breaks its readers, or one construct the checker cannot judge.
type Reason struct {
	// Direction is the kind of reader that breaks.
	Direction Direction `json:"direction"`
	// Version is the 1-based version of the previous schema compared against.
	Version int `json:"version"`
	// Pointer is the RFC 6901 pointer into the new schema (or the old one, for what was removed).
	Pointer string `json:"pointer"`
	// Message says what changed, naming the pointer.
	Message string `json:"message"`
	// Unjudged marks a construct the checker cannot decide; it counts as incompatible.
	Unjudged bool `json:"unjudged,omitempty"`
}

func (r Reason) String() string {
	return fmt.Sprintf("%s against version %d: %s", r.Direction, r.Version, r.Message)
}

// Result is the verdict of Check.
type Result struct {
	Mode       Mode     `json:"mode"`
	Compatible bool     `json:"compatible"`
	Reasons    []Reason `json:"reasons,omitempty"`
}

// Summary is the reasons joined by "; ", for a condition message or an admission denial.
func (r Result) Summary() string {
	parts := make([]string, len(r.Reasons))
	for i, x := range r.Reasons {
		parts[i] = x.String()
	}
	return strings.Join(parts, "; ")
}

// Check judges next against history (oldest first) under mode: the latest version only, or every
// version for the _TRANSITIVE modes. An empty history or mode NONE is always compatible.
// Constructs the checker cannot judge make the result incompatible, each with its reason.
func Check(mode Mode, history []string, next string) (Result, error) {
	res := Result{Mode: mode, Compatible: true}
	nextDoc, err := parseSchema(next)
	if err != nil {
		return res, fmt.Errorf("new schema: %w", err)
	}
	if mode == ModeNone || len(history) == 0 {
		return res, nil
	}
	first := len(history) - 1
	if mode.transitive() {
		first = 0
	}
	seen := map[string]bool{}
	for i := first; i < len(history); i++ {
		oldDoc, err := parseSchema(history[i])
		if err != nil {
			return res, fmt.Errorf("schema version %d: %w", i+1, err)
		}
		var reasons []Reason
		if mode.backward() {
			reasons = append(reasons, compare(oldDoc, nextDoc, Backward)...)
		}
		if mode.forward() {
			reasons = append(reasons, compare(oldDoc, nextDoc, Forward)...)
		}
		for _, r := range reasons {
			key := string(r.Direction) + "\x00" + r.Message
			if seen[key] {
				continue // the same change reported against an earlier version
			}
			seen[key] = true
			r.Version = i + 1
			res.Reasons = append(res.Reasons, r)
		}
	}
	res.Compatible = len(res.Reasons) == 0
	return res, nil
}

func parseSchema(text string) (any, error) {
	if _, err := compile(text, anyLoader{}); err != nil {
		return nil, err
	}
	return Decode([]byte(text))
}

// compare returns what breaks the readers named by dir when old becomes new. Every check asks
// one question: is each value the writer's schema accepts also accepted by the reader's?
func compare(oldDoc, newDoc any, dir Direction) []Reason {
	c := &comparer{dir: dir, seen: map[string]bool{}}
	if dir == Backward {
		c.wRoot, c.rRoot, c.readerIsNew = oldDoc, newDoc, true
	} else {
		c.wRoot, c.rRoot, c.readerIsNew = newDoc, oldDoc, false
	}
	c.cmp(c.wRoot, "", c.rRoot, "")
	sort.SliceStable(c.out, func(i, j int) bool { return c.out[i].Pointer < c.out[j].Pointer })
	return c.out
}

type comparer struct {
	wRoot, rRoot any
	readerIsNew  bool
	dir          Direction
	seen         map[string]bool
	out          []Reason
}

// newPath picks the pointer in the new schema out of a writer/reader pair.
func (c *comparer) newPath(wp, rp string) string {
	if c.readerIsNew {
		return rp
	}
	return wp
}

// oldNew orders a writer/reader pair as old, new.
func oldNew[T any](c *comparer, w, r T) (T, T) {
	if c.readerIsNew {
		return w, r
	}
	return r, w
}

func (c *comparer) add(ptr, format string, args ...any) {
	c.out = append(c.out, Reason{Direction: c.dir, Pointer: ptr, Message: fmt.Sprintf(format, args...)})
}

func (c *comparer) unjudged(ptr, why string) {
	msg := fmt.Sprintf("cannot judge %s", code(ptr))
	if why != "" {
		msg += ": " + why
	}
	c.out = append(c.out, Reason{Direction: c.dir, Pointer: ptr, Message: msg, Unjudged: true})
}

func code(ptr string) string {
	if ptr == "" {
		return "the root schema"
	}
	return "`" + ptr + "`"
}

func child(ptr string, tokens ...string) string {
	for _, t := range tokens {
		ptr += "/" + pointerEscaper.Replace(t)
	}
	return ptr
}

// annotations are keywords that never reject a value (format is not asserted by Validate).
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "$anchor": true, "$defs": true, "definitions": true,
	"title": true, "description": true, "default": true, "examples": true, "deprecated": true,
	"readOnly": true, "writeOnly": true, "format": true, "contentEncoding": true,
	"contentMediaType": true, "contentSchema": true, "$vocabulary": true,
}

// conjuncts add a constraint the checker cannot compare; unchanged on both sides they constrain
// writer and reader alike, so the rest of the comparison still holds.
var conjuncts = []string{"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentRequired",
	"dependentSchemas", "propertyNames", "contains", "minContains", "maxContains", "prefixItems", "dependencies"}

// opaque keywords change the meaning of their neighbours; only a wholly unchanged schema is judged.
var opaque = []string{"patternProperties", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef"}

func asMap(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		return t, true
	case bool:
		if t {
			return map[string]any{}, true
		}
		return nil, false
	case nil:
		return map[string]any{}, true
	}
	return nil, false
}

// trivial says whether a schema accepts every value.
func trivial(v any) bool {
	m, ok := asMap(v)
	if !ok {
		return false
	}
	for k := range m {
		if !annotations[k] {
			return false
		}
	}
	return true
}

func hasRef(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if k == "$ref" || k == "$dynamicRef" || hasRef(x) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if hasRef(x) {
				return true
			}
		}
	}
	return false
}

func sameNoRef(a, b any) bool {
	return reflect.DeepEqual(a, b) && !hasRef(a)
}

// resolve follows local $refs; ok is false when the reference cannot be followed.
func (c *comparer) resolve(root, node any, path string) (any, string, string, bool) {
	for hops := 0; hops < 32; hops++ {
		m, isMap := node.(map[string]any)
		if !isMap {
			return node, path, "", true
		}
		ref, has := m["$ref"].(string)
		if !has {
			return node, path, "", true
		}
		for k := range m {
			if k != "$ref" && !annotations[k] {
				return nil, path, fmt.Sprintf("`$ref` beside other keywords (%s)", k), false
			}
		}
		if !strings.HasPrefix(ref, "#") {
			return nil, path, fmt.Sprintf("remote reference %s", "`"+ref+"`"), false
		}
		target, ok := lookup(root, strings.TrimPrefix(ref, "#"))
		if !ok {
			return nil, path, fmt.Sprintf("reference %s does not resolve", "`"+ref+"`"), false
		}
		node, path = target, strings.TrimPrefix(ref, "#")
	}
	return nil, path, "reference cycle", false
}

var pointerUnescaper = strings.NewReplacer("~1", "/", "~0", "~")

func lookup(root any, ptr string) (any, bool) {
	if ptr == "" {
		return root, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false // anchors are not supported
	}
	cur := root
	for _, tok := range strings.Split(ptr[1:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[pointerUnescaper.Replace(tok)]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// cmp reports every way a value accepted by w (the writer's schema) can be refused by r.
func (c *comparer) cmp(w any, wp string, r any, rp string) {
	var why string
	var ok bool
	if w, wp, why, ok = c.resolve(c.wRoot, w, wp); !ok {
		c.unjudged(c.newPath(child(wp, "$ref"), rp), why)
		return
	}
	if r, rp, why, ok = c.resolve(c.rRoot, r, rp); !ok {
		c.unjudged(c.newPath(wp, child(rp, "$ref")), why)
		return
	}
	key := wp + "\x00" + rp
	if c.seen[key] {
		return // already compared (or being compared, for recursive schemas)
	}
	c.seen[key] = true
	ptr := c.newPath(wp, rp)

	wm, ok := asMap(w)
	if !ok {
		return // the writer accepts nothing
	}
	rm, ok := asMap(r)
	if !ok {
		if c.readerIsNew {
			c.add(ptr, "%s now refuses every value (false)", code(ptr))
		} else {
			c.add(ptr, "%s accepted nothing before and now accepts values", code(ptr))
		}
		return
	}
	if trivial(rm) || sameNoRef(wm, rm) {
		return
	}

	judgeable := true
	for _, k := range opaque {
		if _, in := wm[k]; in {
			c.unjudged(c.newPath(child(wp, k), child(rp, k)), "")
			judgeable = false
		} else if _, in := rm[k]; in {
			c.unjudged(c.newPath(child(wp, k), child(rp, k)), "")
			judgeable = false
		}
	}
	for _, k := range conjuncts {
		wv, win := wm[k]
		rv, rin := rm[k]
		if !win && !rin || win && rin && sameNoRef(wv, rv) {
			continue
		}
		c.unjudged(c.newPath(child(wp, k), child(rp, k)), "")
		judgeable = false
	}
	if !judgeable {
		return
	}

	wt := typeSet(wm)
	c.compareTypes(ptr, wt, typeSet(rm))
	c.compareEnums(ptr, wm, rm)
	if allows(wt, "number") || allows(wt, "integer") {
		c.compareNumbers(ptr, wm, rm)
	}
	if allows(wt, "string") {
		c.compareStrings(ptr, wm, rm)
	}
	if allows(wt, "array") {
		c.compareArrays(wm, wp, rm, rp)
	}
	if allows(wt, "object") {
		c.compareObjects(wm, wp, rm, rp)
	}
}

var allTypes = []string{"array", "boolean", "integer", "null", "number", "object", "string"}

// typeSet returns the JSON types a schema admits, from type or else from enum/const; nil is all.
func typeSet(m map[string]any) []string {
	switch t := m["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		sort.Strings(out)
		return out
	}
	if vals, ok := enumValues(m); ok {
		set := map[string]bool{}
		for _, v := range vals {
			set[jsonType(v)] = true
		}
		var out []string
		for t := range set {
			out = append(out, t)
		}
		sort.Strings(out)
		return out
	}
	return nil
}

func jsonType(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if r, ok := new(big.Rat).SetString(t.String()); ok && r.IsInt() {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// allows says whether a type set admits t (integer is a number).
func allows(set []string, t string) bool {
	if set == nil {
		return true
	}
	for _, s := range set {
		if s == t || s == "number" && t == "integer" {
			return true
		}
	}
	return false
}

func describeTypes(set []string) string {
	if set == nil {
		return "any type"
	}
	return strings.Join(set, " or ")
}

func (c *comparer) compareTypes(ptr string, wt, rt []string) {
	if rt == nil {
		return
	}
	var refused []string
	for _, t := range allTypesOr(wt) {
		if !allows(rt, t) {
			refused = append(refused, t)
		}
	}
	if len(refused) == 0 {
		return
	}
	oldT, newT := oldNew(c, wt, rt)
	verb := "changed type from"
	switch {
	case subsetTypes(newT, oldT):
		verb = "narrowed from"
	case subsetTypes(oldT, newT):
		verb = "widened from"
	}
	c.add(ptr, "%s %s %s to %s", code(ptr), verb, describeTypes(oldT), describeTypes(newT))
}

func allTypesOr(set []string) []string {
	if set == nil {
		return allTypes
	}
	return set
}

func subsetTypes(a, b []string) bool {
	for _, t := range allTypesOr(a) {
		if !allows(b, t) {
			return false
		}
	}
	return true
}

func enumValues(m map[string]any) ([]any, bool) {
	if v, ok := m["const"]; ok {
		return []any{v}, true
	}
	if v, ok := m["enum"].([]any); ok {
		return v, true
	}
	return nil, false
}

// canonical renders a JSON value so that equal values (1 and 1.0) render alike.
func canonical(v any) string {
	switch t := v.(type) {
	case json.Number:
		if r, ok := new(big.Rat).SetString(t.String()); ok {
			return r.RatString()
		}
		return t.String()
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", k, canonical(t[k]))
		}
		b.WriteByte('}')
		return b.String()
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = canonical(x)
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		out, _ := json.Marshal(t)
		return string(out)
	}
}

func display(v any) string {
	if s, ok := v.(string); ok {
		return "`" + s + "`"
	}
	return "`" + canonical(v) + "`"
}

func (c *comparer) compareEnums(ptr string, wm, rm map[string]any) {
	rv, rok := enumValues(rm)
	if !rok {
		return
	}
	wv, wok := enumValues(wm)
	if !wok {
		if c.readerIsNew {
			c.add(ptr, "%s is now restricted to %d value(s)", code(ptr), len(rv))
		} else {
			c.add(ptr, "%s is no longer restricted to %d value(s)", code(ptr), len(rv))
		}
		return
	}
	allowed := map[string]bool{}
	for _, v := range rv {
		allowed[canonical(v)] = true
	}
	for _, v := range wv {
		if allowed[canonical(v)] {
			continue
		}
		if c.readerIsNew {
			c.add(ptr, "%s enum value %s removed", code(ptr), display(v))
		} else {
			c.add(ptr, "%s enum value %s added", code(ptr), display(v))
		}
	}
}

// bound is one side of a numeric range; nil value means unbounded.
type bound struct {
	v    *big.Rat
	excl bool
}

func number(v any) *big.Rat {
	n, ok := v.(json.Number)
	if !ok {
		return nil
	}
	r, ok := new(big.Rat).SetString(n.String())
	if !ok {
		return nil
	}
	return r
}

// lowerBound combines minimum and exclusiveMinimum (or the maxima when upper) into the tighter one.
func lowerBound(m map[string]any, upper bool) bound {
	incl, excl := "minimum", "exclusiveMinimum"
	if upper {
		incl, excl = "maximum", "exclusiveMaximum"
	}
	var b bound
	if v := number(m[incl]); v != nil {
		b = bound{v: v}
	}
	if v := number(m[excl]); v != nil {
		cmp := 0
		if b.v != nil {
			cmp = v.Cmp(b.v)
			if upper {
				cmp = -cmp
			}
		}
		if b.v == nil || cmp >= 0 {
			b = bound{v: v, excl: true}
		}
	}
	return b
}

func (b bound) String(upper bool) string {
	if b.v == nil {
		return "none"
	}
	op := ">="
	switch {
	case upper && b.excl:
		op = "<"
	case upper:
		op = "<="
	case b.excl:
		op = ">"
	}
	return op + " " + b.v.RatString()
}

// looser says whether writer bound w admits something reader bound r refuses.
func looser(w, r bound, upper bool) bool {
	if r.v == nil {
		return false
	}
	if w.v == nil {
		return true
	}
	cmp := w.v.Cmp(r.v)
	if upper {
		cmp = -cmp
	}
	// For a lower bound, the writer is looser when its bound is below the reader's.
	return cmp < 0 || cmp == 0 && r.excl && !w.excl
}

func (c *comparer) compareBound(ptr, name string, w, r bound, upper bool) {
	if !looser(w, r, upper) {
		return
	}
	o, n := oldNew(c, w, r)
	c.add(ptr, "%s %s changed from %s to %s", code(ptr), name, o.String(upper), n.String(upper))
}

func (c *comparer) compareNumbers(ptr string, wm, rm map[string]any) {
	c.compareBound(ptr, "lower bound", lowerBound(wm, false), lowerBound(rm, false), false)
	c.compareBound(ptr, "upper bound", lowerBound(wm, true), lowerBound(rm, true), true)
	rmul := number(rm["multipleOf"])
	if rmul == nil || rmul.Sign() == 0 {
		return
	}
	wmul := number(wm["multipleOf"])
	if wmul != nil && new(big.Rat).Quo(wmul, rmul).IsInt() {
		return
	}
	o, n := oldNew(c, wm["multipleOf"], rm["multipleOf"])
	c.add(ptr, "%s multipleOf changed from %s to %s", code(ptr), orNone(o), orNone(n))
}

func orNone(v any) string {
	if v == nil {
		return "none"
	}
	return canonical(v)
}

// countBound is an integer keyword such as minLength; ok is false when absent.
func countBound(m map[string]any, k string) (*big.Rat, bool) {
	v := number(m[k])
	return v, v != nil
}

// compareCounts checks a minX/maxX pair of non-negative integer keywords.
func (c *comparer) compareCounts(ptr, minK, maxK string, wm, rm map[string]any) {
	for _, k := range []string{minK, maxK} {
		upper := k == maxK
		rv, rok := countBound(rm, k)
		if !rok || !upper && rv.Sign() == 0 {
			continue
		}
		wv, wok := countBound(wm, k)
		tighter := !wok
		if wok {
			cmp := wv.Cmp(rv)
			tighter = !upper && cmp < 0 || upper && cmp > 0
		}
		if !tighter {
			continue
		}
		o, n := oldNew(c, wm[k], rm[k])
		c.add(ptr, "%s %s changed from %s to %s", code(ptr), k, orNone(o), orNone(n))
	}
}

func (c *comparer) compareStrings(ptr string, wm, rm map[string]any) {
	c.compareCounts(ptr, "minLength", "maxLength", wm, rm)
	rp, rok := rm["pattern"].(string)
	if !rok {
		return
	}
	wpat, wok := wm["pattern"].(string)
	switch {
	case !wok && c.readerIsNew:
		c.add(ptr, "%s pattern %s added", code(ptr), "`"+rp+"`")
	case !wok:
		c.add(ptr, "%s pattern %s removed", code(ptr), "`"+rp+"`")
	case wpat != rp:
		o, n := oldNew(c, wpat, rp)
		c.unjudged(child(ptr, "pattern"), fmt.Sprintf("pattern changed from `%s` to `%s`; whether one language contains the other is not checked", o, n))
	}
}

func (c *comparer) compareArrays(wm map[string]any, wp string, rm map[string]any, rp string) {
	ptr := c.newPath(wp, rp)
	c.compareCounts(ptr, "minItems", "maxItems", wm, rm)
	if ru, _ := rm["uniqueItems"].(bool); ru {
		if wu, _ := wm["uniqueItems"].(bool); !wu {
			if c.readerIsNew {
				c.add(ptr, "%s now requires unique items", code(ptr))
			} else {
				c.add(ptr, "%s no longer requires unique items", code(ptr))
			}
		}
	}
	wi, win := wm["items"]
	ri, rin := rm["items"]
	if _, tuple := wi.([]any); tuple {
		c.unjudged(c.newPath(child(wp, "items"), child(rp, "items")), "tuple `items` arrays")
		return
	}
	if _, tuple := ri.([]any); tuple {
		c.unjudged(c.newPath(child(wp, "items"), child(rp, "items")), "tuple `items` arrays")
		return
	}
	if !rin {
		return
	}
	if !win {
		wi = true
	}
	c.cmp(wi, child(wp, "items"), ri, child(rp, "items"))
}

func stringSet(v any) map[string]bool {
	out := map[string]bool{}
	if list, ok := v.([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				out[s] = true
			}
		}
	}
	return out
}

func (c *comparer) compareObjects(wm map[string]any, wp string, rm map[string]any, rp string) {
	ptr := c.newPath(wp, rp)
	c.compareCounts(ptr, "minProperties", "maxProperties", wm, rm)

	wreq, rreq := stringSet(wm["required"]), stringSet(rm["required"])
	for _, name := range sortedKeys(rreq) {
		if wreq[name] {
			continue
		}
		if c.readerIsNew {
			c.add(child(ptr, "properties", name), "%s became required", code(child(ptr, "properties", name)))
		} else {
			c.add(child(ptr, "properties", name), "%s is no longer required", code(child(ptr, "properties", name)))
		}
	}

	wprops, _ := wm["properties"].(map[string]any)
	rprops, _ := rm["properties"].(map[string]any)
	wap, wHasAP := wm["additionalProperties"]
	rap, rHasAP := rm["additionalProperties"]
	if !wHasAP {
		wap = true
	}
	if !rHasAP {
		rap = true
	}
	closed := func(v any) bool { b, ok := v.(bool); return ok && !b }

	names := map[string]bool{}
	for k := range wprops {
		names[k] = true
	}
	for k := range rprops {
		names[k] = true
	}
	for _, name := range sortedKeys(names) {
		wprop, inW := wprops[name]
		rprop, inR := rprops[name]
		wpp, rpp := child(wp, "properties", name), child(rp, "properties", name)
		p := c.newPath(wpp, rpp)
		switch {
		case inW && inR:
			c.cmp(wprop, wpp, rprop, rpp)
		case inW && closed(wprop):
			// the writer never produces this property
		case inW && closed(rap):
			if c.readerIsNew {
				c.add(p, "%s removed while %s does not allow additional properties", code(p), code(ptr))
			} else {
				c.add(p, "%s added but the old schema at %s does not allow additional properties", code(p), code(ptr))
			}
		case inW:
			c.cmp(wprop, wpp, rap, child(rp, "additionalProperties"))
		case closed(wap):
			// the writer never produces this property
		case wHasAP && !trivial(wap):
			c.cmp(wap, child(wp, "additionalProperties"), rprop, rpp)
		case trivial(rprop):
		default:
			if c.readerIsNew {
				c.add(p, "%s added to an open content model: data written with the old schema may hold any value there (set additionalProperties to false in the old schema to allow this)", code(p))
			} else {
				c.add(p, "%s removed from the schema while additional properties are allowed: the new schema accepts any value there", code(p))
			}
		}
	}

	switch {
	case closed(rap) && !closed(wap):
		if c.readerIsNew {
			c.add(child(ptr, "additionalProperties"), "%s no longer allows additional properties", code(ptr))
		} else {
			c.add(child(ptr, "additionalProperties"), "%s now allows additional properties", code(ptr))
		}
	case closed(wap) || trivial(rap):
	default:
		c.cmp(wap, child(wp, "additionalProperties"), rap, child(rp, "additionalProperties"))
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
