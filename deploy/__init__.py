"""Deployment of the Chalice app and its stateful resources to AWS (docs/deploy.md).

* ``package.py``: offline build, ``chalice package --merge-template deploy/resources.yaml``
  into ``build/<stage>/``, then cfn-lint. No AWS call.
* ``cloudformation.py``: upload the package and deploy or delete the stack with boto3
  (the machine that deploys needs no AWS CLI).
* ``__main__.py``: ``python -m deploy package|deploy|destroy|layer`` (used by Makefile.mk).
"""
