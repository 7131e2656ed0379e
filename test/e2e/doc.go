// Package e2e holds the end-to-end suites: a real Apache Kafka (test/e2e/kafkaharness),
// the manager on envtest and real bridge processes. Every test file carries the `e2e`
// build tag, so `go test ./...` compiles this package and runs nothing; run the suites with
// `make test-e2e` (go test ./test/e2e/... -tags e2e -count=1 -timeout 40m -v).
package e2e
