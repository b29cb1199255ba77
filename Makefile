# Two commands set everything up on a fresh machine:
#   make demo   creates .venv, installs shotfarm, renders examples/teaser.yaml into out/
#   make test   installs what the tests need and runs the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch first, pinned: an open range would pull a multi-GB CUDA build.
TORCH  := torch==2.13.0
export RAY_USAGE_STATS_ENABLED := 0
# Blender runs in its own environment and process: the bpy wheel pins numpy<2
# and needs Python 3.11 for this release (5.2 wants 3.13).
BLENDER_VENV := .venv-blender
BPY := bpy==5.0.1

# Debian tools the suite drives for real: ffprobe (independent HDR check),
# prometheus + promtool (scrape and rule tests), kubectl (kustomize), and
# PostgreSQL (the server event log; Debian keeps initdb off PATH, so it is looked for apart),
# and g++ with the Python headers, which the path tracer compiles its fused kernels with.
SYSTEM_TOOLS := ffprobe:ffmpeg promtool:prometheus prometheus:prometheus kubectl:kubectl \
	radosgw:radosgw ceph-mon:ceph-mon ceph-osd:ceph-osd chromium:chromium \
	g++:g++ python3-config:python3-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install install-dev blender system-deps lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,generative]'
	touch $@

$(BLENDER_VENV)/.installed:
	$(PYTHON) -m venv $(BLENDER_VENV)
	$(BLENDER_VENV)/bin/pip install --quiet --upgrade pip
	$(BLENDER_VENV)/bin/pip install --quiet $(BPY)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
# The Blender engine's environment (about 1 GB); `make demo` does not need it.
blender: $(BLENDER_VENV)/.installed

system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  for pkg in $$missing; do \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$pkg >/dev/null \
	      || echo "warning: could not install $$pkg; the tests that drive it will fail"; \
	  done; \
	fi

demo: install
	$(BIN)/shotfarm render examples/teaser.yaml --out out/

# Import floors and contracts, lint, and strict types on the pure core and the scheduling policy.
lint: install-dev
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy orchestrator/core orchestrator/scheduling

# S3 servers (moto and a single-node Ceph RGW) and a throwaway PostgreSQL
# cluster (the server event log) run for the suite and are stopped afterwards, pass or fail.
# Test files are shared out among TEST_WORKERS pytest processes, each with a Ray of its own:
# much of an end-to-end test is waiting (processes starting, a lease running out, an outage),
# so two keep two cores busier than one. A file stays whole on one worker (its fixtures run once).
TEST_WORKERS ?= 2
test: install-dev blender system-deps lint
	scripts/s3-servers.sh start && scripts/postgres-server.sh start && \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile; rc=$$?; \
	scripts/postgres-server.sh stop; scripts/s3-servers.sh stop; exit $$rc

clean:
	rm -rf out .pytest_cache
