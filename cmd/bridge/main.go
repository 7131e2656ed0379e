// Command bridge serves one ApiExposure: REST and gRPC publish routes backed by Kafka.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
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
	return bridge.Run(ctx, cfg, bridge.Options{HTTPListener: hl, GRPCListener: gl, Logger: log,
		Limits:     bridge.Limits{MaxInFlight: *maxInFlight, MaxInFlightBytes: *maxInFlightBytes},
		DrainDelay: *drainDelay})
}
