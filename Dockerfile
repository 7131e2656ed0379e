# syntax=docker/dockerfile:1
# Images for the manager and the bridge: `make docker-build` builds the `manager` and `bridge`
# targets. Both are static Go binaries on a distroless static base, run as the nonroot user
# (65532), with nothing else in the image. GO_IMAGE and BASE_IMAGE are short names the container
# tool resolves; the Makefile sets them.
ARG GO_IMAGE=golang:1.26
ARG BASE_IMAGE=distroless/static:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
ENV CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} GOFLAGS=-trimpath
COPY go.mod go.sum ./
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY proto/ proto/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w" -o /out/ ./cmd/manager ./cmd/bridge

FROM ${BASE_IMAGE} AS manager
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

FROM ${BASE_IMAGE} AS bridge
COPY --from=build /out/bridge /bridge
USER 65532:65532
ENTRYPOINT ["/bridge"]
