"""A snapshot is a pickle of a fold's state, valid for the state's SCHEMA_VERSION and shape
(`tessera.snapshots.fingerprint`). The shapes recorded in `snapshot_shapes/` are those of the
current versions, so a change to a state's classes (a field, a type, an enum member, in the
service or in `tessera.workflows`) fails here until its version is bumped and the new shape
recorded:

    TESSERA_RECORD_SHAPES=1 .venv/bin/pytest tests/unit/test_snapshot_shapes.py
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field, make_dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tessera.admission.domain import AdmissionState
from tessera.branch_sequencer.state import SequencerState
from tessera.merger.domain import MergerState
from tessera.snapshots import describe, fingerprint
from tessera.tiler.domain import TilerState

RECORDED = Path(__file__).with_name("snapshot_shapes")
STATES: dict[str, Any] = {
    "admission": AdmissionState,
    "branch-sequencer": SequencerState,
    "tiler": TilerState,
    "merger": MergerState,
}


@pytest.mark.parametrize("role", sorted(STATES))
def test_a_state_changes_shape_only_with_a_new_schema_version(role: str) -> None:
    state = STATES[role]
    current = {"version": state.SCHEMA_VERSION, "shape": describe(state)}
    path = RECORDED / f"{role}.json"
    if os.environ.get("TESSERA_RECORD_SHAPES") == "1":
        path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"recorded {path.name}")
    recorded = json.loads(path.read_text())
    if recorded["shape"] != current["shape"]:
        assert current["version"] != recorded["version"], (
            f"{state.__qualname__} changed shape: a snapshot of the old shape must not be loaded "
            f"into the new code. Bump {state.__qualname__}.SCHEMA_VERSION, then record the shape "
            "(see this module's docstring)"
        )
    assert recorded == current, f"record the shape of {state.__qualname__} version " + str(
        current["version"]
    )


class Colour(StrEnum):
    RED = "RED"


@dataclass
class Leaf:
    colour: Colour
    seen: OrderedDict[str, int] = field(default_factory=OrderedDict)


@dataclass
class Root:
    SCHEMA_VERSION: ClassVar[int] = 1
    leaves: dict[str, Leaf] = field(default_factory=dict)
    parent: Root | None = None


def test_the_shape_names_every_class_held_with_its_fields_and_members() -> None:
    shape = describe(Root)
    name = f"{__name__}.Root"
    assert shape[name] == {
        "fields": {
            "leaves": ["builtins.dict", "builtins.str", f"{__name__}.Leaf"],
            "parent": {"union": [name, "None"]},  # a class that holds itself: by name
        }
    }
    assert shape[f"{__name__}.Leaf"]["fields"]["seen"] == [
        "collections.OrderedDict",
        "builtins.str",
        "builtins.int",
    ]
    assert shape[f"{__name__}.Colour"] == {"enum": {"RED": "'RED'"}}


def tree(version: int, *leaf_fields: tuple[str, Any]) -> type:
    leaf = make_dataclass("Leaf", [("colour", Colour), *leaf_fields])
    return make_dataclass(
        "Root", [("leaves", dict[str, leaf])], namespace={"SCHEMA_VERSION": version}
    )


def test_a_fingerprint_follows_the_version_and_the_shape_of_nested_classes() -> None:
    before = fingerprint(tree(1))
    assert fingerprint(tree(1)) == before
    assert fingerprint(tree(2)) != before
    assert fingerprint(tree(1, ("extra", int))) != before  # a new field one level down
