// Command bridge serves one ApiExposure: REST and gRPC publish routes backed by Kafka.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"

	"github.com/junction-dev/junction/internal/bridge"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("bridge failed", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	configPath := flag.String("config", "", "path to the rendered bridge config ("+bridgeconfig.FileName+"); required")
	httpAddr := flag.String("http-addr", "", "REST listen address (default \":\" + httpPort from the config)")
	grpcAddr := flag.String("grpc-addr", "", "gRPC listen address (default \":\" + grpcPort from the config)")
	maxInFlight := flag.Int("max-in-flight", 0, "publish requests served at once before answering 503 (default 256)")
	maxInFlightBytes := flag.Int64("max-in-flight-bytes", 0, "request body bytes held at once before answering 503 (default 64 MiB)")
	drainDelay := flag.Duration("drain-delay", 0, "after SIGTERM, keep serving (unready) this long before closing the listeners")
	pprofAddr := flag.String("pprof-addr", "", "serve net/http/pprof on this address (off by default; a bare \":port\" binds 127.0.0.1)")
	flag.Parse()
	if *configPath == "" {
		return errors.New("--config is required")
	}
	cfg, err := bridgeconfig.Load(*configPath)
	if err != nil {
		return err
	}
	if *httpAddr == "" {
		*httpAddr = fmt.Sprintf(":%d", cfg.HTTPPort)
	}
	if *grpcAddr == "" {
		*grpcAddr = fmt.Sprintf(":%d", cfg.GRPCPort)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		_ = hl.Close()
		return err
	}
	if *pprofAddr != "" {
		pl, err := listenPprof(*pprofAddr)
		if err != nil {
			_ = hl.Close()
			_ = gl.Close()
			return err
		}
		defer pl.Close()
		log.Info("pprof serving", "addr", pl.Addr().String())
		go func() { _ = http.Serve(pl, pprofMux()) }()
	}
	return bridge.Run(ctx, cfg, bridge.Options{HTTPListener: hl, GRPCListener: gl, Logger: log,
		Limits:     bridge.Limits{MaxInFlight: *maxInFlight, MaxInFlightBytes: *maxInFlightBytes},
		DrainDelay: *drainDelay})
}

// listenPprof binds addr, on loopback when addr names no host: profiles expose internals
// and are never meant for the Service.
func listenPprof(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr: %w", err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.Listen("tcp", net.JoinHostPort(host, port))
}

// pprofMux serves the profiles on their own mux, so nothing else reaches the pprof listener
// and the REST listener never serves them.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
