# Image service: one command to run it locally, one to test it.
#   make up     install into project-local folders, start the local cloud, deploy, print the API URL
#   make test   lint, types, unit, infrastructure, local-cloud, integration and load tests
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
# The local development issuer (the local cloud has no Cognito): its key pair, and the
# issuer.json whose public keys the CDK app hands to the functions.
DEV_ISSUER := .localcloud/dev-issuer
# What the local stage is synthesized with; AUTH_MODE=none deploys it without authentication.
LOCAL_CONTEXT := -c stage=$(STAGE) -c s3_public_endpoint=$(LOCALCLOUD_URL) \
	-c dev_issuer=$(DEV_ISSUER)/issuer.json $(if $(AUTH_MODE),-c auth_mode=$(AUTH_MODE))

.PHONY: help up down url token dev-issuer install localcloud-install localcloud-start localcloud-stop localcloud-status \
	localcloud-logs bootstrap-local deploy-local destroy-local synth deploy-aws check lint typecheck \
	test test-unit test-infra test-localcloud test-integration test-load fuzz bad-input load reconcile bench mutation openapi clean

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

install: $(VENV)/.installed node_modules/.installed localcloud-install ## install everything (project venv, CDK CLI, local cloud)

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

destroy-local: dev-issuer ## remove the image service from the local cloud
	$(LOCALCLOUD_ENV) $(CDKLOCAL) destroy $(STACK) $(LOCAL_CONTEXT) --force

up: deploy-local ## install, start the local cloud, deploy, print the API URL and a walkthrough
	@$(PYTHON) -m localcloud.outputs walkthrough $(OUTPUTS)

url: ## print the deployed API's base URL
	@$(PYTHON) -m localcloud.outputs url $(OUTPUTS)

token: dev-issuer ## print a bearer token of the local development issuer, valid 1 h: make token USER=alice
	@$(PYTHON) -m localcloud.dev_issuer --dir $(DEV_ISSUER) token "$(USER)"

down: localcloud-stop ## stop the local cloud

# --- real AWS ------------------------------------------------------------------------------

synth: $(VENV)/.installed node_modules/.installed ## synthesize the CloudFormation template (STAGE=dev|prod)
	$(CDK) synth $(STACK) -c stage=$(STAGE) --quiet

deploy-aws: $(VENV)/.installed node_modules/.installed ## deploy to the AWS account of your credentials (STAGE=dev|prod)
	$(CDK) deploy $(STACK) -c stage=$(STAGE)

# --- quality -----------------------------------------------------------------------------------

lint: $(VENV)/.installed ## ruff
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

typecheck: $(VENV)/.installed ## mypy (strict)
	$(PYTHON) -m mypy

check: lint typecheck

test-unit: $(VENV)/.installed ## unit tests (no network)
	$(PYTEST) tests/unit -q

test-infra: $(VENV)/.installed ## CDK assertions and cdk-nag (no network)
	$(PYTEST) tests/infrastructure -q

test-localcloud: install ## the local cloud's own tests (starts it, deploys a test stack)
	$(LOCALCLOUD_ENV) $(PYTEST) tests/localcloud -q

test-integration: deploy-local ## the image service against the local cloud
	$(LOCALCLOUD_ENV) $(PYTEST) tests/integration -q

test-load: deploy-local ## load on the local cloud: 100 concurrent upload flows; concurrent edits, downloads, re-uploads, deletes of one image
	$(LOCALCLOUD_ENV) $(PYTEST) tests/load -q

test: check test-unit test-infra test-localcloud test-integration test-load ## everything CI runs

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

bench: deploy-local ## API latency and throughput against the local cloud, with a floor measured in the same run
	$(LOCALCLOUD_ENV) $(PYTHON) -m bench.api_bench --outputs $(OUTPUTS)

clean: localcloud-stop ## remove everything make installed or generated
	rm -rf $(VENV) node_modules .localcloud localcloud/node/node_modules cdk.out .cdk-bundles mutants
