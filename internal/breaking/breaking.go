// Package breaking decides which changes to Junction objects break their users: incompatible
// schemas, removed versions and routes that were not deprecated with a sunset now past, and
// changes to fields that cannot change. The admission webhook and `junction check` share it.
package breaking

import (
	"fmt"
	"time"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/schema"
)

// Rules name the kinds of breaking change.
const (
	RuleIncompatibleSchema = "IncompatibleSchema"
	RuleInvalidSchema      = "InvalidSchema"
	RuleVersionRemoved     = "VersionRemoved"
	RuleRouteRemoved       = "RouteRemoved"
	RuleImmutableField     = "ImmutableField"
	RulePartitionDecrease  = "PartitionDecrease"
)

// Finding is one breaking change.
type Finding struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Field is the path of the changed field, e.g. spec.schema.jsonSchema or spec.versions[v1].
	Field string `json:"field"`
	Rule  string `json:"rule"`
	// Message says what changed and why it breaks users.
	Message string `json:"message"`
	// Pointer is the JSON pointer into the schema, for schema findings.
	Pointer string `json:"pointer,omitempty"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s", f.Field, f.Message)
}

// Topic returns what breaks when a MessageTopic changes from old to new. history holds the
// accepted schemas, oldest first; empty means old's spec.schema (if any) is the only one.
// The schema is checked only when its text changed, so that other edits never get stuck
// behind a schema the operator already refused.
func Topic(old, new *v1alpha1.MessageTopic, history []string) []Finding {
	var out []Finding
	add := func(field, rule, pointer, msg string) {
		out = append(out, Finding{Kind: "MessageTopic", Namespace: new.Namespace, Name: new.Name,
			Field: field, Rule: rule, Pointer: pointer, Message: msg})
	}
	if o, n := old.KafkaTopicName(), new.KafkaTopicName(); o != n {
		add("spec.topicName", RuleImmutableField, "", fmt.Sprintf("topicName is immutable: %s → %s", o, n))
	}
	if new.Spec.Partitions < old.Spec.Partitions {
		add("spec.partitions", RulePartitionDecrease, "", fmt.Sprintf("partitions cannot decrease: %d → %d", old.Spec.Partitions, new.Spec.Partitions))
	}
	if new.Spec.Schema == nil || old.Spec.Schema != nil && old.Spec.Schema.JSONSchema == new.Spec.Schema.JSONSchema {
		return out
	}
	if len(history) == 0 && old.Spec.Schema != nil {
		history = []string{old.Spec.Schema.JSONSchema}
	}
	mode, err := schema.ParseMode(string(new.Spec.Schema.Compatibility))
	if err != nil {
		add("spec.schema.compatibility", RuleInvalidSchema, "", err.Error())
		return out
	}
	res, err := schema.Check(mode, history, new.Spec.Schema.JSONSchema)
	if err != nil {
		add("spec.schema.jsonSchema", RuleInvalidSchema, "", err.Error())
		return out
	}
	for _, r := range res.Reasons {
		msg := fmt.Sprintf("not %s compatible with version %d: %s", r.Direction, r.Version, r.Message)
		if string(mode) != string(r.Direction) {
			msg += fmt.Sprintf(" (mode %s)", mode)
		}
		add("spec.schema.jsonSchema", RuleIncompatibleSchema, r.Pointer, msg)
	}
	return out
}

// retired says whether a version was deprecated with a sunset that has passed at now.
func retired(v v1alpha1.ApiVersion, now time.Time) bool {
	return v.Deprecated && v.Sunset != nil && !now.Before(v.Sunset.Time)
}

func retiredHint(v v1alpha1.ApiVersion, now time.Time) string {
	switch {
	case !v.Deprecated:
		return fmt.Sprintf("version %s is not deprecated: mark it deprecated with a sunset date first", v.Name)
	case v.Sunset == nil:
		return fmt.Sprintf("version %s is deprecated but has no sunset date", v.Name)
	default:
		return fmt.Sprintf("version %s is deprecated with sunset %s, which has not passed yet (now %s)",
			v.Name, v.Sunset.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
}

// Exposure returns what breaks when an ApiExposure changes from old to new at now: a version or
// route removed before its version was deprecated with a sunset now past. Routes carry no
// deprecation of their own; they retire with their version.
func Exposure(old, new *v1alpha1.ApiExposure, now time.Time) []Finding {
	var out []Finding
	add := func(field, rule, msg string) {
		out = append(out, Finding{Kind: "ApiExposure", Namespace: new.Namespace, Name: new.Name, Field: field, Rule: rule, Message: msg})
	}
	kept := map[string]v1alpha1.ApiVersion{}
	for _, v := range new.Spec.Versions {
		kept[v.Name] = v
	}
	for _, ov := range old.Spec.Versions {
		nv, ok := kept[ov.Name]
		if !ok {
			if !retired(ov, now) {
				add(fmt.Sprintf("spec.versions[%s]", ov.Name), RuleVersionRemoved, fmt.Sprintf("version %s removed: %s", ov.Name, retiredHint(ov, now)))
			}
			continue
		}
		routes := map[string]bool{}
		for _, r := range nv.Routes {
			routes[r.Name] = true
		}
		for _, r := range ov.Routes {
			if routes[r.Name] || retired(ov, now) {
				continue
			}
			add(fmt.Sprintf("spec.versions[%s].routes[%s]", ov.Name, r.Name), RuleRouteRemoved,
				fmt.Sprintf("route %s/%s removed: %s (add the change as a new version instead)", ov.Name, r.Name, retiredHint(ov, now)))
		}
	}
	return out
}
