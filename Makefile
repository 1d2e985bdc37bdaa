# The two commands of Pombo. See README.md.
.PHONY: run test bench fuzz totp schemathesis tools lint fmt clean-data histories upgrade-test

run: ## Build and start Temporal dev server, maildev, worker and API (Ctrl-C stops all)
	bash scripts/run.sh

clean-data: ## Delete everything `make run` kept in .data/ (databases, mail, keys, logs): a clean start
	bash scripts/clean-data.sh

test: ## The whole suite, against a real Temporal dev server, maildev, SQLite and PostgreSQL
	bash scripts/test.sh

schemathesis: ## Only the schemathesis step of `make test`: a fresh API held to its OpenAPI document
	bash scripts/schemathesis.sh

histories: ## Record replay fixtures (workflows/tests/histories) from the integration tests; never overwrites one
	bash scripts/record-histories.sh

upgrade-test: ## Workflows left waiting by an older pombo-worker (REF, default the last tag) complete on this build
	bash scripts/upgrade-test.sh

bench: ## End-to-end throughput and latency figures
	bash scripts/bench.sh

fuzz: ## Every callback parser and request validator under libFuzzer, FUZZ_SECONDS (20) each
	bash fuzz/run.sh

totp: ## The development operator's current sign-in code (after `make run`)
	bash scripts/totp.sh

tools: ## Install the local servers and tools (Temporal CLI, maildev, schemathesis) into .tools/
	bash scripts/tools.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all
