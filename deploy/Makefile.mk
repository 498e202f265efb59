# Deployment targets. Include this file at the END of the root Makefile (so $(PY_STAMP),
# the virtualenv's install stamp, is already defined):
#
#   include deploy/Makefile.mk
#
#   make package STAGE=prod   offline: build/prod/sam.yaml + deployment.zip for the pinned runtime (python3.13), cfn-lint
#   make deploy  STAGE=prod   package, upload, CloudFormation change set, execute
#   make destroy STAGE=prod   delete the stack; the table and the lake bucket are kept
#
# Options: AWS_REGION / AWS_PROFILE as usual, ALARM_EMAIL=ops@example.com,
# PANDAS_LAYER_ARN=arn:... (else deploy/pandas-layers.json),
# DEPLOY_ARGS="--param Key=Value --no-execute" (deploy) or "--yes" (destroy). See docs/deploy.md.

STAGE ?= dev
DEPLOY_PYTHON ?= .venv/bin/python
DEPLOY_ARGS ?=

.PHONY: package deploy destroy

package: $(PY_STAMP)
	$(DEPLOY_PYTHON) -m deploy package --stage $(STAGE)

deploy: $(PY_STAMP)
	$(DEPLOY_PYTHON) -m deploy deploy --stage $(STAGE) $(DEPLOY_ARGS)

destroy: $(PY_STAMP)
	$(DEPLOY_PYTHON) -m deploy destroy --stage $(STAGE) $(DEPLOY_ARGS)
