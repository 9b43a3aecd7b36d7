# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test browser test-browser test-cluster test-unit test-integration bench fuzz install clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

BENCH_STAMP := $(VENV)/.installed-bench

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,bench]"
	@touch $(BENCH_STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/clientfolio run

test: $(STAMP) browser
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY) -m pytest tests/browser --confcutdir=tests/browser $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium; installed here when missing (as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || { echo "The browser tests need Chromium: run 'sudo apt-get install -y chromium' (Debian) and make test again"; exit 1; }

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration tests/e2e $(PYTEST_ARGS)

# The three-node RabbitMQ cluster losing a node under load, alone (make test runs it too).
test-cluster: $(STAMP)
	$(PY) -m pytest tests/cluster $(PYTEST_ARGS)

test-browser: $(STAMP) browser
	$(PY) -m pytest tests/browser --confcutdir=tests/browser $(PYTEST_ARGS)

# The OpenAPI conformance run at length: every schemathesis phase, many examples.
fuzz: $(STAMP)
	OPENAPI_FUZZ_EXAMPLES=$${OPENAPI_FUZZ_EXAMPLES:-50} \
	OPENAPI_FUZZ_PHASES=$${OPENAPI_FUZZ_PHASES:-examples,coverage,fuzzing,stateful} \
	$(PY) -m pytest tests/integration/test_openapi_conformance.py $(PYTEST_ARGS)

bench: $(BENCH_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var build *.egg-info
