# livewatch developer tasks. `make help` lists them.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: help venv compile jars tools run worker stop test lint docs fmt clean bench compose-secrets

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,docs]'
	touch $@

# The detection core compiled with mypyc (streams/compiled.py): again whenever a source of its
# set (streams.compiled.MODULES) or of the build changed.
CORE_SOURCES := $(shell $(PYTHON) -c 'from streams.compiled import MODULES, ROOT, source_of; \
	print(*(source_of(m).relative_to(ROOT) for m in MODULES))') \
	streams/compiled.py streams/devtools/compile_core.py
streams/compiled.json: $(BIN)/.installed $(CORE_SOURCES)
	$(BIN)/python -m streams.devtools.compile_core

venv: $(BIN)/.installed streams/compiled.json  ## create .venv with livewatch and its test tools; compile the core

compile: streams/compiled.json  ## compile the detection core with mypyc (about a minute; venv does it)

jars: venv  ## resolve the Apache Kafka jars from Maven Central (once)
	$(BIN)/python -c 'from streams.devtools.kafka_local import resolve_jars; print(resolve_jars())'

tools:  ## Debian packages the tests use (promtool, prometheus, alertmanager, amtool, chromium, node), when missing
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null \
	    || ! command -v amtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
	    || ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends prometheus prometheus-alertmanager chromium chromium-driver; \
	fi
	@# Node.js and npm run the KafkaJS test producer (tests/node)
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends nodejs npm; \
	fi

run: jars  ## the main job: livewatch demo (local Kafka, topics, worker, simulator, live view)
	$(BIN)/livewatch demo

worker: jars  ## local Kafka up, topics created, a worker in the foreground (console logs)
	$(BIN)/livewatch kafka up
	$(BIN)/livewatch topics create
	LIVEWATCH_LOG_FORMAT=console $(BIN)/livewatch worker

stop: venv  ## stop the local Kafka started by `make worker`
	$(BIN)/livewatch kafka down

compose-secrets:  ## random tokens for docker-compose.yml in deploy/docker/secrets/ (kept if present)
	@for name in api_token board_token; do \
	  f=deploy/docker/secrets/$$name; \
	  [ -s $$f ] || python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > $$f; \
	done; echo "tokens in deploy/docker/secrets/ (the board's: cat deploy/docker/secrets/board_token)"

lint: venv  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

docs: venv  ## the documentation site into site/ (MkDocs; --strict: a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: jars tools lint docs  ## every test: lint, types, units, a real Kafka broker, Prometheus, Alertmanager, Chromium
	$(BIN)/pytest

benchmarks/.venv-quix/bin/python:
	$(PYTHON) -m venv benchmarks/.venv-quix
	benchmarks/.venv-quix/bin/pip install -q quixstreams==3.28.1

bench: jars benchmarks/.venv-quix/bin/python  ## throughput with every peer, then alert latency (minutes)
	$(BIN)/python benchmarks/throughput.py --quix
	$(BIN)/python benchmarks/latency.py

fmt: venv  ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:  ## remove the venv, caches and local Kafka data (not the jar cache)
	-$(BIN)/livewatch kafka down
	-$(BIN)/python -m streams.devtools.compile_core --clean
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache livewatch-data site deploy/kafka-local/.cache/run
