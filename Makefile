# Image service: one command to run it locally, one to test it.
#   make up     install into project-local folders, start the local cloud, deploy, print the API and gallery URLs
#   make test   lint, types, unit, infrastructure, local-cloud, integration, load and browser tests
#   make help   everything else
SHELL := /bin/bash
.DEFAULT_GOAL := help

include localcloud/env.mk

# Node.js 20 is what these machines have; jsii would print an end-of-life banner on every synth.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

VENV := .venv
PYTHON := $(VENV)/bin/python
PYTEST := $(PYTHON) -m pytest
CDK := node_modules/.bin/cdk
CDKLOCAL := node_modules/.bin/cdklocal
STAGE ?= local
STACK := ImageService-$(STAGE)
OUTPUTS := .localcloud/outputs.json
LOCALCLOUD := python3 localcloud/cli.py
# The web gallery (web/): its sources, and the site Vite builds from them.
WEB_SOURCES := web/index.html web/vite.config.ts web/tsconfig.json $(wildcard web/src/*)
WEB_SITE := web/dist/index.html
# The browser the gallery's end-to-end test drives: Debian's, never one a test tool downloads.
CHROMIUM := /usr/bin/chromium
# The local development issuer (the local cloud has no Cognito): its key pair, and the
# issuer.json whose public keys the CDK app hands to the functions.
DEV_ISSUER := .localcloud/dev-issuer
# What the local stage is synthesized with; AUTH_MODE=none deploys it without authentication.
LOCAL_CONTEXT := -c stage=$(STAGE) -c s3_public_endpoint=$(LOCALCLOUD_URL) \
	-c dev_issuer=$(DEV_ISSUER)/issuer.json $(if $(AUTH_MODE),-c auth_mode=$(AUTH_MODE))

.PHONY: help up down url token dev-issuer install install-browser gallery-build gallery-start gallery-stop \
	gallery-url localcloud-install localcloud-start localcloud-stop localcloud-status \
	localcloud-logs bootstrap-local deploy-local destroy-local synth deploy-aws check lint typecheck \
	test test-unit test-infra test-localcloud test-integration test-load test-browser fuzz bad-input load reconcile \
	simulate mutation bench bench-floor bench-latency bench-coldstart bench-imports bench-list bench-variants \
	bench-upload bench-loop hotswap openapi clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# --- installs (project-local, repeatable; skipped when their inputs did not change) --------

$(VENV)/.installed: requirements.txt requirements-dev.txt lambda_src/image_api/requirements.txt \
		lambda_src/image_processing/requirements.txt lambda_src/image_reconcile/requirements.txt \
		imgsvc/requirements.txt pyproject.toml
	@test -x $(PYTHON) || $$($(LOCALCLOUD) python313) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" || true
	@# The project itself, editable: its imgsvc command in .venv/bin, its dependencies the pins above.
	@$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | grep -v "^WARNING: Location" ; \
		exit $${PIPESTATUS[0]}
	$(PYTHON) -m pip check >/dev/null || { $(PYTHON) -m pip check; exit 1; }
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --silent
	@touch $@

install: $(VENV)/.installed node_modules/.installed web/node_modules/.installed localcloud-install ## install everything (project venv, CDK CLI, gallery build tools, local cloud)

install-browser: ## install Debian's chromium for the gallery's browser test (skipped when $(CHROMIUM) exists)
	@test -x $(CHROMIUM) || { \
		echo "installing Debian's chromium (apt-get) for the browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "install-browser: could not install chromium with apt-get (it needs root and Debian's package lists): install the 'chromium' package, then run again" >&2; exit 1; }; \
		test -x $(CHROMIUM) || { echo "install-browser: apt-get finished but $(CHROMIUM) is missing" >&2; exit 1; }; }

# --- the local cloud ------------------------------------------------------------------------

localcloud-install: ## install LocalStack, its plugins and the functions' runtimes into .localcloud/
	@$(LOCALCLOUD) install 2>&1 | grep -v "^WARNING: Location" ; exit $${PIPESTATUS[0]}

localcloud-start: localcloud-install ## start the local cloud in the background (reuses a running one)
	@$(LOCALCLOUD) start

localcloud-stop: ## stop the local cloud this checkout started
	@$(LOCALCLOUD) stop

localcloud-status: ## is the local cloud running?
	@$(LOCALCLOUD) status

localcloud-logs: ## the local cloud's log (make localcloud-logs FOLLOW=1 to follow)
	@$(LOCALCLOUD) logs $(if $(FOLLOW),--follow)

# --- the image service on the local cloud ------------------------------------------------

bootstrap-local: install localcloud-start dev-issuer
	@$(LOCALCLOUD_ENV) $(CDKLOCAL) bootstrap aws://$(LOCALCLOUD_ACCOUNT)/$(LOCALCLOUD_REGION) $(LOCAL_CONTEXT) --quiet >/dev/null

dev-issuer: $(VENV)/.installed ## create the local development issuer's key pair, once (make up does)
	@$(PYTHON) -m localcloud.dev_issuer --dir $(DEV_ISSUER) init

deploy-local: bootstrap-local ## deploy the image service to the local cloud (writes .localcloud/outputs.json)
	$(LOCALCLOUD_ENV) $(CDKLOCAL) deploy $(STACK) $(LOCAL_CONTEXT) \
		--require-approval never --progress events \
		--outputs-file $(OUTPUTS)
	@# A function hotswapped since (make hotswap) keeps that code through a deploy whose assets
	@# did not change: put the checkout's code back into any such function.
	@$(LOCALCLOUD_ENV) $(PYTHON) -m localcloud.hotswap $(STACK) --quiet

destroy-local: dev-issuer ## remove the image service from the local cloud
	$(LOCALCLOUD_ENV) $(CDKLOCAL) destroy $(STACK) $(LOCAL_CONTEXT) --force

up: deploy-local gallery-start ## install, start the local cloud, deploy, serve the gallery, print their URLs and a walkthrough
	@$(LOCALCLOUD_ENV) $(PYTHON) -m localcloud.outputs walkthrough $(OUTPUTS)

url: ## print the deployed API's base URL
	@$(PYTHON) -m localcloud.outputs url $(OUTPUTS)

token: dev-issuer ## print a bearer token of the local development issuer, valid 1 h: make token USER=alice
	@$(PYTHON) -m localcloud.dev_issuer --dir $(DEV_ISSUER) token "$(USER)"

down: gallery-stop localcloud-stop ## stop the gallery server and the local cloud

# --- the web gallery -------------------------------------------------------------------------

$(WEB_SITE): web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run build --silent

gallery-build: $(WEB_SITE) ## build the web gallery into web/dist (type-checked; make up, synth and deploy-aws do)

gallery-start: gallery-build $(VENV)/.installed ## serve the gallery on the local cloud's port + 1000, in the background
	@$(LOCALCLOUD_ENV) $(PYTHON) -m localcloud.gallery start

gallery-stop: ## stop this checkout's gallery server
	@python3 -m localcloud.gallery stop

gallery-url: ## print the gallery's URL
	@$(LOCALCLOUD_ENV) $(PYTHON) -m localcloud.gallery url

# --- real AWS ------------------------------------------------------------------------------

synth: $(VENV)/.installed node_modules/.installed gallery-build ## synthesize the CloudFormation template (STAGE=dev|prod)
	$(CDK) synth $(STACK) -c stage=$(STAGE) --quiet

deploy-aws: $(VENV)/.installed node_modules/.installed gallery-build ## deploy to the AWS account of your credentials (STAGE=dev|prod)
	$(CDK) deploy $(STACK) -c stage=$(STAGE)

# --- quality -----------------------------------------------------------------------------------

lint: $(VENV)/.installed ## ruff
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

typecheck: $(VENV)/.installed web/node_modules/.installed ## mypy (strict), and tsc (strict) on the gallery
	$(PYTHON) -m mypy
	cd web && node_modules/.bin/tsc --noEmit

check: lint typecheck

# Unit and infrastructure tests run in parallel (pytest-xdist); TEST_WORKERS=1 runs them in one process.
TEST_WORKERS ?= 2

test-unit: $(VENV)/.installed ## unit tests (no network)
	$(PYTEST) tests/unit -q -n $(TEST_WORKERS)

test-infra: $(VENV)/.installed ## CDK assertions and cdk-nag (no network)
	$(PYTEST) tests/infrastructure -q -n $(TEST_WORKERS)

test-localcloud: install ## the local cloud's own tests (starts it, deploys a test stack)
	$(LOCALCLOUD_ENV) $(PYTEST) tests/localcloud -q

test-integration: deploy-local ## the image service against the local cloud
	$(LOCALCLOUD_ENV) $(PYTEST) tests/integration -q

test-browser: install-browser deploy-local gallery-build ## the gallery in headless chromium against the local cloud (screenshots in test-artifacts/browser/)
	$(LOCALCLOUD_ENV) $(PYTEST) tests/browser -q

test-load: deploy-local ## load on the local cloud: 100 concurrent upload flows; concurrent edits, downloads, re-uploads, deletes of one image
	$(LOCALCLOUD_ENV) $(PYTEST) tests/load -q

test: check test-unit test-infra test-localcloud test-integration test-load test-browser ## everything CI runs

fuzz: deploy-local ## schemathesis from openapi.json against the local cloud (part of test-integration); prints the cases sent
	$(LOCALCLOUD_ENV) $(PYTEST) tests/integration/test_fuzzing.py -q -s

load: test-load ## the same as test-load (part of make test)

bad-input: deploy-local ## the bad-input suite against the local cloud (part of test-integration)
	$(LOCALCLOUD_ENV) $(PYTEST) tests/integration/test_bad_input.py -q

reconcile: $(VENV)/.installed ## report what failures left behind on the local cloud (REPAIR=1 also repairs; MIN_AGE=<s> to wait longer)
	@$(LOCALCLOUD_ENV) $(PYTHON) -m localcloud.reconcile $(OUTPUTS) $(if $(REPAIR),--repair) $(if $(MIN_AGE),--min-age $(MIN_AGE))

# mutmut's own time bound per mutant is a multiple of the tests' time; this bounds the whole run.
MUTATION_SECONDS ?= 3000
MUTATION_DIR := .scratch/mutation
mutation: $(VENV)/.installed ## mutmut on the ownership, token verification, listing and deletion modules against the unit tests (not in make test; MUTATION_SECONDS bounds it)
	@# The copy mutmut runs in (see [tool.mutmut] in pyproject.toml): the functions under src/ too.
	@rm -rf $(MUTATION_DIR) && mkdir -p $(MUTATION_DIR)/localcloud
	@cp -r lambda_src $(MUTATION_DIR)/src && cp -r lambda_src tests imgsvc openapi.json $(MUTATION_DIR)/
	@cp localcloud/dev_issuer.py localcloud/outputs.py $(MUTATION_DIR)/localcloud/
	@sed 's|^pythonpath = \[".", "lambda_src"|pythonpath = [".", "src"|' pyproject.toml > $(MUTATION_DIR)/pyproject.toml
	cd $(MUTATION_DIR) && timeout $(MUTATION_SECONDS) $(CURDIR)/$(VENV)/bin/mutmut run --max-children $$(nproc) \
		| tr '\r' '\n' | grep -v '^ *$$' | tail -n 2
	cd $(MUTATION_DIR) && $(CURDIR)/$(VENV)/bin/mutmut results

openapi: $(VENV)/.installed ## regenerate openapi.json from the code (a unit test fails when it is not current)
	@PYTHONPATH=lambda_src $(PYTHON) -m image_api.contract > openapi.json.tmp && mv openapi.json.tmp openapi.json
	@echo "openapi.json written"

# --- benchmarks (bench/): each part refreshes its own section of docs/benchmarks.md -----------

BENCH_OUTPUTS := .localcloud/bench-outputs.json
BENCH := $(LOCALCLOUD_ENV) $(PYTHON) -m

bench: deploy-local bench-floor ## every benchmark below, then docs/benchmarks.md (10-20 min)
	$(BENCH) bench.latency
	$(BENCH) bench.breakdown
	$(BENCH) bench.coldstart
	$(BENCH) bench.imports
	$(BENCH) bench.list_cost
	$(BENCH) bench.variants
	$(BENCH) bench.upload_path
	$(BENCH) bench.local_loop --make-args "LOCALCLOUD_PORT=$(LOCALCLOUD_PORT)"

bench-floor: bootstrap-local ## deploy the bench's floor: a bare echo function behind a REST API
	@$(LOCALCLOUD_ENV) $(CDKLOCAL) deploy BenchFloor --app "$(PYTHON) -m bench.app" --output cdk.out.bench \
		--require-approval never --outputs-file $(BENCH_OUTPUTS) >/dev/null

bench-latency: deploy-local bench-floor ## warm latency of every route and throughput of the reads, against the echo
	$(BENCH) bench.latency
	$(BENCH) bench.breakdown

bench-coldstart: deploy-local bench-floor ## time to first response of fresh execution environments
	$(BENCH) bench.coldstart

bench-imports: deploy-local ## import time of each handler module, before and after (python -X importtime)
	$(BENCH) bench.imports

bench-list: $(VENV)/.installed ## items a list page examines as the table grows to 100,000 images
	$(BENCH) bench.list_cost

bench-variants: $(VENV)/.installed ## reduced-scale decoding and variant bytes over a made corpus
	$(BENCH) bench.variants

bench-upload: deploy-local ## bytes through Lambda per upload, and the largest upload straight to S3
	$(BENCH) bench.upload_path

bench-loop: install ## make up with the cloud stopped, a hotswap after a handler change (BENCH_TESTS=1: make test too)
	$(BENCH) bench.local_loop --make-args "LOCALCLOUD_PORT=$(LOCALCLOUD_PORT)" $(if $(BENCH_TESTS),--tests)

hotswap: $(VENV)/.installed ## after a change to lambda_src/: put the new code into the deployed functions (seconds)
	@$(LOCALCLOUD_ENV) $(PYTHON) -m localcloud.hotswap $(STACK)

# The simulation's workload: 100,000 uploads by 10,000 users counted from the repository's requests
# (SIMULATE_BACKEND=recorder; minutes). SIMULATE_BACKEND=localcloud drives the local cloud's
# DynamoDB instead (about 1 s an upload on a busy machine here: give it SIMULATE_UPLOADS=300).
SIMULATE_UPLOADS ?= 100000
SIMULATE_USERS ?= $(shell echo $$(( $(SIMULATE_UPLOADS) / 10 )))
SIMULATE_BACKEND ?= recorder
simulate: $(VENV)/.installed ## writes per index partition before and after sharding (docs/scale.md); SIMULATE_BACKEND=localcloud|moto|recorder
	$(LOCALCLOUD_ENV) PYTHONPATH=lambda_src $(PYTHON) -m bench.partition_simulation \
		--uploads $(SIMULATE_UPLOADS) --users $(SIMULATE_USERS) --backend $(SIMULATE_BACKEND)

clean: gallery-stop localcloud-stop ## remove everything make installed or generated
	rm -rf $(VENV) node_modules .localcloud localcloud/node/node_modules cdk.out cdk.out.bench .cdk-bundles web/node_modules web/dist mutants
