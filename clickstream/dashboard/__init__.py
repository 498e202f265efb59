"""Dashboards as code: quicksight/dashboard.yaml rendered two ways.

* locally, by `make run` at /dashboard: the panel SQL on DuckDB, charts drawn by
  static/dashboard.js (plain SVG, no CDN);
* on AWS, by `clickstream quicksight deploy`: Athena datasets, an analysis and a
  published dashboard (clickstream/quicksight.py).
"""

from clickstream.dashboard.pages import pages

__all__ = ["pages"]
