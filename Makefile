# The two commands a user needs: `make setup && make demo`, and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast test-faults audit lint protos samples clean help k8s-check images

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(STAMP) protos samples  ## create the virtualenv, install everything, generate protos and samples

$(STAMP): requirements.txt requirements-dev.txt requirements.lock pyproject.toml scripts/system_deps.sh
	bash scripts/system_deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt \
		-c requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . --config-settings editable_mode=compat
	touch $(STAMP)

protos: $(STAMP)  ## generate quiltpb/ from protos/ (never edited by hand)
	$(BIN)/python scripts/gen_protos.py

samples: $(STAMP)  ## generate the sample lectures (PyAV + espeak-ng; not stored in git)
	@ls samples/*.mp4 >/dev/null 2>&1 || $(BIN)/python -m quilt.testing.lecture --out samples --count 2

demo: setup  ## run the sample lectures through the embedded stack
	$(BIN)/quilt demo

test: setup k8s-check audit  ## everything: Kubernetes checks, dependency audit, pytest, the fault suite, the clean install
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory test-faults
	$(MAKE) --no-print-directory test-install

audit: setup  ## pip-audit of requirements.lock (says so when the advisory database is unreachable)
	$(BIN)/python scripts/dep_audit.py

test-faults: setup  ## faults and bad inputs against a real embedded stack; ends with `faults: injected=...`
	$(BIN)/python -m tests.faults --out build/faults

.PHONY: test-install
test-install: setup  ## the built wheel alone in a fresh virtualenv runs the demo and two benches; ends with `clean-install: ...`
	$(BIN)/python scripts/check_clean_install.py

test-fast: setup  ## unit tests only (no servers)
	$(BIN)/python -m pytest -q -m "not integration"

k8s-check: $(STAMP)  ## render k8s/overlays/* (kubectl kustomize) and check schemas and invariants offline
	$(BIN)/python scripts/k8s_check.py

IMAGE_REPO ?= ghcr.io/quilt-stream
IMAGE_TAG ?= 0.1.0
images:  ## build the container images with docker (not run by the tests; k8s-check lints the Dockerfile)
	docker build --target services -t $(IMAGE_REPO)/quilt-services:$(IMAGE_TAG) .
	docker build --target triton -t $(IMAGE_REPO)/quilt-triton:$(IMAGE_TAG) .

lint: setup  ## ruff and mypy
	$(BIN)/ruff check quilt services tests scripts training
	$(BIN)/mypy quilt services training

clean:  ## remove generated files (not the stack's data directory)
	rm -rf quiltpb build samples .pytest_cache

.PHONY: histo-model
histo-model: $(STAMP)  ## retrain the histology classifier on generated media, rewrite quilt/data/histo_model.json
	$(BIN)/python scripts/train_histo.py
