# Everything the README's commands need: a virtualenv inside the repo, installs, run, tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
# Ray's token auth switches itself on after a local ray.init; local runs and CI disable it.
export RAY_AUTH_MODE ?= disabled
export RAY_TMPDIR ?= /tmp/rtstt-ray
export HF_HUB_OFFLINE ?= 1
export PYTHONDONTWRITEBYTECODE ?= 1

.PHONY: setup setup-malloc setup-browser setup-postgres setup-cluster test test-unit check lint typecheck serve bench soak schema clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev]"
	# Resemblyzer's own requirement `webrtcvad` would replace webrtcvad-wheels: its other needs
	# (torch, librosa, scipy, numpy) are in pyproject.toml, so it goes in without dependencies
	$(PIP) --no-deps "resemblyzer==0.1.4"
	touch $@

# serve_config.yaml preloads jemalloc into the app's processes (Debian's libjemalloc2, apt-get, as root)
setup-malloc:
	scripts/setup_jemalloc.sh

# the browser tests drive Debian's Chromium (apt-get, as root) with playwright-core (npm ci)
setup-browser:
	scripts/setup_browser.sh

# the store tests start a throwaway PostgreSQL from Debian's binaries (apt-get, as root)
setup-postgres:
	scripts/setup_postgres.sh

# the cluster test makes network namespaces with iproute2 (apt-get, as root)
setup-cluster:
	scripts/setup_cluster.sh

test: setup setup-malloc setup-browser setup-postgres setup-cluster
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest -m "not model and not e2e and not browser and not cluster"

lint: setup
	$(VENV)/bin/ruff check app deployments tests scripts
	$(VENV)/bin/ruff format --check app deployments tests scripts

typecheck: setup
	$(VENV)/bin/mypy app deployments

check: lint typecheck test

# a local development key unless the environment brings real ones
serve: export STT_API_KEYS ?= local:dev-key-change-me
# signs the short-lived tokens the browser page uses (stt token --page)
serve: export STT_JWT_SECRET ?= dev-jwt-secret-change-me-0123456789abcdef
serve: setup setup-malloc
	mkdir -p $(RAY_TMPDIR)
	$(VENV)/bin/ray start --head --num-cpus 2 --include-dashboard=false --temp-dir $(RAY_TMPDIR) --disable-usage-stats
	trap '$(VENV)/bin/ray stop --force' EXIT INT TERM; $(VENV)/bin/serve run --address auto serve_config.yaml

# starts its own local Ray + Serve app from serve_config.yaml's settings, streams, tears down
# what N the cores carry (no admission limit; every session the same audio, then independent speakers),
# then the committed config's admission control: its
# capacity (limits.max_streams 8) and a burst of 8 more sessions, which must be refused
bench: setup setup-malloc
	$(PY) scripts/bench_stream.py --start-app --max-streams 0 --sessions 1,2,4,6,8,10,12 --label cpu-2core
	$(PY) scripts/bench_stream.py --start-app --max-streams 0 --speakers independent --sessions 6,8,10 --label cpu-2core-independent
	$(PY) scripts/bench_stream.py --start-app --speakers independent --sessions 8 --overload 8+8 --label cpu-2core-overload

# real speech over SOAK_SESSIONS streams for SOAK_MINUTES with reconnects, bad frames, pauses and restarts:
# latency by slice, memory of every process, errors by code, stored vs delivered finals, a verdict
SOAK_MINUTES ?= 30
SOAK_SESSIONS ?= 4
soak: setup setup-malloc
	$(PY) scripts/soak.py --start-app --minutes $(SOAK_MINUTES) --sessions $(SOAK_SESSIONS) --label cpu-2core

schema: setup
	$(PY) -m app schema > schema/protocol.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
