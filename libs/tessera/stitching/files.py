"""Small output files written atomically: a temporary file beside the target, then a rename, so
a reader (or a restarted writer) sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def replace_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (UTF-8)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` to `path` atomically as indented, key-sorted JSON."""
    replace_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
