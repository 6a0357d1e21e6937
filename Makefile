# Serverless JSON → Parquet ETL. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
ETL := target/release/etl
VENV := .venv
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# DuckDB, for make bench and for reading the example datasets' output back in make test.
BENCH_VENV := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed
PEERS_STAMP := $(BENCH_VENV)/.peers-installed
# sam, cfn-lint and cargo-lambda (with zig) come from the pinned venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
OUT ?= out
DATASET ?= datasets/iot_sensors.toml
INPUT ?= datasets/samples/iot_sensors.ndjson

.PHONY: help
help: ## Show this list
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'
	@printf "  \033[36m%-16s\033[0m %s\n" "invoke-FN" "sam local invoke FN with its event from events/ (Docker, after make build)" \
	  "invoke-local-FN" "cargo lambda invoke FN (started by make watch) with its event" \
	  "" "FN: $(FUNCTIONS)"

.PHONY: run
run: $(VENV_STAMP) ## The whole pipeline locally on INPUT with DATASET (moto + cargo lambda + the real state machine); output in OUT/
	$(CARGO) run --locked --quiet -p etl-local -- run --input $(INPUT) --dataset $(DATASET) --out $(OUT)

.PHONY: transform
transform: $(ETL) ## Only the transform step, with the etl CLI: INPUT with DATASET into OUT/table and OUT/rejected
	@rm -rf "$(OUT)/table" "$(OUT)/rejected"; mkdir -p "$(OUT)"
	$(ETL) transform --dataset $(DATASET) --input $(INPUT) --out $(OUT)/table --rejected $(OUT)/rejected > $(OUT)/summary.json; \
	  status=$$?; cat $(OUT)/summary.json | python3 bench/show_summary.py; exit $$status

.PHONY: test
# A one-off full check: no incremental caches (they cost ~0.7 GB of disk and help only rebuilds).
test: export CARGO_INCREMENTAL = 0
test: fmt-check clippy unit readback lint-template lint-asl e2e ## Every test and check (what CI runs)
	@echo "make test: all checks passed"

.PHONY: fmt-check
fmt-check: ## cargo fmt --check
	$(CARGO) fmt --all -- --check

.PHONY: clippy
clippy: ## cargo clippy, warnings are errors
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

.PHONY: unit
unit: ## Unit, property, golden-file and handler tests (and `etl check` of datasets/)
	$(CARGO) test --workspace --locked --exclude etl-e2e

.PHONY: readback
# The raw sample is gzipped on the way in (as CloudTrail and Firehose deliver it); DuckDB reads it
# as written.
readback: $(BENCH_STAMP) ## The example datasets through `etl transform`; DuckDB reads their Parquet and compares it with its own reading of the raw samples
	@set -e; for example in github_push:github_push.ndjson github_commits:github_push.ndjson kubernetes_audit:kubernetes_audit.jsonl otlp_logs:otlp_logs.jsonl cloudtrail:cloudtrail.json cloudwatch_logs:cloudwatch_logs.json; do \
	  name=$${example%%:*}; raw=datasets/examples/samples/$${example##*:}; dir=$(OUT)/readback/$$name; \
	  rm -rf $$dir; mkdir -p $$dir; gzip -c $$raw > $$dir/raw.gz; \
	  $(CARGO) run --locked --quiet -p etl-cli -- transform --dataset datasets/examples/$$name.toml \
	    --input $$dir/raw.gz --out $$dir/table --rejected $$dir/rejected > $$dir/summary.json; \
	  $(BENCH_VENV)/bin/python tests/readback/examples.py $$name $$raw $$dir/table; \
	done

.PHONY: e2e
# `--workspace --test e2e` resolves features as `unit` does, so it reuses that build (`-p etl-e2e`
# would resolve them without the dev-dependencies and compile every dependency once more).
e2e: $(VENV_STAMP) ## End-to-end: the real state machine in moto calling the real functions under cargo lambda watch
	$(CARGO) test --workspace --locked --test e2e

.PHONY: fuzz
FUZZ_SECONDS ?= 60
fuzz: ## The differential test (engine against serde_json and the documented casts) for FUZZ_SECONDS (default 60), seeds from FUZZ_SEED
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test --release --locked -p etl-core --lib differential_fuzz -- --ignored --nocapture

.PHONY: check-datasets
check-datasets: ## Validate every dataset definition in datasets/ (make test does it in the cli tests)
	$(CARGO) run --locked --quiet -p etl-cli -- check --datasets datasets
	$(CARGO) run --locked --quiet -p etl-cli -- check --datasets datasets/examples

.PHONY: lint-template
lint-template: $(VENV_STAMP) ## cfn-lint (with the serverless rules) and sam validate --lint on template.yaml
	cfn-lint template.yaml -a cfn_lint_serverless.rules
	sam validate --lint --template-file template.yaml

.PHONY: lint-asl
lint-asl: $(NODE_STAMP) ## asl-validator on the state machine definition
	node_modules/.bin/asl-validator --json-path statemachine/pipeline.asl.json

.PHONY: build
build: $(VENV_STAMP) check-datasets ## sam build: the five functions for arm64 (cargo-lambda + zig)
	rustup target add aarch64-unknown-linux-gnu
	sam build --beta-features

.PHONY: deploy
deploy: test build ## sam deploy --guided (needs AWS credentials)
	sam deploy --guided

LAMBDA_PORT ?= 9001
FUNCTIONS := s3-trigger transform catalog-update athena-poller failure-notifier
EVENT_s3-trigger := events/s3-put.json
EVENT_transform := events/transform.json
EVENT_catalog-update := events/catalog-update.json
EVENT_athena-poller := events/athena-poller.json
EVENT_failure-notifier := events/failure-catch.json
LOGICAL_s3-trigger := S3TriggerFunction
LOGICAL_transform := TransformFunction
LOGICAL_catalog-update := CatalogUpdateFunction
LOGICAL_athena-poller := AthenaPollerFunction
LOGICAL_failure-notifier := FailureNotifierFunction

.PHONY: $(addprefix invoke-,$(FUNCTIONS))
$(addprefix invoke-,$(FUNCTIONS)): invoke-%: ## sam local invoke a function with its sample event (needs Docker and `make build`)
	sam local invoke $(LOGICAL_$*) -e $(EVENT_$*)

.PHONY: watch
watch: $(VENV_STAMP) ## cargo lambda watch: every function behind the Lambda API on 127.0.0.1:$(LAMBDA_PORT) (no Docker)
	cargo lambda watch --invoke-address 127.0.0.1 --invoke-port $(LAMBDA_PORT)

.PHONY: $(addprefix invoke-local-,$(FUNCTIONS))
$(addprefix invoke-local-,$(FUNCTIONS)): invoke-local-%: $(VENV_STAMP) ## cargo lambda invoke a function started by `make watch` with its sample event
	cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port $(LAMBDA_PORT) $* --data-file $(EVENT_$*)

$(VENV_STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@


.PHONY: bench
bench: $(ETL) $(PEERS_STAMP) $(VENV_STAMP) release-functions ## Benchmark every shape (standard IoT job and its layouts, wide numeric, clickstream, deep documents, 20,000-partition fan-out, nested) side by side with DuckDB and chDB, S3 reads through throttled connections, and the Lambdas' size and start-up
	BENCH_PYTHON=$(BENCH_VENV)/bin/python python3 bench/bench.py
	$(CARGO) build --release --locked -p etl-local --example ranged_reads
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH target/release/examples/ranged_reads 128 40
	python3 bench/lambda_start.py

.PHONY: release-functions
release-functions: ## The five functions in release mode for this machine (what make bench measures)
	$(CARGO) build --release --locked $(addprefix -p ,$(FUNCTIONS))

$(BENCH_STAMP): bench/requirements.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

# chDB (~900 MB installed) only for make bench: make test reads Parquet back with DuckDB alone.
$(PEERS_STAMP): $(BENCH_STAMP) bench/requirements-peers.txt
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements-peers.txt
	touch $@

.PHONY: cli
cli: $(ETL) ## Build the etl command-line tool (release)

$(ETL): $(shell find shared/src cli/src -name '*.rs') Cargo.toml Cargo.lock shared/Cargo.toml cli/Cargo.toml
	$(CARGO) build --release --locked -p etl-cli

.PHONY: clean
clean: ## Remove build output, generated benchmark data and local runs
	$(CARGO) clean
	rm -rf bench/data $(OUT) .aws-sam

.PHONY: distclean
distclean: clean ## Also remove the Python venv and node_modules
	rm -rf $(VENV) $(BENCH_VENV) node_modules
