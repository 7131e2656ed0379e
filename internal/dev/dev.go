package dev

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// Serve runs the sandbox until ctx ends (Ctrl-C) or a component fails, then stops everything.
func Serve(ctx context.Context, opts Options) error {
	s, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		s.Say("\nstopping: bridges, manager, kafka, control plane")
		s.Stop()
		s.Say("stopped")
	}()
	s.Say("\ntry:")
	s.Say("  export KUBECONFIG=%s", s.Kubeconfig)
	s.Say("  kubectl apply -f your-manifests.yaml   # MessageBroker spec.kafka.bootstrapServers: [\"%s\"]", s.KafkaAddr)
	s.Say("  cat %s   # Kafka and bridge addresses", filepath.Join(opts.Dir, StateFileName))
	s.Say("Ctrl-C stops everything.\n")
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.Err():
		return err
	}
}

// Demo starts the sandbox, runs the demo on it and stops it again.
func Demo(ctx context.Context, opts Options, demo DemoOptions) error {
	start := time.Now()
	s, err := Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("demo step \"start the sandbox\" failed: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- RunDemo(ctx, s, demo) }()
	select {
	case err = <-errc:
	case err = <-s.Err():
		err = fmt.Errorf("demo failed: %w", err)
	}
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("demo interrupted")
	}
	t := time.Now()
	s.Stop()
	if err != nil {
		return err
	}
	s.Say("\n[done] stopped the sandbox in %s; demo OK in %s", since(t), since(start))
	return nil
}
