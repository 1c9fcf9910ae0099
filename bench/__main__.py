"""`make bench`: run every benchmark in turn; each prints its own figures.

Each script also runs alone (`python bench/<name>.py --help`). Figures are recorded in
docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
ORDER = [
    "scheduler",
    "dispatch_bus",
    "restart",
    "scale",
    "seams",
    "cells",
    "slide_read",
    "gateway_load",
    "model_quality",
    "throughput",
]


def main() -> int:
    failed = []
    for name in ORDER:
        script = HERE / f"{name}.py"
        if not script.exists():
            continue
        print(f"\n=== bench/{name}.py", flush=True)
        t0 = time.monotonic()
        code = subprocess.call([sys.executable, str(script)])
        print(f"=== bench/{name}.py: exit {code} after {time.monotonic() - t0:.0f} s", flush=True)
        if code:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
