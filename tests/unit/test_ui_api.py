"""The UI's generated API types and lists are made from what the code says now (`make ui-api`)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tessera.settings import REPO_ROOT


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ui_api", REPO_ROOT / "scripts" / "ui_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ui_openapi_job_types_and_states_are_current() -> None:
    gen = generator()
    for path, text in gen.outputs().items():
        name = path.relative_to(REPO_ROOT)
        assert path.read_text() == text, f"{name} is stale: run `make ui-api` and commit it"
