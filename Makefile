# One virtual environment at .venv, made from the pinned requirements; every target reuses it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IMAGE ?= localhost:30000/nst-task:latest
CONTENT ?= samples/landscape.jpg
STYLE ?= samples/swirls.jpg
PORT ?= 5055

.PHONY: venv test demo dev smoke package bench clean

$(STAMP): requirements.txt requirements-dev.txt lambda_trigger/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)  ## create .venv and install everything pinned

test: $(STAMP)  ## the whole test suite (offline, random VGG19 weights)
	NST_VGG19_WEIGHTS=random $(BIN)/python -m pytest

demo: $(STAMP)  ## upload a photo to a local S3, let the trigger stylize it, download the result to out/
	$(BIN)/python -m devstack demo --content "$(CONTENT)" --style "$(STYLE)"

dev: $(STAMP)  ## the same local stack kept running on PORT: upload as often as you like, Ctrl-C stops it
	$(BIN)/python -m devstack dev --port $(PORT) --style "$(STYLE)"

smoke: $(STAMP)  ## one tiny `pyflyte run` of the workflow, no S3 or trigger involved
	$(BIN)/pyflyte run workflows/neural_style_transfer.py neural_style_transfer_wf \
		--content_img "$(CONTENT)" --style_img "$(STYLE)" --epochs 1 --steps_per_epoch 3 --max_dim 96

package: $(STAMP)  ## serialize every entity offline into flyte-package.tgz for IMAGE
	$(BIN)/pyflyte --pkgs workflows package --image $(IMAGE) --output flyte-package.tgz --force

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis flyte-package.tgz out
