"""Errors of the gateway's own machinery (load protection and live streams).

    TesseraError
    └── GatewayError
        ├── RateLimited          a tenant spent its bucket (fields: verdict)
        ├── Overloaded           the process is at its in-flight cap (fields: retry_after)
        ├── LimiterUnavailable   the shared rate-limit store did not answer
        ├── TooManyStreams       a tenant or the process has too many live streams open
        ├── SlowConsumer         a live-stream client fell too far behind
        ├── UploadTooLarge       an upload passed the size limit (fields: limit)
        ├── Unauthenticated      no credential, or one that is not valid (token and jwt modes)
        ├── WrongTenant          X-User-ID names another tenant than the credential's
        ├── IssuerUnavailable    the JWKS of the token issuer could not be fetched
        ├── NotProjected         the read models did not reach a read's token in time (fields:
        │                        seq, projected)
        └── UnknownToken         a read's token is past the end of the log (fields: seq, last)

`tessera.gateway.api.errors` maps them to HTTP answers and WebSocket close codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.errors import TesseraError

if TYPE_CHECKING:
    from tessera.gateway.ratelimit import Verdict


class GatewayError(TesseraError):
    """Base class of the gateway's errors."""


class RateLimited(GatewayError):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(
            f"rate limit of the {verdict.limit.name!r} bucket reached "
            f"({verdict.limit.burst} requests, refilled at {verdict.limit.rate:g}/s)"
        )
        self.verdict = verdict


class Overloaded(GatewayError):
    def __init__(self, retry_after: float) -> None:
        super().__init__("the gateway is at capacity")
        self.retry_after = retry_after


class LimiterUnavailable(GatewayError):
    """The rate-limit store failed; callers fall back to a local bucket."""


class TooManyStreams(GatewayError):
    def __init__(self, limit: int, scope: str) -> None:
        super().__init__(f"too many live streams open {scope} (at most {limit})")
        self.limit = limit
        self.scope = scope


class SlowConsumer(GatewayError):
    def __init__(self, buffered: int) -> None:
        super().__init__(
            f"the client fell {buffered} updates behind; reconnect with ?cursor=<last seq received>"
        )
        self.buffered = buffered


class UploadTooLarge(GatewayError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"upload too large: at most {limit} bytes are accepted")
        self.limit = limit


class Unauthenticated(GatewayError):
    """The message says what was wrong and never repeats the credential."""


class WrongTenant(GatewayError):
    def __init__(self) -> None:
        super().__init__(
            "X-User-ID names another tenant than your credential; send your own tenant's id "
            "or leave the header out"
        )


class IssuerUnavailable(GatewayError):
    """The credential could not be checked (the JWKS did not answer); not the client's fault."""


class NotProjected(GatewayError):
    def __init__(self, seq: int, projected: int) -> None:
        super().__init__(
            f"the read models do not hold log sequence {seq} yet (they reach {projected}); "
            "your write is recorded, retry the read shortly"
        )
        self.seq = seq
        self.projected = projected


class UnknownToken(GatewayError):
    def __init__(self, seq: int, last: int) -> None:
        super().__init__(
            f"consistency token {seq} is past the end of the log ({last}): "
            "use the X-Tessera-Seq a write of this deployment answered"
        )
        self.seq = seq
        self.last = last
