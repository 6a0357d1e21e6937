# Serverless JSON → Parquet ETL. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
ETL := target/release/etl
OUT ?= out
DATASET ?= datasets/iot_sensors.toml
INPUT ?= datasets/samples/iot_sensors.ndjson

.PHONY: help
help: ## Show this list
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

.PHONY: run
run: $(ETL) ## Transform INPUT (default: the sample data) with DATASET into OUT/ and show the result
	@rm -rf "$(OUT)/table" "$(OUT)/rejected"; mkdir -p "$(OUT)"
	$(ETL) transform --dataset $(DATASET) --input $(INPUT) --out $(OUT)/table --rejected $(OUT)/rejected > $(OUT)/summary.json; \
	  status=$$?; cat $(OUT)/summary.json | python3 bench/show_summary.py; exit $$status

.PHONY: test
test: fmt-check clippy unit check-datasets ## Every test and check (what CI runs)
	@echo "make test: all checks passed"

.PHONY: fmt-check
fmt-check: ## cargo fmt --check
	$(CARGO) fmt --all -- --check

.PHONY: clippy
clippy: ## cargo clippy, warnings are errors
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

.PHONY: unit
unit: ## Unit, property and golden-file tests
	$(CARGO) test --workspace --locked

.PHONY: check-datasets
check-datasets: $(ETL) ## Validate every dataset definition in datasets/
	$(ETL) check --datasets datasets

.PHONY: bench
bench: $(ETL) ## Benchmark the standard job (NDJSON, gzip, array, 3 GB): wall, CPU, peak RSS, MB/s
	python3 bench/bench.py

.PHONY: cli
cli: $(ETL) ## Build the etl command-line tool (release)

$(ETL): $(shell find shared/src cli/src -name '*.rs') Cargo.toml Cargo.lock shared/Cargo.toml cli/Cargo.toml
	$(CARGO) build --release --locked -p etl-cli

.PHONY: clean
clean: ## Remove build output, generated benchmark data and local runs
	$(CARGO) clean
	rm -rf bench/data $(OUT)
