# Everything the project needs is installed by these targets into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up test lint typecheck protos bench image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/cairn up $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy cairn api_service placement datanode metadata gc

protos: $(STAMP)
	$(PY) scripts/gen_protos.py

bench: $(STAMP)
	$(PY) benchmarks/s3_bench.py $(ARGS)

# The container image (Dockerfile): needs a running Docker daemon (BuildKit). Without Docker Hub,
# build a base first with scripts/local-base-image.sh and pass PYTHON_IMAGE=cairn-base:bookworm-py311.
IMAGE ?= cairn:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
PYTHON_IMAGE ?= python:3.11-slim-bookworm
DOCKER_BUILD_FLAGS ?=
image:
	DOCKER_BUILDKIT=1 docker build $(DOCKER_BUILD_FLAGS) --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(IMAGE) .

clean:
	rm -rf $(VENV) build *.egg-info
