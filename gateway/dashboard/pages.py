"""The dashboard's HTML shell (``GET /dashboard``) and its static files (``/dashboard/static``).

Neither needs an API key, because a browser cannot send one on navigation, and neither holds
any data: the page's script asks the authenticated JSON endpoints for everything, with the key
the operator typed into its login form (kept in ``sessionStorage``). A strict Content Security
Policy allows scripts, styles and requests from this origin only, so an injected string can
neither run nor send the key elsewhere.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["SECURITY_HEADERS", "DashboardPage", "static_files"]

_PACKAGE: Final = resources.files("gateway.dashboard")
SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    # Revalidate every time (ETag): a browser never runs an old script against a new gateway.
    "cache-control": "no-cache",
}


class DashboardPage:
    """``GET /dashboard``: the page, rendered once with the auth setting."""

    def __init__(self, *, auth_enabled: bool) -> None:
        template = (_PACKAGE / "index.html").read_text(encoding="utf-8")
        self._html = template.replace("{{auth}}", "enabled" if auth_enabled else "disabled")

    async def page(self, request: Request) -> Response:
        """The HTML shell; it holds no data."""
        return HTMLResponse(self._html, headers=SECURITY_HEADERS)


class _StaticFiles(StaticFiles):
    """Starlette's static files with the dashboard's security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def static_files() -> StaticFiles:
    """The app for ``/dashboard/static``: the package's ``static`` folder."""
    return _StaticFiles(packages=[("gateway.dashboard", "static")])
