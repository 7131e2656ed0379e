# Junction — run `make help` for the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO ?= go
BIN := $(CURDIR)/bin
K8S_ASSETS := $(BIN)/k8s
# Every test that starts an API server finds kube-apiserver and etcd here.
export KUBEBUILDER_ASSETS := $(K8S_ASSETS)

CONTROLLER_GEN := $(GO) tool controller-gen
# helm and kustomize are built from the module proxy into bin/ (kept out of go.mod); the install tests use them.
HELM := $(BIN)/helm
HELM_VERSION := v4.3.2
KUSTOMIZE := $(BIN)/kustomize
KUSTOMIZE_VERSION := v5.8.2
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
	$(CONTROLLER_GEN) rbac:roleName=junction-manager crd:allowDangerousTypes=false webhook paths="./api/..." paths="./controllers/..." paths="./internal/webhook/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
	@# The chart carries the generated CRDs and manager rules verbatim; verify fails on drift.
	@rm -f charts/junction/crds/*.yaml && cp config/crd/bases/*.yaml charts/junction/crds/
	@cp config/rbac/role.yaml charts/junction/files/manager-role.yaml

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
test: manifests generate fmt vet envtest build $(HELM) $(KUSTOMIZE) ## Run unit, controller (envtest + embedded Kafka), bridge and install tests.
	JUNCTION_REQUIRE_INSTALL_TOOLS=1 $(GO) test ./... -count=1 -timeout 20m

.PHONY: test-e2e
test-e2e: envtest build ## Run the end-to-end suite against a real Apache Kafka broker.
	@if [ -d test/e2e ]; then $(GO) test ./test/e2e/... -tags e2e -count=1 -timeout 40m -v; else echo "no e2e suite yet"; fi

.PHONY: bench
bench: envtest ## Run the benchmarks (docs/benchmarks.md; at most 15 minutes; not part of test or CI). BENCH_FLAGS="--kafka host:port" for a real broker.
	$(GO) build -o $(BIN)/ ./cmd/bridge ./cmd/junction-bench
	$(BIN)/junction-bench --bridge $(BIN)/bridge $(BENCH_FLAGS)

.PHONY: envtest
envtest: $(K8S_ASSETS)/kube-apiserver $(K8S_ASSETS)/etcd ## Build kube-apiserver and etcd from source into bin/k8s.

$(K8S_ASSETS)/kube-apiserver $(K8S_ASSETS)/etcd: hack/envtest/go.mod hack/envtest/go.sum
	@mkdir -p $(K8S_ASSETS)
	@echo "building kube-apiserver and etcd from source (about 9 minutes the first time)"
	cd hack/envtest && $(GO) build -trimpath -o $(K8S_ASSETS)/ ./kube-apiserver ./etcd
	@touch $(K8S_ASSETS)/kube-apiserver $(K8S_ASSETS)/etcd

.PHONY: verify
verify: manifests generate fmt ## Regenerate everything and fail if the tree changed.
	@diff -r config/crd/bases charts/junction/crds || { echo "charts/junction/crds differs from config/crd/bases: run 'make manifests'"; exit 1; }
	@diff config/rbac/role.yaml charts/junction/files/manager-role.yaml || { echo "charts/junction/files/manager-role.yaml differs from config/rbac/role.yaml: run 'make manifests'"; exit 1; }
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

##@ Install

# Image names and tags come from here, and only here: docker-build tags the images with them,
# build-installer writes them into dist/install.yaml, helm-lint renders the chart with them.
# VERSION is the chart's appVersion, which is also the chart's default image tag.
VERSION ?= $(shell awk '/^appVersion:/ {gsub(/"/, "", $$2); print $$2}' charts/junction/Chart.yaml)
# IMG_REGISTRY is the registry host and path both images are pushed to, without a trailing slash;
# empty leaves the choice to the container runtime's defaults.
IMG_REGISTRY ?=
IMG_PREFIX := $(if $(IMG_REGISTRY),$(IMG_REGISTRY)/,)
MANAGER_IMG ?= $(IMG_PREFIX)junction/manager:$(VERSION)
BRIDGE_IMG ?= $(IMG_PREFIX)junction/bridge:$(VERSION)
# Build and runtime base images, short names resolved by the container tool; point them at a mirror if needed.
GO_IMAGE ?= golang:1.26
BASE_IMAGE ?= distroless/static:nonroot
CONTAINER_TOOL ?= docker

.PHONY: docker-build
docker-build: ## Build the manager and bridge images as MANAGER_IMG and BRIDGE_IMG.
	$(CONTAINER_TOOL) build --target manager --build-arg GO_IMAGE=$(GO_IMAGE) --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(MANAGER_IMG) .
	$(CONTAINER_TOOL) build --target bridge --build-arg GO_IMAGE=$(GO_IMAGE) --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(BRIDGE_IMG) .

.PHONY: helm
helm: $(HELM) ## Build helm from the Go module proxy into bin/ (several minutes the first time).

$(HELM):
	GOBIN=$(BIN) $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

$(KUSTOMIZE):
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint charts/junction with its default values and with every other feature on.
	$(HELM) lint --strict charts/junction --set image.registry=$(IMG_REGISTRY)
	$(HELM) lint --strict charts/junction -f test/install/testdata/values-full.yaml

# installer_kustomization is the overlay build-installer renders: config/default with the images above.
define installer_kustomization
resources:
- ../../config/default
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: junction-manager, namespace: junction-system}
    spec:
      template:
        spec:
          containers:
          - name: manager
            env:
            - {name: BRIDGE_IMAGE, value: "$(BRIDGE_IMG)"}
endef
export installer_kustomization

.PHONY: build-installer
build-installer: manifests $(KUSTOMIZE) ## Render config/default with MANAGER_IMG and BRIDGE_IMG into dist/install.yaml.
	@rm -rf dist/installer && mkdir -p dist/installer
	@printf '%s\n' "$$installer_kustomization" > dist/installer/kustomization.yaml
	cd dist/installer && $(KUSTOMIZE) edit set image junction/manager=$(MANAGER_IMG)
	$(KUSTOMIZE) build dist/installer > dist/install.yaml
	@echo "wrote dist/install.yaml (manager $(MANAGER_IMG), bridge $(BRIDGE_IMG))"
