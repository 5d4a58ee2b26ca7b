# The two fresh-machine commands: `make demo` and `make test`.
# Everything they need is installed by the targets below (Python venv from
# PyPI, the Kafka broker jars from Maven Central, PostgreSQL from Debian).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup kafka postgres demo lint test docs bench-soak clean

setup: $(STAMP) kafka

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

kafka:
	ops/kafka/fetch

# PostgreSQL server binaries from Debian, for the sink's tests (a private
# instance is started by the tests themselves with ops/postgres/start).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

demo: setup
	$(PY) ops/demo

# The lint and type gate: ruff (style, bugs, imports) and mypy (core strict), configured in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check stages tests ops
	$(VENV)/bin/mypy

test: setup postgres lint
	$(PY) -m pytest

# The documentation site (MkDocs) into site/, after regenerating the
# configuration reference in docs/configuration.md from `crawlpipe config`.
docs: setup
	$(PY) ops/docs/config-reference
	$(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .cache var site
