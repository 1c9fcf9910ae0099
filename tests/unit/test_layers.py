"""The layering contracts in pyproject.toml (`make lint` runs import-linter on them) name every
module they are about, so a new library module or service cannot slip past them."""

from __future__ import annotations

import tomllib

from tessera.settings import REPO_ROOT

CONTRACTS = {
    c["id"]: c
    for c in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}
COMPOSITION_ROOT = {"tessera.cli"}  # the `tessera` command, which starts the services


def services() -> set[str]:
    return {
        "tessera." + d.name.replace("-", "_")
        for d in (REPO_ROOT / "services").iterdir()
        if (d / "__init__.py").exists()
    }


def libraries() -> set[str]:
    root = REPO_ROOT / "libs" / "tessera"
    modules = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    packages = {d.name for d in root.iterdir() if (d / "__init__.py").exists()}
    return {f"tessera.{name}" for name in modules | packages} - COMPOSITION_ROOT


def test_every_library_module_is_forbidden_to_import_every_service() -> None:
    assert set(CONTRACTS["libs"]["source_modules"]) == libraries()
    assert set(CONTRACTS["libs"]["forbidden_modules"]) == services()


def test_every_service_is_independent_of_the_others() -> None:
    assert set(CONTRACTS["services"]["modules"]) == services()
