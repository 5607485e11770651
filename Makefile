# aistack: `make run` serves the gateway on the embedded model, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WHEELHOUSE ?= $(HOME)/.cache/aistack/wheels
LLAMA_VERSION := 0.3.36
# Portable x86-64 build: AVX2/FMA/F16C, no -march=native. A native build enables ggml's AMX
# kernels, which segfault on some virtualised Sapphire Rapids hosts.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
PYTEST_ARGS ?=
# Python caches compiled modules (__pycache__, ignored by git) unless PYTHONDONTWRITEBYTECODE is
# set, as it is on the team's CI machines: then every process compiled torch, transformers, peft
# and the rest again from source (16 s of a fine-tune's 40 s start; the suite starts about a
# hundred Python processes). Every target here lets Python keep its caches.
unexport PYTHONDONTWRITEBYTECODE
# two workers (pytest-xdist), each test file on one of them so module fixtures are shared: the suite
# waits on servers as much as it computes. Files go out in the order conftest.py sorts them (the two
# longest first), not xdist's default of the most tests first. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
# llama-cpp-python's sdist: the wheel is built from it, and `aistack finetune` takes llama.cpp's GGUF
# converters out of it (tests read its path from LLAMA_CPP_SDIST: they never download).
LLAMA_SDIST := $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION).tar.gz
# One llama.cpp build serves both the bindings and the embedded engine's llama-server: the wheel
# (build tag 1) holds them side by side in llama_cpp/lib (scripts/build-llama-cpp.sh).
LLAMA_WHEEL := $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-1-*.whl
# uv installs the package and its dependencies (about 20 s, where pip took about 3 minutes), from
# PyPI plus these folders: the wheelhouse (llama-cpp-python) and pip's own find-links (the CPU torch
# wheel on disk here).
FIND_LINKS ?= $(WHEELHOUSE) $(PIP_FIND_LINKS)

.PHONY: setup run test bench clean

setup: $(BIN)/.setup-done

$(BIN)/.setup-done: pyproject.toml constraints.txt scripts/build-llama-cpp.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip uv
	@test -f $(LLAMA_SDIST) || $(BIN)/pip download -q --no-deps --no-binary :all: -d $(WHEELHOUSE) \
	  llama-cpp-python==$(LLAMA_VERSION)
	@ls $(LLAMA_WHEEL) >/dev/null 2>&1 || { \
	  echo "Building llama.cpp $(LLAMA_VERSION) with llama-server, and its Python bindings (about 10 minutes on 2 cores, once)..."; \
	  bash scripts/build-llama-cpp.sh $(LLAMA_SDIST) '$(LLAMA_CMAKE_ARGS)' $(BIN)/python $(WHEELHOUSE); }
	$(BIN)/uv pip install --python $(BIN)/python -q $(addprefix --find-links ,$(FIND_LINKS)) -c constraints.txt \
	  -e '.[embedded,dev]'
	touch $@

run: setup
	$(BIN)/aistack serve

test: setup
	bash scripts/test-deps.sh  # prometheus, alertmanager, nginx, chromium from Debian (installs as root)
	$(BIN)/lint-imports --no-cache  # the layers contract in pyproject.toml: a wrong arrow fails here
	LLAMA_CPP_SDIST=$(LLAMA_SDIST) $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/inference.py
	$(BIN)/python benchmarks/grammar_sampling.py
	# issue 21's engine candidates: llama.cpp's llama-server against batched decoding in process
	$(BIN)/python benchmarks/batching_candidates.py
	# the seed's pipeline, run side by side with aistack's, needs LangChain's community loaders
	$(BIN)/pip install -q -c constraints.txt langchain-community
	$(BIN)/python benchmarks/rag.py
	$(BIN)/python benchmarks/observability.py
	$(BIN)/python benchmarks/deploy.py
	$(BIN)/python benchmarks/access.py
	# needs Debian's wrk and LiteLLM in its own venv (~/.cache/aistack/litellm-venv, litellm[proxy]==1.80.17)
	$(BIN)/python benchmarks/gateway.py
	$(BIN)/python benchmarks/finetune.py
	# needs the vLLM venv that .ci/run makes (~/.cache/aistack/vllm-venv)
	$(BIN)/python benchmarks/backends.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
