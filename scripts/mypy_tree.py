"""Lay out `tessera` for mypy as it is installed (libs/ and services/ merged) with symlinks.

setup.py maps `services/<name>` onto `tessera.<name>` at install time; mypy reads source folders
and cannot follow that mapping, so lint type-checks this symlinked view of the same files.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(out: Path) -> Path:
    pkg = out / "tessera"
    if out.exists():
        shutil.rmtree(out)
    pkg.mkdir(parents=True)
    for entry in (ROOT / "libs" / "tessera").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for service in (ROOT / "services").iterdir():
        if (service / "__init__.py").exists():
            (pkg / service.name.replace("-", "_")).symlink_to(service)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".state" / "mypy"))
