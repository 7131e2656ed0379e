package bridge

import (
	"net/http"
	"net/http/httptest"
	"reflect"
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
		{`{"Records": [{"value": 1}]}`, false},                            // encoding/json folds case
		{`{"records": [{"value": 1, "valu": 2}]}`, false},
		{`{"records": [{"value": 1}]}]`, false},
		{`{"records": [{"key": 5, "value": 1}]}`, false},
		{`{"records": 5}`, false},
		{`[]`, false},
	}
	for _, tt := range cases {
		fast, ok := decodeBatch([]byte(tt.body))
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
