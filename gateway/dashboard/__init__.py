"""The operators' dashboard: status, usage, costs and controls in the browser.

The HTML, scripts and styles ship in this package (``index.html``, ``static/``); the data comes
from the gateway's authenticated JSON endpoints, ``/v1/dashboard/summary`` and ``/v1/admin/*``.
"""

from gateway.dashboard.pages import SECURITY_HEADERS, DashboardPage, static_files
from gateway.dashboard.summary import DashboardSummary

__all__ = ["SECURITY_HEADERS", "DashboardPage", "DashboardSummary", "static_files"]
