"""Errors shared by Tessera's libraries and services.

    TesseraError
    ├── InvalidWorkflow        a submission that cannot run (fields: problems)
    ├── SlideError             a slide that is missing, outside the data root or unreadable
    ├── SlidesRefused          every refused slide of a submission (fields: refused)
    ├── NotFound               an id that does not exist for this tenant (never "forbidden")
    ├── Conflict               a request that the current state refuses (fields: state)
    └── BusError               a publish or request on NATS that did not go through
        ├── ConcurrencyConflict an append whose expected subject sequence was stale
        ├── KeyConflict         a key-value write whose expected revision was stale
        └── BusClosed           the connection is closed (a consumer stops pulling)

Only the gateway maps these to HTTP status codes.
"""

from __future__ import annotations


class TesseraError(Exception):
    """Base class of Tessera's own errors."""


class InvalidWorkflow(TesseraError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class SlideError(TesseraError):
    def __init__(self, slide: str, reason: str) -> None:
        super().__init__(f"slide {slide!r}: {reason}")
        self.slide = slide
        self.reason = reason


class SlidesRefused(TesseraError):
    """The slides of a submission that cannot be used, each with the ids of the jobs naming it."""

    def __init__(self, refused: list[tuple[SlideError, list[str]]]) -> None:
        super().__init__("; ".join(str(error) for error, _ in refused))
        self.refused = refused


class NotFound(TesseraError):
    def __init__(self, kind: str, ident: str, message: str | None = None) -> None:
        super().__init__(message or f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class Conflict(TesseraError):
    def __init__(self, message: str, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class BusError(TesseraError):
    """A NATS operation failed."""


class ConcurrencyConflict(BusError):
    def __init__(self, subject: str, expected: int) -> None:
        super().__init__(f"stale append on {subject!r} (expected last sequence {expected})")
        self.subject = subject
        self.expected = expected


class KeyConflict(BusError):
    def __init__(self, key: str, expected: int | None) -> None:
        want = "absent" if expected is None else f"at revision {expected}"
        super().__init__(f"key {key!r} is not {want}")
        self.key = key
        self.expected = expected


class BusClosed(BusError):
    """The bus's connection is closed."""
