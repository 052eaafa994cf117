# Callback Dispatcher. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
PKGS := ./...
FUZZTIME ?= 5s
BIN := bin

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the producer, worker and adobesim binaries into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

.PHONY: test
test: ## vet, lint, unit and integration tests on real Redis (a throwaway one unless REDIS_URL is set), brief fuzzing, each Go benchmark once, the short chaos run
	$(GO) vet $(PKGS)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory rules-test
	scripts/with-services.sh $(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)
	$(MAKE) --no-print-directory bench-smoke
	$(MAKE) --no-print-directory chaos-short

.PHONY: chaos
chaos: ## 10,000 callbacks while workers are killed, Redis crashes and PostgreSQL stops 60 s; fails if one is lost (~3 min)
	$(GO) run ./cmd/chaos

.PHONY: chaos-short
chaos-short: ## the CI chaos run: 1,000 callbacks, 3 kills, a Redis crash, PostgreSQL down 10 s (~2 min)
	$(GO) run ./cmd/chaos -short

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 5s)
	@scripts/fuzz.sh $(FUZZTIME)

.PHONY: demo
demo: ## run the whole pipeline on Adobe's examples and print a summary (under a minute)
	$(GO) run ./cmd/demo

.PHONY: bench
bench: ## the dispatcher against a bare asynq sender, side by side; prints a table, writes docs/benchmarks.md (~6 min)
	BENCH_COMMAND="make bench" scripts/with-services.sh $(GO) run ./cmd/bench $(BENCH_FLAGS)

.PHONY: bench-go
bench-go: ## the Go benchmarks of the hot paths (validation, envelope, job, sender)
	scripts/with-services.sh $(GO) test -run '^$$' -bench . -benchmem $(PKGS)

.PHONY: bench-smoke
bench-smoke: ## run every Go benchmark once, as make test does
	scripts/with-services.sh $(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

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

.PHONY: rules-test
rules-test: ## promtool check and unit-test the alert rules (deploy/prometheus; apt-get install prometheus)
	promtool check rules deploy/prometheus/alerts.yaml
	promtool test rules deploy/prometheus/alerts_test.yaml

.PHONY: helm-test
helm-test: ## lint and render the Helm chart and check every manifest (deploy/helm)
	$(GO) test -count=1 ./deploy/helm/
