# taskgen. Run `make help` for the targets.

GO ?= go
GOFMT ?= $(shell $(GO) env GOROOT)/bin/gofmt
export TASKGEN_REDIS_URL ?= redis://127.0.0.1:6379/0
# The seed nodes of the local 3-master Redis Cluster that `make services` starts.
export TASKGEN_REDIS_CLUSTER_URL ?= redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
export TASKGEN_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/

.PHONY: help demo test test-short chaos generate verify services fuzz lint bench bench-amqp

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

demo: ## Run the example end to end on the in-memory transport (no server needed)
	$(GO) run ./example/cmd/demo

test: services ## Start Redis and RabbitMQ if needed, then run every test with -race
	@test -z "$$($(GOFMT) -l $$(git ls-files '*.go'))" || { $(GOFMT) -l $$(git ls-files '*.go'); echo "test: files above need gofmt" >&2; exit 1; }
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: ## Run the tests that need no broker
	$(GO) test -race -short ./...

chaos: services ## The long fault-injection run (internal/chaos): 1,000,000 tasks, random kills and restarts, about 10 minutes
	TASKGEN_CHAOS=1 $(GO) test -count=1 -v -timeout 45m -run 'TestChaosLong|TestDelayedWithKill|TestBrokerRestart' ./internal/chaos

generate: ## Regenerate the example's _taskgen.go files
	$(GO) generate ./example/...

verify: generate ## Regenerate example/ and fail if the committed output drifted
	@git diff --exit-code -- example || { echo "verify: example/ is out of date; run make generate and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- example)" || { git status --short -- example; echo "verify: untracked generated files in example/" >&2; exit 1; }

bench: services ## Benchmark the Redis transport against asynq, and the RabbitMQ transport against raw amqp091-go (module bench/)
	cd bench && $(GO) run . -redis $(TASKGEN_REDIS_URL)
	cd bench && $(GO) run ./amqp -amqp $(TASKGEN_AMQP_URL)

bench-amqp: services ## Benchmark the RabbitMQ transport against raw amqp091-go on the local RabbitMQ
	cd bench && $(GO) run ./amqp -amqp $(TASKGEN_AMQP_URL)

services: ## Install Redis and RabbitMQ from Debian's packages if missing; start them on 127.0.0.1
	bash scripts/services.sh

fuzz: ## Run each fuzz target for a while
	$(GO) test -run=^$$ -fuzz=FuzzDecodeEnvelope -fuzztime=60s ./runtime
	$(GO) test -run=^$$ -fuzz=FuzzReader -fuzztime=60s ./runtime/codec
	$(GO) test -run=^$$ -fuzz=FuzzRoundTrip -fuzztime=60s ./cmd/taskgen/internal/roundtrip
