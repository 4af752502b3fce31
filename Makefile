# Two commands do all the set-up: `make run` (the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama.cpp's native CPU build crashes on some x86 CPUs: build for a portable AVX2 baseline.
export CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
# The llama.cpp wheel takes minutes to build: it is built once per version and CMAKE_ARGS,
# kept outside the checkout, and installed from there by every later set-up.
LLAMA_VERSION := $(shell sed -n 's/^llama_cpp_python==//p' requirements.lock)
LLAMA_KEY := $(shell printf '%s' "$(LLAMA_VERSION) $(CMAKE_ARGS)" | sha256sum | cut -c1-12)
WHEELS ?= $(HOME)/.cache/synthpedia/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_KEY)

.PHONY: run test lint dryrun clean

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 \
		|| $(BIN)/pip wheel --quiet --no-deps --wheel-dir $(WHEELS) llama_cpp_python==$(LLAMA_VERSION)
	$(BIN)/pip install --quiet --find-links $(WHEELS) -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

run: $(VENV)/.installed
	$(BIN)/snakemake --profile profiles/default --configfile config.yaml

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules

dryrun: $(VENV)/.installed
	$(BIN)/snakemake -n --profile profiles/default

# Outputs, logs (Snakemake's timing files included) and Snakemake's state; never tracked files.
clean:
	rm -rf results logs .snakemake report.html
