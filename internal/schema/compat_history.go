package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// HistoryKey is the key of the version index in a topic's schema history ConfigMap.
const HistoryKey = "history.json"

// MaxHistoryBytes bounds the schema bodies a history keeps (a ConfigMap holds 1 MiB); beyond it
// the oldest bodies are dropped, their versions and fingerprints kept.
const MaxHistoryBytes = 768 << 10

// Fingerprint identifies a schema text: "sha256:" and the hex digest.
func Fingerprint(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Version is one accepted schema in a topic's history index.
type Version struct {
	Version     int32     `json:"version"`
	Fingerprint string    `json:"fingerprint"`
	AcceptedAt  time.Time `json:"acceptedAt"`
	// Pruned says the body was dropped to keep the ConfigMap small; checks skip this version.
	Pruned bool `json:"pruned,omitempty"`
}

// History is every accepted schema of a topic, oldest first, as kept in its history ConfigMap:
// an index under HistoryKey and each body under "v<N>.json".
type History struct {
	Versions []Version
	Bodies   map[int32]string
}

func historyBodyKey(v int32) string { return "v" + strconv.Itoa(int(v)) + ".json" }

// DecodeHistory reads a history ConfigMap's data.
func DecodeHistory(data map[string]string) (History, error) {
	h := History{Bodies: map[int32]string{}}
	index, ok := data[HistoryKey]
	if !ok {
		return h, nil
	}
	if err := json.Unmarshal([]byte(index), &h.Versions); err != nil {
		return h, fmt.Errorf("schema history %s: %w", HistoryKey, err)
	}
	sort.Slice(h.Versions, func(i, j int) bool { return h.Versions[i].Version < h.Versions[j].Version })
	for _, v := range h.Versions {
		if body, ok := data[historyBodyKey(v.Version)]; ok && !v.Pruned {
			h.Bodies[v.Version] = body
		}
	}
	return h, nil
}

// Data renders h as ConfigMap data.
func (h History) Data() map[string]string {
	index, _ := json.Marshal(h.Versions)
	out := map[string]string{HistoryKey: string(index)}
	for v, body := range h.Bodies {
		out[historyBodyKey(v)] = body
	}
	return out
}

func (h History) Latest() (Version, bool) {
	if len(h.Versions) == 0 {
		return Version{}, false
	}
	return h.Versions[len(h.Versions)-1], true
}

// Texts lists the bodies still held, oldest first, with their versions.
func (h History) Texts() ([]string, []int32) {
	var texts []string
	var versions []int32
	for _, v := range h.Versions {
		if body, ok := h.Bodies[v.Version]; ok {
			texts = append(texts, body)
			versions = append(versions, v.Version)
		}
	}
	return texts, versions
}

// Add appends text as the next version and drops the oldest bodies beyond MaxHistoryBytes.
func (h *History) Add(text string, at time.Time) Version {
	next := Version{Version: 1, Fingerprint: Fingerprint(text), AcceptedAt: at.UTC().Truncate(time.Second)}
	if last, ok := h.Latest(); ok {
		next.Version = last.Version + 1
	}
	h.Versions = append(h.Versions, next)
	if h.Bodies == nil {
		h.Bodies = map[int32]string{}
	}
	h.Bodies[next.Version] = text
	total := 0
	for _, b := range h.Bodies {
		total += len(b)
	}
	for i := 0; i < len(h.Versions)-1 && total > MaxHistoryBytes; i++ {
		v := &h.Versions[i]
		if body, ok := h.Bodies[v.Version]; ok {
			total -= len(body)
			delete(h.Bodies, v.Version)
			v.Pruned = true
		}
	}
	return next
}
