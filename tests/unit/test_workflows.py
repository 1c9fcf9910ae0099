"""DAG validation: every problem is named, valid specs are normalised."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import InvalidWorkflow
from tessera.workflows import (
    JOB_TYPES,
    NEEDS_SLIDE,
    PARAMS_BY_TYPE,
    WorkflowSpec,
    find_cycle,
    validate_workflow,
)


def spec(*jobs: dict) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"name": "t", "jobs": list(jobs)})


def test_valid_workflow_gets_default_params_and_keeps_order() -> None:
    out = validate_workflow(
        spec(
            {"id": "a", "type": "synthetic", "branch": "x"},
            {"id": "b", "type": "synthetic", "branch": "y", "depends_on": ["a"]},
            {"id": "c", "type": "synthetic", "branch": "x"},
        )
    )
    assert [j.id for j in out.jobs] == ["a", "b", "c"]
    assert out.jobs[0].params == {
        "tiles": 20,
        "seconds_per_tile": 0.01,
        "failure_probability": 0.0,
        "failing_attempts": 0,
    }
    assert out.lanes() == {"x": ["a", "c"], "y": ["b"]}


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("CMU-1.svs", "CMU-1.svs"),
        ("./uploads//t/x.svs", "uploads/t/x.svs"),
        ("a/./b/c.svs", "a/b/c.svs"),
        ("a/../b.svs", "a/../b.svs"),  # left as given: the slide checks refuse '..'
        ("/etc/passwd", "/etc/passwd"),  # and absolute paths
    ],
)
def test_a_slide_reference_is_stored_in_one_spelling(given: str, stored: str) -> None:
    out = validate_workflow(spec({"id": "m", "type": "tissue_mask", "slide": given}))
    assert out.jobs[0].slide == stored


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(InvalidWorkflow) as err:
        validate_workflow(
            spec(
                {"id": "a", "type": "synthetic", "depends_on": ["ghost"]},
                {"id": "a", "type": "wat"},
                {"id": "m", "type": "tissue_mask"},
                {"id": "s", "type": "synthetic", "params": {"tiles": 0, "nope": 1}},
            )
        )
    text = str(err.value)
    for needle in (
        "duplicate job id 'a'",
        "unknown job 'ghost'",
        "unknown type 'wat'",
        "'m' of type 'tissue_mask' needs a slide",
        "params.tiles",
        "params.nope",
    ):
        assert needle in text


def test_cycle_is_named() -> None:
    with pytest.raises(InvalidWorkflow, match="dependency cycle: "):
        validate_workflow(
            spec(
                {"id": "a", "type": "synthetic", "depends_on": ["c"]},
                {"id": "b", "type": "synthetic", "depends_on": ["a"]},
                {"id": "c", "type": "synthetic", "depends_on": ["b"]},
            )
        )


def test_self_dependency_is_refused() -> None:
    with pytest.raises(InvalidWorkflow, match="depends on itself"):
        validate_workflow(spec({"id": "a", "type": "synthetic", "depends_on": ["a"]}))


@pytest.mark.parametrize("bad", ["", "a b", "-x", "x" * 65, "é"])
def test_job_ids_are_restricted(bad: str) -> None:
    with pytest.raises(ValueError):
        spec({"id": bad, "type": "synthetic"})


@given(st.integers(2, 12), st.data())
def test_find_cycle_agrees_with_a_reachability_check(n: int, data: st.DataObject) -> None:
    edges = data.draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30))
    jobs = [
        {
            "id": f"j{i}",
            "type": "synthetic",
            "depends_on": sorted({f"j{b}" for a, b in edges if a == i}),
        }
        for i in range(n)
    ]
    graph = {i: {b for a, b in edges if a == i} for i in range(n)}

    def reaches(src: int, dst: int) -> bool:
        seen, todo = set(), list(graph[src])
        while todo:
            x = todo.pop()
            if x == dst:
                return True
            if x not in seen:
                seen.add(x)
                todo.extend(graph[x])
        return False

    has_cycle = any(reaches(i, i) for i in range(n))
    cycle = find_cycle(spec(*jobs))
    assert (cycle is not None) == has_cycle
    if cycle:
        assert cycle[0] == cycle[-1]


def test_every_job_type_of_the_literal_has_its_parameters() -> None:
    assert JOB_TYPES == ("synthetic", "tissue_mask", "cell_segmentation")
    assert set(PARAMS_BY_TYPE) == set(JOB_TYPES)
    assert NEEDS_SLIDE.issubset(JOB_TYPES)
