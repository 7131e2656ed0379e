package kafkaharness

import (
	"context"
	"testing"
)

// Start runs a cluster of n combined broker+controller nodes for the test and stops it in
// t.Cleanup. When the test failed, the tail of every node's log is printed and the
// directory is kept. It calls t.Fatal when the cluster does not come up within 90s.
func Start(t testing.TB, brokers int) *Cluster {
	t.Helper()
	return StartWithOptions(t, Options{Brokers: brokers})
}

// StartWithOptions is Start with Options.
func StartWithOptions(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	c, err := Launch(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		failed := t.Failed()
		if failed {
			t.Logf("kafka logs kept in %s\n%s", c.Dir, c.LogTails(60))
		}
		if err := c.close(failed || opts.KeepDir); err != nil {
			t.Error(err)
		}
	})
	return c
}
