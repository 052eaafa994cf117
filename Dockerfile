# syntax=docker/dockerfile:1
# One image for the three programs: /producer, /worker and /adobesim, static binaries on
# distroless' nonroot base (UID and GID 65532, no shell). The Helm chart picks the program
# with each container's command; run locally with e.g. `docker run IMAGE /producer serve`.
#
#   docker build -t callback-dispatcher .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/callback-dispatcher .

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that a change to the code alone reuses this layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Set by BuildKit from --platform; empty means the build machine's own.
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/producer ./cmd/worker ./cmd/adobesim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/producer /out/worker /out/adobesim /
# Numeric, so that the kubelet can check runAsNonRoot against it.
USER 65532:65532
# The producer API (LISTEN) and the ops port of both programs (OPS_LISTEN).
EXPOSE 8080 9090
CMD ["/worker"]
