"""Errors of the segmentation package.

    SegmentationError
    ├── ModelUnavailable   a model setting that cannot be turned into a loaded model
    │                      (fields: setting, path, reason): missing file, corrupt file,
    │                      unknown name, published model not cached while offline
    └── CheckpointMismatch a training checkpoint that belongs to another architecture

They derive from `tessera.errors.TesseraError` so services can treat them like any other domain
error; a job that hits `ModelUnavailable` fails with `str(error)` as its reason, which names the
setting, the file and what to do about it.
"""

from __future__ import annotations

from pathlib import Path

from tessera.errors import TesseraError


class SegmentationError(TesseraError):
    """Base class of the segmentation package's errors."""


class ModelUnavailable(SegmentationError):
    def __init__(self, setting: str, reason: str, path: Path | None = None) -> None:
        where = f" ({path})" if path is not None else ""
        super().__init__(f"model {setting!r}{where} is unavailable: {reason}")
        self.setting = setting
        self.reason = reason
        self.path = path


class CheckpointMismatch(SegmentationError):
    def __init__(self, path: Path, field: str, found: object, expected: object) -> None:
        super().__init__(
            f"checkpoint {path} was trained with {field}={found!r}, this run asks for "
            f"{expected!r}; use another --out or the same settings"
        )
        self.path = path
        self.field = field
