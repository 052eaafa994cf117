# Callback Dispatcher. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
PKGS := ./...
FUZZTIME ?= 5s
BIN := bin

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the producer, worker and adobesim binaries into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

.PHONY: test
test: ## vet, unit and integration tests on real Redis (a throwaway one unless REDIS_URL is set), brief fuzzing
	$(GO) vet $(PKGS)
	scripts/with-services.sh $(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 5s)
	@scripts/fuzz.sh $(FUZZTIME)

.PHONY: demo
demo: ## run the whole pipeline on Adobe's examples and print a summary (under a minute)
	$(GO) run ./cmd/demo

.PHONY: bench
bench: ## Go benchmarks of the hot paths
	scripts/with-services.sh $(GO) test -run '^$$' -bench . -benchmem $(PKGS)

.PHONY: lint
lint: ## golangci-lint v2 with .golangci.yml
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run

.PHONY: fmt
fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## remove built binaries
	rm -rf $(BIN)

# The chart's tests build this helm into bin/ (go install is a no-op once it is there);
# deploy/helm/chart_test.go pins the same version.
HELM_MODULE := helm.sh/helm/v3/cmd/helm@v3.21.4
CHART := deploy/helm/callback-dispatcher

.PHONY: helm-lint
helm-lint: ## helm lint --strict the chart with each of its ci/ values files
	GOBIN=$(CURDIR)/$(BIN) $(GO) install $(HELM_MODULE)
	for f in $(CHART)/ci/*-values.yaml; do \
		$(BIN)/helm lint --strict --kube-version 1.30.0 $(CHART) -f "$$f" || exit 1; \
	done

.PHONY: helm-test
helm-test: ## lint and render the Helm chart and check every manifest (deploy/helm)
	$(GO) test -count=1 ./deploy/helm/
