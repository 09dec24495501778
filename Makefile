# The two commands: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint chaos clean clients-env browser

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# requirements.lock pins the exact tested set (torch==2.13.0 is the local CPU build).
$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

demo: install
	$(BIN)/tierroute demo

test: install clients-env browser
	@tests/start-redis.sh
	$(BIN)/python -m pytest

# The clients suite (tests/clients): real client packages in their own venv, and the Node ones when node exists.
CLIENTS       := .venv-clients
CLIENTS_STAMP := $(CLIENTS)/.installed-stamp
NODE_CLIENTS  := tests/clients/node
clients-env: $(CLIENTS_STAMP) $(NODE_CLIENTS)/node_modules/.installed-stamp

$(CLIENTS_STAMP): tests/clients/requirements.lock
	$(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/clients/requirements.lock
	@touch $@

$(NODE_CLIENTS)/node_modules/.installed-stamp: $(NODE_CLIENTS)/package-lock.json
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed-stamp; \
	else echo "node/npm not found: the Node clients test will be skipped"; fi

# The dashboard's browser test (tests/dashboard) drives the system Chromium with Selenium. When chromium or
# chromedriver is missing and this runs as root, they are installed from the Debian packages (apt);
# otherwise that test skips and says what to install.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium and chromium-driver (apt) for tests/dashboard"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else echo "chromium/chromedriver missing and not root: tests/dashboard will be skipped"; fi; \
	fi

# The chaos run, fuzzing and soak of issue 10 (point 8): ~30 min on 2 cores; writes docs/benchmarks/chaos.{json,md}.
chaos: install
	$(BIN)/python bench/chaos.py --md docs/benchmarks/chaos.md

lint: install
	$(BIN)/python -m ruff check router classifiers fleet tests bench

clean:
	rm -rf $(VENV) $(CLIENTS) $(NODE_CLIENTS)/node_modules .pytest_cache *.egg-info
