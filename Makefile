# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data
LOGDIR ?= runs/demo
PORT ?= 6006
PYTEST_ARGS ?=

.PHONY: venv demo test lint bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,nlp]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	TF_CPP_MIN_LOG_LEVEL=$${TF_CPP_MIN_LOG_LEVEL:-2} $(PY) examples/demo.py --data $(DATA) --logdir $(LOGDIR) --port $(PORT)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check keras_relevance tb_plugin tests examples benchmarks

bench: venv
	$(PY) -m pip install --quiet -e '.[bench]' 'torch==2.13.0'
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) runs test-artifacts
