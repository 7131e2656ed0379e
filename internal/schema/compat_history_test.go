package schema

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestHistoryRoundTripAndPrune(t *testing.T) {
	var h History
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v1 := h.Add(`{"type":"object"}`, at)
	v2 := h.Add(`{"type":"object","required":["id"]}`, at.Add(time.Hour))
	if v1.Version != 1 || v2.Version != 2 {
		t.Fatalf("versions %d, %d", v1.Version, v2.Version)
	}
	if v2.Fingerprint != Fingerprint(`{"type":"object","required":["id"]}`) || !strings.HasPrefix(v2.Fingerprint, "sha256:") || len(v2.Fingerprint) != 71 {
		t.Fatalf("fingerprint %q", v2.Fingerprint)
	}

	back, err := DecodeHistory(h.Data())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Versions, h.Versions) {
		t.Fatalf("round trip: %+v != %+v", back.Versions, h.Versions)
	}
	texts, versions := back.Texts()
	if !reflect.DeepEqual(texts, []string{`{"type":"object"}`, `{"type":"object","required":["id"]}`}) || !reflect.DeepEqual(versions, []int32{1, 2}) {
		t.Fatalf("texts %v versions %v", texts, versions)
	}

	// Bodies beyond the size bound are dropped oldest first; the latest is always kept.
	big := `{"description":"` + strings.Repeat("x", MaxHistoryBytes/2) + `"}`
	h.Add(big, at)
	h.Add(big+" ", at)
	if len(h.Versions) != 4 || !h.Versions[0].Pruned || h.Versions[3].Pruned {
		t.Fatalf("pruning: %+v", h.Versions)
	}
	if _, versions = h.Texts(); versions[0] == 1 || versions[len(versions)-1] != 4 {
		t.Fatalf("kept versions %v", versions)
	}
	back, _ = DecodeHistory(h.Data())
	if _, versions = back.Texts(); versions[0] == 1 {
		t.Fatalf("pruned body decoded: %v", versions)
	}

	if _, err := DecodeHistory(map[string]string{HistoryKey: "not json"}); err == nil {
		t.Fatal("bad index accepted")
	}
	if h, err := DecodeHistory(nil); err != nil || len(h.Versions) != 0 {
		t.Fatalf("empty: %+v %v", h, err)
	}
}
