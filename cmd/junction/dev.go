package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/junction-dev/junction/internal/dev"
)

func newDevCommand() *cobra.Command {
	var (
		opts dev.Options
		demo bool
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run Junction locally: API server, Kafka, the manager and bridge processes.",
		Long: `dev starts a local kube-apiserver and etcd (from bin/k8s), an embedded Kafka unless
--kafka names a real one, the manager, and a runner that starts a bridge process for every
bridge Deployment. It writes <dir>/kubeconfig and <dir>/state.json (Kafka and bridge addresses)
and runs until interrupted. With --demo it applies config/samples, exercises every bridge over
REST and gRPC, reads the records back from Kafka, stops and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.BridgeBinary == "" {
				opts.BridgeBinary = besideExecutable("bridge", filepath.Join("bin", "bridge"))
			}
			opts.AssetsDir = besideExecutable("k8s", filepath.Join("bin", "k8s"))
			if env := os.Getenv("KUBEBUILDER_ASSETS"); env != "" {
				opts.AssetsDir = env
			}
			opts.CRDDir = filepath.Join("config", "crd", "bases")
			opts.Out = cmd.OutOrStdout()
			if demo {
				return dev.Demo(cmd.Context(), opts, dev.DemoOptions{
					SamplesDir:   filepath.Join("config", "samples"),
					ReadyTimeout: 2 * time.Minute,
				})
			}
			return dev.Serve(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Kafka, "kafka", "", "bootstrap address (host:port) of a real Kafka; empty starts an embedded one")
	f.StringVar(&opts.Dir, "dir", filepath.Join(".junction", "dev"), "directory for the kubeconfig, state.json, logs and bridge files")
	f.StringVar(&opts.BridgeBinary, "bridge-binary", "", "bridge executable (default: bridge next to junction, else bin/bridge)")
	f.BoolVar(&demo, "demo", false, "apply config/samples, exercise every bridge, print the results and exit")
	return cmd
}

// besideExecutable returns name in the directory of the running executable if it exists there,
// else fallback (for `go run`, whose executable lives in a temporary directory).
func besideExecutable(name, fallback string) string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if abs, err := filepath.Abs(fallback); err == nil {
		return abs
	}
	return fallback
}
