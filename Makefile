# One virtual environment at .venv, made from the pinned requirements; every target reuses it.
PYTHON ?= python3
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IMAGE ?= localhost:30000/nst-task:latest
CONTENT ?= samples/landscape.jpg
STYLE ?= samples/swirls.jpg
PORT ?= 5055
# make dev and make web: the page and its API on http://127.0.0.1:WEB_PORT/
WEB_PORT ?= 8080
BENCH_SIZE ?= 512
# make dev: runs at a time, each in a process of its own (empty: the cores)
MAX_RUNS ?=

.PHONY: help venv lint format test demo dev web smoke package bench bench-gpu gallery clean clean-tmp task-image lambda-image web-image register deploy

help:  ## list the targets and what they do
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt requirements-dev.txt lambda_trigger/requirements.txt web/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)  ## create .venv and install everything pinned

lint: $(STAMP)  ## ruff (lint and format check) over everything, mypy over workflows/, lambda_trigger/, devstack/, web/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)  ## rewrite the code in the project's format and apply ruff's safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP)  ## the whole test suite (offline, random VGG19 weights)
	NST_VGG19_WEIGHTS=random $(BIN)/python -m pytest

demo: $(STAMP)  ## upload a photo to a local S3, let the trigger stylize it, download the result to out/
	$(BIN)/python -m devstack demo --content "$(CONTENT)" --style "$(STYLE)"

dev: $(STAMP)  ## the same local stack kept running on PORT, and the page on WEB_PORT: upload as often as you like
	$(BIN)/python -m devstack dev --port $(PORT) --web-port $(WEB_PORT) --style "$(STYLE)" $(if $(MAX_RUNS),--max-runs $(MAX_RUNS))

web: $(STAMP)  ## the web page and its API on http://127.0.0.1:WEB_PORT/, on top of the local stack (as make dev)
	$(BIN)/python -m devstack web --port $(PORT) --web-port $(WEB_PORT) --style "$(STYLE)" $(if $(MAX_RUNS),--max-runs $(MAX_RUNS))

# No local cache: its entries in ~/.flyte point at files in the temporary directory, and once that is cleaned a
# cache hit fails ("... .npy. File not found"). A smoke run should run every task anyway.
smoke: $(STAMP)  ## one tiny `pyflyte run` of the workflow (random weights unless NST_VGG19_WEIGHTS is set), no S3
	NST_VGG19_WEIGHTS="$${NST_VGG19_WEIGHTS:-random}" FLYTE_LOCAL_CACHE_ENABLED=false \
		$(BIN)/pyflyte run workflows/neural_style_transfer.py neural_style_transfer_wf \
		--content_img "$(CONTENT)" --style_img "$(STYLE)" --epochs 1 --steps_per_epoch 3 --max_dim 96

bench: $(STAMP)  ## benchmarks (about 3.5 h on 2 cores, the 2048 px tiles comparison 50 min of it, the masks 20; offline: NST_VGG19_WEIGHTS=random; quality on the VGG16 stand-in) -> BENCHMARKS.md
	@$(BIN)/python -m devstack.weights bench
	$(BIN)/python -m benchmarks.bench_engine --size $(BENCH_SIZE)
	$(BIN)/python -m benchmarks.bench_quality --sizes 256 512
	$(BIN)/python -m benchmarks.bench_stages
	$(BIN)/python -m benchmarks.bench_preview
	$(BIN)/python -m benchmarks.bench_trigger
	$(BIN)/python -m benchmarks.bench_masks
	$(BIN)/python -m benchmarks.report

# The commit before preprocess memory was bounded by bytes: bench_images measures it too, for the before column.
IMAGES_BASELINE ?= a8335427601c
.PHONY: soak
soak: $(STAMP)  ## trigger storm and faults vs the Lambda timeout, preprocess memory per mode (~8 min) -> BENCHMARKS.md
	$(BIN)/python -m benchmarks.soak_trigger
	$(BIN)/python -m benchmarks.bench_images --baseline $(IMAGES_BASELINE)
	$(BIN)/python -m benchmarks.report

bench-gpu: $(STAMP)  ## the engine and stage benchmarks on a GPU machine (CUDA TensorFlow) -> BENCHMARKS-GPU.md
	@$(BIN)/python -c "import tensorflow as tf, sys; sys.exit(0 if tf.config.list_physical_devices('GPU') else 'bench-gpu: TensorFlow sees no GPU; install tensorflow[and-cuda]==2.21.0 on a GPU machine')"
	@$(BIN)/python -m devstack.weights bench-gpu
	$(BIN)/python -m benchmarks.bench_engine --size $(BENCH_SIZE) --out benchmarks/results/engine-gpu.json
	$(BIN)/python -m benchmarks.bench_quality --sizes 256 512 1024 --full-set 256 512 --out benchmarks/results/quality-gpu.json --plot benchmarks/results/style_distance-gpu.png
	$(BIN)/python -m benchmarks.bench_stages --sizes 256 512 1024 2048 --out benchmarks/results/stages-gpu.json
	$(BIN)/python -m benchmarks.report --engine benchmarks/results/engine-gpu.json --stages benchmarks/results/stages-gpu.json --quality benchmarks/results/quality-gpu.json --preview /nonexistent --trigger /nonexistent --masks /nonexistent --plot benchmarks/results/style_distance-gpu.png --output BENCHMARKS-GPU.md

gallery: $(STAMP)  ## the README's pictures (docs/gallery/, about 10 min on 2 cores), made with the trained VGG16 stand-in
	$(BIN)/python -m devstack.gallery

package: $(STAMP)  ## serialize every entity offline into flyte-package.tgz for IMAGE
	$(BIN)/pyflyte --pkgs workflows package --image $(IMAGE) --output flyte-package.tgz --force

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis flyte-package.tgz out

# flytekit's local execution (pyflyte run, make smoke) keeps two folders per process in TMPDIR and never removes
# them: flyte-XXXXXXXX (every task's inputs and outputs, intermediate arrays, checkpoints, Decks) and flyteXXXXXXXX
# (the tasks' working directories, where a run without --output_uri leaves its PNG). README: "Temporary files".
TMP_ROOT := $(or $(TMPDIR),/tmp)
clean-tmp:  ## remove what local workflow runs left in TMPDIR (flytekit's flyte* folders) and pytest's pytest-of-*
	@du -sch $(TMP_ROOT)/flyte* $(TMP_ROOT)/pytest-of-$$(id -un) 2>/dev/null | tail -1 | sed 's/total/to remove/' || true
	rm -rf $(TMP_ROOT)/flyte* $(TMP_ROOT)/pytest-of-$$(id -un)

# --- Deployment (docs/deploy.md): the two images, Flyte registration, the AWS stack (deploy/template.yaml) ---
VERSION ?= $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo dev)
TENSORFLOW_PACKAGE ?=
LAMBDA_IMAGE ?= nst-trigger:$(VERSION)
WEB_IMAGE ?= nst-web:$(VERSION)
LAMBDA_PLATFORM ?= linux/amd64
FLYTE_PROJECT ?= flytesnacks
FLYTE_DOMAIN ?= development
# flytekit configuration for register: the repository's (the demo cluster, overridable by FLYTE_PLATFORM_URL) or yours.
FLYTE_CONFIG ?= flyte.config
REGISTER_FLAGS ?=
STACK ?= nst
# BuildKit adds a provenance attestation, which turns the image into a manifest list that Lambda refuses.
NO_PROVENANCE = $(shell docker buildx version >/dev/null 2>&1 && echo --provenance=false)
# The ECR repository of LAMBDA_IMAGE (tag or digest removed): SAM insists on knowing it for an image function.
LAMBDA_REPO = $(firstword $(subst :, ,$(firstword $(subst @, ,$(LAMBDA_IMAGE)))))
WEB_REPO = $(firstword $(subst :, ,$(firstword $(subst @, ,$(WEB_IMAGE)))))

task-image:  ## the Flyte task image as IMAGE (add TENSORFLOW_PACKAGE="tensorflow[and-cuda]==2.21.0" for GPUs)
	@command -v docker >/dev/null 2>&1 || { echo "task-image: docker is not on PATH; install Docker to build images (docs/deploy.md, Prerequisites)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "task-image: the Docker daemon is not reachable (docker info failed); start Docker and retry" >&2; exit 1; }
	docker build -t $(IMAGE) --build-arg tag=$(IMAGE) $(if $(TENSORFLOW_PACKAGE),--build-arg TENSORFLOW_PACKAGE="$(TENSORFLOW_PACKAGE)") .

lambda-image:  ## the trigger's Lambda image as LAMBDA_IMAGE (single-platform manifest, as Lambda requires)
	@command -v docker >/dev/null 2>&1 || { echo "lambda-image: docker is not on PATH; install Docker to build images (docs/deploy.md, Prerequisites)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "lambda-image: the Docker daemon is not reachable (docker info failed); start Docker and retry" >&2; exit 1; }
	docker build --platform $(LAMBDA_PLATFORM) $(NO_PROVENANCE) -f lambda_trigger/Dockerfile -t $(LAMBDA_IMAGE) .

web-image:  ## the web API's Lambda image as WEB_IMAGE (web/Dockerfile, single-platform manifest)
	@command -v docker >/dev/null 2>&1 || { echo "web-image: docker is not on PATH; install Docker to build images (docs/deploy.md, Prerequisites)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "web-image: the Docker daemon is not reachable (docker info failed); start Docker and retry" >&2; exit 1; }
	docker build --platform $(LAMBDA_PLATFORM) $(NO_PROVENANCE) -f web/Dockerfile -t $(WEB_IMAGE) .

register: $(STAMP)  ## register tasks, workflow and launch plans on flyteadmin as VERSION, running IMAGE
	$(BIN)/pyflyte -c $(FLYTE_CONFIG) register workflows --project $(FLYTE_PROJECT) --domain $(FLYTE_DOMAIN) \
		--image $(IMAGE) --version $(VERSION) --copy none $(REGISTER_FLAGS)

deploy:  ## sam build + sam deploy of deploy/template.yaml (--guided the first time, then deploy/samconfig.toml)
	@command -v sam >/dev/null 2>&1 || { echo "deploy: sam is not on PATH; install the AWS SAM CLI (docs/deploy.md, Prerequisites)" >&2; exit 1; }
	@case "$(LAMBDA_IMAGE)" in *.dkr.ecr.*.amazonaws.com*/*) ;; *) echo "deploy: LAMBDA_IMAGE=$(LAMBDA_IMAGE) is not an ECR image URI; push the trigger image to ECR and pass LAMBDA_IMAGE=ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG" >&2; exit 1;; esac
	@case "$(WEB_IMAGE)" in *.dkr.ecr.*.amazonaws.com*/*) ;; *) echo "deploy: WEB_IMAGE=$(WEB_IMAGE) is not an ECR image URI; push the web API image (make web-image) to ECR and pass WEB_IMAGE=ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG" >&2; exit 1;; esac
	cd deploy && sam build
	@if [ -f deploy/samconfig.toml ]; then \
		echo "cd deploy && sam deploy --parameter-overrides TriggerImageUri=$(LAMBDA_IMAGE) WebImageUri=$(WEB_IMAGE)"; \
		cd deploy && sam deploy --parameter-overrides TriggerImageUri=$(LAMBDA_IMAGE) WebImageUri=$(WEB_IMAGE); \
	else \
		echo "cd deploy && sam deploy --guided ... (first deployment: answers are saved to deploy/samconfig.toml)"; \
		cd deploy && sam deploy --guided --stack-name $(STACK) --capabilities CAPABILITY_IAM \
			--image-repositories TriggerFunction=$(LAMBDA_REPO) --image-repositories WebApiFunction=$(WEB_REPO) --parameter-overrides TriggerImageUri=$(LAMBDA_IMAGE) WebImageUri=$(WEB_IMAGE); \
	fi
