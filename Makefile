# The two fresh-machine commands: `make demo` and `make test`.
# Everything they need is installed by the targets below (Python venv from
# PyPI, the Kafka broker jars from Maven Central, PostgreSQL from Debian).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup kafka postgres demo test bench-soak clean

setup: $(STAMP) kafka

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

kafka:
	ops/kafka/fetch

postgres:
	ops/postgres/install

demo: setup
	$(PY) ops/demo

test: setup postgres
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .cache var
