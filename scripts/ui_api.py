"""Write what the UI's generated API types are made from: the gateway's OpenAPI document, the
parameter schemas of each job type (the API takes `params` as a free-form object, so its OpenAPI
says nothing about them) and the job and workflow states with the terminal ones (the OpenAPI
types the states as enums, but a .d.ts has no values at run time and says nothing of which end).

    python scripts/ui_api.py          # write ui/openapi.json, job-types.json and states.json
    python scripts/ui_api.py --check  # exit 1 when any file differs from what the code says

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
STATES = ROOT / "ui" / "src" / "shared" / "api" / "states.json"


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


def states() -> dict[str, list[str]]:
    from tessera.workflows import (
        TERMINAL_JOB_STATES,
        TERMINAL_WORKFLOW_STATES,
        JobState,
        WorkflowState,
    )

    return {
        "job_states": [s.value for s in JobState],
        "terminal_job_states": [s.value for s in JobState if s in TERMINAL_JOB_STATES],
        "workflow_states": [s.value for s in WorkflowState],
        "terminal_workflow_states": [
            s.value for s in WorkflowState if s in TERMINAL_WORKFLOW_STATES
        ],
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def outputs() -> dict[Path, str]:
    return {
        OPENAPI: render(openapi()),
        JOB_TYPES: render(job_types()),
        STATES: render(states()),
    }


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
