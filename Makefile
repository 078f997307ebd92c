# One virtual environment at .venv, made from the pinned requirements; every target reuses it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IMAGE ?= localhost:30000/nst-task:latest

export NST_VGG19_WEIGHTS ?= imagenet

.PHONY: venv test smoke package bench clean

$(STAMP): requirements.txt requirements-dev.txt lambda_trigger/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)  ## create .venv and install everything pinned

test: $(STAMP)  ## the whole test suite (offline, random VGG19 weights)
	NST_VGG19_WEIGHTS=random $(BIN)/python -m pytest

smoke: $(STAMP)  ## one tiny local run of the workflow: make smoke CONTENT=photo.jpg STYLE=style.jpg
	@test -n "$(CONTENT)" -a -n "$(STYLE)" || { echo "usage: make smoke CONTENT=photo.jpg STYLE=style.jpg"; exit 2; }
	$(BIN)/pyflyte run workflows/neural_style_transfer.py neural_style_transfer_wf \
		--content_img "$(CONTENT)" --style_img "$(STYLE)" --epochs 1 --steps_per_epoch 3 --max_dim 96

package: $(STAMP)  ## serialize every entity offline into flyte-package.tgz for IMAGE
	$(BIN)/pyflyte --pkgs workflows package --image $(IMAGE) --output flyte-package.tgz --force

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis flyte-package.tgz
