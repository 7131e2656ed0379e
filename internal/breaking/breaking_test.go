package breaking

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/junction-dev/junction/api/v1alpha1"
)

func topic(name, topicName string, partitions int32, schemaText string, mode v1alpha1.CompatibilityMode) *v1alpha1.MessageTopic {
	t := &v1alpha1.MessageTopic{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: v1alpha1.MessageTopicSpec{TopicName: topicName, Partitions: partitions, ReplicationFactor: 1}}
	if schemaText != "" {
		t.Spec.Schema = &v1alpha1.TopicSchema{JSONSchema: schemaText, Compatibility: mode}
	}
	return t
}

const (
	v1Schema = `{"type":"object","properties":{"id":{"type":"string"},"amount":{"type":"number"}}}`
	v2Schema = `{"type":"object","required":["id"],"properties":{"id":{"type":"string"},"amount":{"type":"integer"}}}`
)

func rules(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule+" "+f.Field+" "+f.Message)
	}
	return out
}

func TestTopic(t *testing.T) {
	tests := []struct {
		name     string
		old, new *v1alpha1.MessageTopic
		history  []string
		want     []string // substrings, one per finding, in order
	}{
		{name: "unchanged", old: topic("o", "", 3, v1Schema, ""), new: topic("o", "", 3, v1Schema, "")},
		{name: "partitions grow", old: topic("o", "", 3, "", ""), new: topic("o", "", 6, "", "")},
		{name: "partitions shrink", old: topic("o", "", 6, "", ""), new: topic("o", "", 3, "", ""), want: []string{"PartitionDecrease spec.partitions partitions cannot decrease: 6 → 3"}},
		{name: "topic name changed", old: topic("o", "shop.orders", 3, "", ""), new: topic("o", "shop.orders2", 3, "", ""), want: []string{"ImmutableField spec.topicName topicName is immutable: shop.orders → shop.orders2"}},
		{name: "topic name made explicit with the same value", old: topic("o", "", 3, "", ""), new: topic("o", "o", 3, "", "")},
		{name: "schema narrowed under BACKWARD", old: topic("o", "", 3, v1Schema, ""), new: topic("o", "", 3, v2Schema, ""), want: []string{
			"IncompatibleSchema spec.schema.jsonSchema not BACKWARD compatible with version 1: `/properties/amount` narrowed from number to integer",
			"`/properties/id` became required",
		}},
		{name: "schema narrowed under FORWARD is fine", old: topic("o", "", 3, v1Schema, "FORWARD"), new: topic("o", "", 3, v2Schema, "FORWARD")},
		{name: "schema narrowed under NONE", old: topic("o", "", 3, v1Schema, ""), new: topic("o", "", 3, v2Schema, "NONE")},
		{name: "history wins over old spec", old: topic("o", "", 3, v2Schema, ""), new: topic("o", "", 3, v2Schema+" ", ""), history: []string{v1Schema}, want: []string{"narrowed from number to integer", "became required"}},
		{name: "schema added", old: topic("o", "", 3, "", ""), new: topic("o", "", 3, v2Schema, "")},
		{name: "invalid schema", old: topic("o", "", 3, v1Schema, ""), new: topic("o", "", 3, `{"type": 5}`, ""), want: []string{"InvalidSchema spec.schema.jsonSchema"}},
		{name: "several at once", old: topic("o", "a", 6, v1Schema, "FULL"), new: topic("o", "b", 2, v2Schema, "FULL"), want: []string{"ImmutableField", "PartitionDecrease", "IncompatibleSchema", "IncompatibleSchema"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rules(Topic(tt.old, tt.new, tt.history))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("finding %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func exposure(versions ...v1alpha1.ApiVersion) *v1alpha1.ApiExposure {
	return &v1alpha1.ApiExposure{ObjectMeta: metav1.ObjectMeta{Name: "orders-api", Namespace: "shop"},
		Spec: v1alpha1.ApiExposureSpec{Versions: versions}}
}

func version(name string, deprecated bool, sunset *time.Time, routes ...string) v1alpha1.ApiVersion {
	v := v1alpha1.ApiVersion{Name: name, Deprecated: deprecated}
	if sunset != nil {
		s := metav1.NewTime(*sunset)
		v.Sunset = &s
	}
	for _, r := range routes {
		v.Routes = append(v.Routes, v1alpha1.Route{Name: r, TopicRef: v1alpha1.LocalObjectReference{Name: r}})
	}
	return v
}

func TestExposure(t *testing.T) {
	now := time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-24*time.Hour), now.Add(24*time.Hour)
	tests := []struct {
		name     string
		old, new *v1alpha1.ApiExposure
		want     []string
	}{
		{name: "version added", old: exposure(version("v1", false, nil, "orders")), new: exposure(version("v1", false, nil, "orders"), version("v2", false, nil, "orders"))},
		{name: "route added", old: exposure(version("v1", false, nil, "orders")), new: exposure(version("v1", false, nil, "orders", "payments"))},
		{name: "live version removed", old: exposure(version("v1", false, nil, "orders"), version("v2", false, nil, "orders")), new: exposure(version("v2", false, nil, "orders")),
			want: []string{"VersionRemoved spec.versions[v1] version v1 removed: version v1 is not deprecated: mark it deprecated with a sunset date first"}},
		{name: "deprecated version without sunset removed", old: exposure(version("v1", true, nil, "orders")), new: exposure(),
			want: []string{"version v1 is deprecated but has no sunset date"}},
		{name: "version removed before its sunset", old: exposure(version("v1", true, &future, "orders")), new: exposure(),
			want: []string{"version v1 is deprecated with sunset 2027-07-02T00:00:00Z, which has not passed yet (now 2027-07-01T00:00:00Z)"}},
		{name: "version removed after its sunset", old: exposure(version("v1", true, &past, "orders"), version("v2", false, nil, "orders")), new: exposure(version("v2", false, nil, "orders"))},
		{name: "route removed from a live version", old: exposure(version("v2", false, nil, "orders", "payments")), new: exposure(version("v2", false, nil, "orders")),
			want: []string{"RouteRemoved spec.versions[v2].routes[payments] route v2/payments removed: version v2 is not deprecated"}},
		{name: "route removed from a retired version", old: exposure(version("v1", true, &past, "orders", "payments")), new: exposure(version("v1", true, &past, "orders"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rules(Exposure(tt.old, tt.new, now))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("finding %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
