package bridge

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeBatchAgreesWithPerRecordDecode: where the one-pass decode accepts a batch it finds
// exactly what the record-by-record decode finds; everything unusual is left to the latter.
func TestDecodeBatchAgreesWithPerRecordDecode(t *testing.T) {
	cases := []struct {
		body     string
		fastPath bool
	}{
		{`{"records": [{"value": {"a": 1}}, {"key": "k", "value": [1, 2], "headers": {"h": "v"}, "partition": 2}]}`, true},
		{` {"records":[{"value":"x"}]} `, true},
		{`{"records": [null, {"value": null}]}`, true},
		{`{"records": []}`, true},
		{`{"records": null}`, true},
		{`{}`, true},
		{`{"records": [{"value": 1}], "records": [{"key": "b"}]}`, false}, // last one wins, whole
		{`{"records": [{"value": {"a": [1, -2.5e+3, "\u00e9\n", true, false, null, {}]}, "key": null, "headers": null}]}`, true},
		{`{"records": [{"value": 01}]}`, false},
		{`{"records": [{"value": "a` + "\x01" + `"}]}`, false},
		{`{"records": [{"value": 1, "value": 2}]}`, false},
		{`{"records": [{"partition": 1.5, "value": 1}]}`, false},
		{`{"records": [{"value": [1,]}]}`, false},
		{`{"Records": [{"value": 1}]}`, false}, // encoding/json folds case
		{`{"records": [{"value": 1, "valu": 2}]}`, false},
		{`{"records": [{"value": 1}]}]`, false},
		{`{"records": [{"key": 5, "value": 1}]}`, false},
		{`{"records": 5}`, false},
		{`[]`, false},
	}
	for _, tt := range cases {
		fast, ok := scanBatch([]byte(tt.body))
		if ok != tt.fastPath {
			t.Errorf("%s: one-pass decode ok=%v, want %v", tt.body, ok, tt.fastPath)
		}
		if !ok {
			continue
		}
		slow, err := decodeBatchByRecord([]byte(tt.body))
		if err != nil {
			t.Errorf("%s: per-record decode failed where the one-pass decode did not: %v", tt.body, err)
			continue
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: one-pass %+v, per-record %+v", tt.body, fast, slow)
		}
	}
}

func TestWritePublishResultMatchesEncodingJSON(t *testing.T) {
	for _, r := range []publishResult{{"orders", 0, 0}, {"shop.orders-v2_x", 2, 1 << 40}, {`a"b<c>&\`, 1, 7}, {"ünï", 3, 9}} {
		fast, slow := httptest.NewRecorder(), httptest.NewRecorder()
		writePublishResult(fast, r)
		writeJSON(slow, http.StatusOK, r)
		if fast.Body.String() != slow.Body.String() || fast.Code != slow.Code ||
			fast.Header().Get("Content-Type") != slow.Header().Get("Content-Type") {
			t.Errorf("%+v: %d %q, encoding/json %d %q", r, fast.Code, fast.Body, slow.Code, slow.Body)
		}
	}
}

// FuzzScanBatch: whatever scanBatch accepts, encoding/json accepts with the same records.
func FuzzScanBatch(f *testing.F) {
	for _, seed := range []string{
		`{"records": [{"value": {"a": 1}}, {"key": "k", "value": [1, 2], "headers": {"h": "v"}, "partition": 2}]}`,
		`{"records": [{"value": "\u00e9\"x"}, null]}`, `{"records": [{"value": -0.5E-7}]}`, `{}`,
		`{"records": [{"value": tru}]}`, `{"records": [{"value": 1e}]}`, `{"records": [{"value": {"a":}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := scanBatch(body)
		if !ok {
			return
		}
		slow, err := decodeBatchByRecord(body)
		if err != nil {
			t.Fatalf("%q: scanBatch accepted what encoding/json refuses: %v", body, err)
		}
		for i := range slow {
			if slow[i].err != nil {
				t.Fatalf("%q: record %d refused by encoding/json: %v", body, i, slow[i].err)
			}
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: scanBatch %+v, encoding/json %+v", body, fast, slow)
		}
	})
}

// BenchmarkBatchDecode: a batch of 100 records of 1 KiB, as in make bench's rest-batch.
func BenchmarkBatchDecode(b *testing.B) {
	value := `{"id":"bench","pad":"` + strings.Repeat("x", 1024-23) + `"}`
	records := make([]string, 100)
	for i := range records {
		records[i] = `{"value":` + value + `}`
	}
	body := []byte(`{"records":[` + strings.Join(records, ",") + `]}`)
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := scanBatch(body); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := decodeBatchByRecord(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
