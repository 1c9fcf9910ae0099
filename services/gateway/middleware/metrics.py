"""Request counts and latency by method, route template and status (Prometheus)."""

from __future__ import annotations

import re
import time

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera import telemetry
from tessera.gateway.ui import reserved


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    def _template(self, scope: Scope) -> str:
        """The route template of a path (ids must not explode the label set)."""
        if self._templates is None:  # from the OpenAPI document: the routes as published
            paths = scope["app"].openapi()["paths"]
            self._templates = [(compile_path(p)[0], p) for p in paths]
        for regex, template in self._templates:
            if regex.match(scope["path"]):
                return template
        if scope["method"] in ("GET", "HEAD") and not reserved(scope["path"]):
            return "ui"  # the web UI's files and client routes (tessera.gateway.ui)
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = self._template(scope)
            telemetry.HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            telemetry.HTTP_LATENCY.labels(scope["method"], route).observe(
                time.perf_counter() - start
            )
