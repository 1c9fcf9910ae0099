"""Credentials kept out of logs: the query-string credential taken out of the scope, and the
filter on the server's loggers."""

from __future__ import annotations

import logging
from typing import Any

from tessera.gateway.middleware.auth import HideQueryCredential, RedactCredentials

TOKEN = "tsr_0123456789ab_s3cr-et_Value"


async def test_an_access_token_leaves_the_query_string_for_the_request_state() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(dict(scope))

    scope: dict[str, Any] = {
        "type": "websocket",
        "path": "/v1/stream",
        "query_string": f"cursor=now&access_token={TOKEN}&tenant=x%20y".encode(),
    }
    await HideQueryCredential(app)(scope, None, None)  # type: ignore[arg-type]
    # the server's own dict is changed: it prints its access lines from it
    assert scope["query_string"] == b"cursor=now&tenant=x+y"
    assert scope["state"] == {"access_token": TOKEN}
    assert seen[0]["query_string"] == b"cursor=now&tenant=x+y"
    untouched = {"type": "http", "path": "/v1/workflows", "query_string": b"state=RUNNING"}
    await HideQueryCredential(app)(untouched, None, None)  # type: ignore[arg-type]
    assert untouched == {"type": "http", "path": "/v1/workflows", "query_string": b"state=RUNNING"}


def test_the_log_filter_hides_every_form_of_a_bearer_credential() -> None:
    lines = {
        f'127.0.0.1:5 - "WebSocket /v1/stream?cursor=0&access_token={TOKEN}" [accepted]': (
            '127.0.0.1:5 - "WebSocket /v1/stream?cursor=0&access_token=[hidden]" [accepted]'
        ),
        f"< sec-websocket-protocol: tenant.abc, bearer.{TOKEN}": (
            "< sec-websocket-protocol: tenant.abc, bearer.[hidden]"
        ),
        f"< authorization: Bearer {TOKEN}": "< authorization: Bearer [hidden]",
        "GET /v1/workflows 200": "GET /v1/workflows 200",
    }
    for line, shown in lines.items():
        record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "%s", (line,), None)
        assert RedactCredentials().filter(record)
        assert record.getMessage() == shown
