# Junction — run `make help` for the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO ?= go
BIN := $(CURDIR)/bin
K8S_ASSETS := $(BIN)/k8s
# Every test that starts an API server finds kube-apiserver and etcd here.
export KUBEBUILDER_ASSETS := $(K8S_ASSETS)

CONTROLLER_GEN := $(GO) tool controller-gen
BUF := $(GO) tool buf

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate CRDs and RBAC from the kubebuilder markers.
	$(CONTROLLER_GEN) rbac:roleName=junction-manager crd:allowDangerousTypes=false webhook paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: proto ## Generate deepcopy code and protobuf Go.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: proto
proto: ## Lint the .proto sources and generate their Go code with buf.
	@if [ -f buf.gen.yaml ]; then $(BUF) lint && $(BUF) generate; fi

.PHONY: fmt
fmt: ## Run go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: test
test: manifests generate fmt vet envtest ## Run unit and controller tests (envtest + embedded Kafka).
	$(GO) test ./... -count=1 -timeout 20m

.PHONY: test-e2e
test-e2e: envtest build ## Run the end-to-end suite against a real Apache Kafka broker.
	@if [ -d test/e2e ]; then $(GO) test ./test/e2e/... -tags e2e -count=1 -timeout 40m -v; else echo "no e2e suite yet"; fi

.PHONY: envtest
envtest: $(K8S_ASSETS)/kube-apiserver $(K8S_ASSETS)/etcd ## Build kube-apiserver and etcd from source into bin/k8s.

$(K8S_ASSETS)/kube-apiserver $(K8S_ASSETS)/etcd: hack/envtest/go.mod hack/envtest/go.sum
	@mkdir -p $(K8S_ASSETS)
	@echo "building kube-apiserver and etcd from source (about 9 minutes the first time)"
	cd hack/envtest && $(GO) build -trimpath -o $(K8S_ASSETS)/ ./kube-apiserver ./etcd
	@touch $(K8S_ASSETS)/kube-apiserver $(K8S_ASSETS)/etcd

.PHONY: verify
verify: manifests generate fmt ## Regenerate everything and fail if the tree changed.
	@if [ -n "$$(git status --porcelain)" ]; then git status --porcelain; git --no-pager diff --stat; echo "generated files are out of date: run 'make manifests generate fmt' and commit"; exit 1; fi

##@ Build

.PHONY: build
build: ## Build the manager, bridge and junction binaries into bin/.
	$(GO) build -o $(BIN)/ ./cmd/manager ./cmd/bridge ./cmd/junction

.PHONY: run
run: manifests generate ## Run the manager against the cluster in $KUBECONFIG.
	$(GO) run ./cmd/manager

.PHONY: dev
dev: build envtest ## Start the local sandbox (API server, embedded Kafka, manager, bridges).
	$(BIN)/junction dev

.PHONY: demo
demo: build envtest ## Run the end-to-end demo on config/samples and exit.
	$(BIN)/junction dev --demo
