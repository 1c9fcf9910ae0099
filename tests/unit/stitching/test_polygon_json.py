"""The rings' JSON text against `json`'s own, value for value."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.stitching.polygon_json import rings_json

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _reference(points: np.ndarray, lengths: list[int]) -> list[str]:
    """What the merger wrote before: the rounded points as Python floats, through `json`."""
    rounded = np.round(np.asarray(points, np.float64), 2).reshape(-1, 2).tolist()
    out, start = [], 0
    for n in lengths:
        out.append(_JSON(rounded[start : start + n]))
        start += n
    return out


_VALUE = st.one_of(
    st.floats(-1e7, 1e7, allow_nan=False),
    st.integers(-(10**9), 10**9).map(lambda k: k / 100),  # exact hundredths
    st.integers(-(10**7), 10**7).map(lambda k: k / 1000 + 0.005),  # halves at the rounding
    st.integers(0, 1 << 24).map(lambda k: float(np.float32(k / 8))),  # float32 contours
    st.sampled_from([0.0, -0.0, -0.004, 0.005, 0.015, 9.995, 1e12, -9.99e12, 123456789.995]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(_VALUE, _VALUE), max_size=12), max_size=8))
def test_rings_are_jsons_text(rings: list[list[tuple[float, float]]]) -> None:
    points = np.array([p for ring in rings for p in ring], np.float64).reshape(-1, 2)
    lengths = [len(ring) for ring in rings]
    assert rings_json(points, np.array(lengths, np.int64)) == _reference(points, lengths)


def test_every_hundredth_of_a_wide_range() -> None:
    values = np.arange(-2_000_000, 2_000_000, 7, dtype=np.int64) / 100
    values = values[: len(values) // 2 * 2].reshape(-1, 2)
    lengths = [len(values) // 2, len(values) - len(values) // 2]
    assert rings_json(values, np.array(lengths)) == _reference(values, lengths)


def test_refuses_what_it_cannot_write_as_json_does() -> None:
    with pytest.raises(ValueError, match="finite"):
        rings_json(np.array([[np.nan, 1.0]]), np.array([1]))
    with pytest.raises(ValueError, match="1e13"):
        rings_json(np.array([[2e13, 1.0]]), np.array([1]))
    with pytest.raises(ValueError, match="add up"):
        rings_json(np.zeros((3, 2)), np.array([2]))
