# Portcullis — developer commands. Builds go to ./target (set CARGO_TARGET_DIR
# to put them elsewhere; .ci/run does, so a warm machine reuses its builds).
CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR

DATABASE_URL_TEST ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL_TEST ?= redis://127.0.0.1:6379

.PHONY: deps run worker build test test-integration test-schema test-readme lint fmt check bench bench-http migrate clean

## Install what the integration suite needs besides PostgreSQL and Redis:
## redis-server and openssl (Debian packages), aiosmtpd and schemathesis (PyPI).
deps:
	./deploy/install-test-deps.sh

## Start the server on the in-memory adapters (no services needed; nothing is persisted).
run:
	LOG_FORMAT=$${LOG_FORMAT:-pretty} cargo run -p portcullis -- serve

## Run background workers only (needs REDIS_URL, like a second instance would).
worker:
	LOG_FORMAT=$${LOG_FORMAT:-pretty} cargo run -p portcullis -- worker

build:
	cargo build --workspace --release

## Unit, contract (in-memory) and HTTP tests. Needs no service.
test:
	cargo test

## Contract suites against PostgreSQL and Redis, and the HTTP API on them.
## Fails when the services are unreachable.
## Afterwards, the migrated template database of the run is dropped.
test-integration:
	DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_TEST)} REDIS_URL=$${REDIS_URL:-$(REDIS_URL_TEST)} \
		cargo test -p portcullis --features integration --test integration
	@db=$${DATABASE_URL:-$(DATABASE_URL_TEST)}; \
	if command -v psql >/dev/null 2>&1; then \
		for t in $$(psql "$$db" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'portcullis\_tmpl\_%'"); do \
			psql "$$db" -qc "DROP DATABASE IF EXISTS $$t WITH (FORCE)" && echo "dropped template database $$t"; \
		done; \
	else echo "psql not found: template databases portcullis_tmpl_* are dropped by the next run"; fi

## Schemathesis (pip install schemathesis) over the OpenAPI document, in memory.
test-schema:
	cargo build -p portcullis
	tests/schema/run.sh $(CARGO_TARGET_DIR)/debug/portcullis

## The README walk-through, exactly its commands, against `make run` (needs jq, port 8080).
test-readme:
	tests/readme/walkthrough.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --features portcullis/integration -- -D warnings

check: lint test test-integration

## Apply migrations to DATABASE_URL.
migrate:
	cargo run -p portcullis -- migrate

## Criterion micro-benchmarks, the HTTP load scenarios with wrk on PostgreSQL + Redis and in memory, the Redis job queue's throughput, the upload pipeline with a real clamd, and round trips per answer on PostgreSQL + Redis (see docs/benchmarks.md).
bench:
	REDIS_URL=$${REDIS_URL:-$(REDIS_URL_TEST)} cargo bench -p portcullis-bench
	./deploy/bench/http-load.sh
	BACKENDS=memory ./deploy/bench/http-load.sh
	./deploy/bench/queue-throughput.sh
	./deploy/bench/upload-load.sh
	DATABASE_URL=$${DATABASE_URL:-$(DATABASE_URL_TEST)} ./deploy/bench/audit-plan.sh
	./deploy/bench/round-trips.sh

clean:
	cargo clean
