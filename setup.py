"""Maps the repository layout (libs/, services/<name>/) onto one import package, `tessera`.

The design keeps shared code in `libs/` and each service in `services/<name>/`; this file turns
that tree into `tessera.*` (for example `services/branch-sequencer` -> `tessera.branch_sequencer`)
so that there is one distribution with one console command. Metadata lives in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
package_dir = {"tessera": "libs/tessera"}
for service in sorted((ROOT / "services").iterdir()):
    if (service / "__init__.py").exists():
        package_dir["tessera." + service.name.replace("-", "_")] = f"services/{service.name}"

packages = []
for name, rel in package_dir.items():
    base = ROOT / rel
    for init in sorted(base.rglob("__init__.py")):
        sub = init.parent.relative_to(base).parts
        packages.append(".".join((name, *sub)))

setup(package_dir=package_dir, packages=packages, include_package_data=True)
