"""Write what the UI's generated API types are made from: the gateway's OpenAPI document and the
parameter schemas of each job type (the API takes `params` as a free-form object, so its OpenAPI
says nothing about them).

    python scripts/ui_api.py          # write ui/openapi.json and ui/src/shared/api/job-types.json
    python scripts/ui_api.py --check  # exit 1 when either file differs from what the code says

`make ui-api` runs this and then openapi-typescript (ui/src/shared/api/schema.d.ts). No server is
needed: `create_app()` builds the routes without starting anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "ui" / "openapi.json"
JOB_TYPES = ROOT / "ui" / "src" / "shared" / "api" / "job-types.json"


def openapi() -> dict[str, Any]:
    from tessera.gateway.app import create_app

    doc: dict[str, Any] = create_app().openapi()
    return doc


def job_types() -> dict[str, Any]:
    from tessera.workflows import JOB_TYPES as NAMES
    from tessera.workflows import MAX_RETRIES, NEEDS_SLIDE, PARAMS_BY_TYPE

    return {
        "max_retries": MAX_RETRIES,
        "types": {
            name: {
                "needs_slide": name in NEEDS_SLIDE,
                "description": (PARAMS_BY_TYPE[name].__doc__ or "").strip() or None,
                "params": PARAMS_BY_TYPE[name].model_json_schema(),
            }
            for name in NAMES
        },
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def outputs() -> dict[Path, str]:
    return {OPENAPI: render(openapi()), JOB_TYPES: render(job_types())}


def main(argv: list[str]) -> int:
    stale = []
    for path, text in outputs().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if "--check" in argv:
            stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        names = ", ".join(map(str, stale))
        print(f"stale: {names}; run `make ui-api` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
