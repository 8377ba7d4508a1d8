# taskgen. Run `make help` for the targets.

GO ?= go
export TASKGEN_REDIS_URL ?= redis://127.0.0.1:6379/0
export TASKGEN_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/

.PHONY: help demo test test-short generate verify services fuzz lint

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

demo: ## Run the example end to end on the in-memory transport (no server needed)
	$(GO) run ./example/cmd/demo

test: services ## Start Redis and RabbitMQ if needed, then run every test with -race
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: ## Run the tests that need no broker
	$(GO) test -race -short ./...

generate: ## Regenerate the example's _taskgen.go files
	$(GO) generate ./example/...

verify: generate ## Regenerate example/ and fail if the committed output drifted
	@git diff --exit-code -- example || { echo "verify: example/ is out of date; run make generate and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- example)" || { git status --short -- example; echo "verify: untracked generated files in example/" >&2; exit 1; }

services: ## Install Redis and RabbitMQ from Debian's packages if missing; start them on 127.0.0.1
	bash scripts/services.sh

fuzz: ## Run each fuzz target for a while
	$(GO) test -run=^$$ -fuzz=FuzzDecodeEnvelope -fuzztime=60s ./runtime
