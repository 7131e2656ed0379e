#!/usr/bin/env bash
# Starts a real Apache Kafka cluster (KRaft, combined broker+controller nodes) on 127.0.0.1
# with free ports, prints BOOTSTRAP_SERVERS=host:port,... and runs until Ctrl-C / SIGTERM,
# then stops every node and removes its data (unless -keep).
#
#   hack/kafka/start.sh                 # one broker
#   hack/kafka/start.sh -brokers 3      # three nodes, one controller quorum
#   hack/kafka/start.sh -brokers 3 -exit  # start, report, stop (times start-up)
#
# The same code runs the e2e tests (test/e2e/kafkaharness); install.sh runs first if needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/hack/kafka/install.sh"
cd "$root"
# Built rather than `go run`, so that signals reach the program that owns the brokers.
go build -o hack/kafka/target/kafka-up ./test/e2e/kafkaharness/cmd/kafka-up
exec hack/kafka/target/kafka-up "$@"
