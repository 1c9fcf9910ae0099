from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.slides.scene import Scene, SceneSpec
from tessera.stitching.cells import cell_table
from tessera.stitching.encoding import (
    MAX_PAYLOAD,
    EncodingError,
    InstanceResult,
    ProbabilityResult,
    decode,
    encode_instances,
    encode_probability,
)
from tessera.stitching.ownership import Instance, owned_instances
from tessera.tiling.grid import TileGrid

instances = st.lists(
    st.builds(
        lambda gid, x, y, bits, trunc: Instance(
            global_id=gid, x=x, y=y, mask=np.array(bits, bool), truncated=trunc
        ),
        st.integers(1, 2**63 - 1),
        st.integers(-64, 400),
        st.integers(-64, 400),
        st.lists(st.lists(st.booleans(), min_size=5, max_size=5), min_size=1, max_size=9),
        st.booleans(),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**40), instances)
def test_instances_round_trip(tile_index: int, items: list[Instance]) -> None:
    data = encode_instances(tile_index, (-64, -64), items)
    result = decode(data)
    assert isinstance(result, InstanceResult)
    assert result.tile_index == tile_index and (result.x, result.y) == (-64, -64)
    assert len(result.instances) == len(items)
    for got, want in zip(result.instances, items, strict=True):
        assert (got.global_id, got.x, got.y, got.truncated) == (
            want.global_id,
            want.x,
            want.y,
            want.truncated,
        )
        assert np.array_equal(got.mask, want.mask)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 1000), st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_probability_round_trip(tile_index: int, h: int, w: int, seed: int) -> None:
    prob = np.random.default_rng(seed).integers(0, 256, (h, w)).astype(np.uint8)
    result = decode(encode_probability(tile_index, (5, -3), prob))
    assert isinstance(result, ProbabilityResult)
    assert (result.tile_index, result.x, result.y) == (tile_index, 5, -3)
    assert np.array_equal(result.probability, prob)


def test_a_dense_512_tile_is_small() -> None:
    """Packed nuclei 10-14 px across, 16 px apart, in a 512² tile: ~20 KB, not 1 MiB."""
    scene = Scene(
        SceneSpec(
            width=2048,
            height=2048,
            mpp=0.5,
            seed=3,
            tissue_fraction=1.0,
            nucleus_spacing_um=8.0,
            nucleus_radius_um=(2.5, 3.5),
            nucleus_gap_um=0.5,
            occupancy=1.0,
        )
    )
    grid = TileGrid(width=2048, height=2048, tile_size=512, halo=64, level0_per_px=1)
    tile = grid.tile(grid.cols + 1)
    r = tile.read
    labels = scene.render_labels(r.x, r.y, r.width, r.height, 1.0)
    owned = owned_instances(labels, tile)
    data = encode_instances(tile.index, (r.x, r.y), owned)
    print(f"\n{len(owned)} owned nuclei in the core -> {len(data)} bytes")
    assert len(owned) > 500
    assert len(data) < 40 * len(owned)
    assert len(data) < MAX_PAYLOAD // 20
    with_rows = encode_instances(tile.index, (r.x, r.y), owned, cells=cell_table(owned, grid, 0))
    assert len(with_rows) < 100 * len(owned)  # a 16x larger tile of these would still fit


def test_garbage_is_refused() -> None:
    good = encode_probability(1, (0, 0), np.zeros((4, 4), np.uint8))
    with pytest.raises(EncodingError, match="magic"):
        decode(b"XXXX" + good[4:])
    with pytest.raises(EncodingError, match="truncated"):
        decode(good[:10])
    with pytest.raises(EncodingError, match="corrupt"):
        decode(good[:-3])


def test_offsets_must_fit() -> None:
    far = Instance(global_id=1, x=70_000, y=0, mask=np.ones((2, 2), bool))
    with pytest.raises(EncodingError, match="16-bit"):
        encode_instances(0, (0, 0), [far])


def test_cell_rows_travel_with_the_masks_and_are_checked() -> None:
    grid = TileGrid(width=256, height=256, tile_size=128, halo=16, level0_per_px=2.0, mpp=0.5)
    masks = [np.ones((3, 4), bool), np.eye(5, dtype=bool)]
    items = [Instance(global_id=7 + k, x=20 * k, y=10, mask=m) for k, m in enumerate(masks)]
    cells = cell_table(items, grid, tile_index=3)
    result = decode(encode_instances(3, (-16, -16), items, cells=cells))
    assert isinstance(result, InstanceResult) and result.cells is not None
    assert result.cells.equals(cells)
    assert [i.global_id for i in result.instances] == [7, 8]
    assert decode(encode_instances(3, (-16, -16), items)).cells is None  # rows are optional
    with pytest.raises(EncodingError, match="2 instances"):
        encode_instances(3, (0, 0), items, cells=cells.slice(0, 1))
    # the flag says rows follow, but the bytes after the masks are not an Arrow stream
    plain = encode_instances(3, (0, 0), items)
    body = zlib.decompress(plain[24:]) + b"not arrow"
    flagged = plain[:5] + b"\x01" + plain[6:24] + zlib.compress(body)
    with pytest.raises(EncodingError, match="corrupt cell rows"):
        decode(flagged)
    # without the flag, extra bytes are still refused
    with pytest.raises(EncodingError, match="trailing"):
        decode(plain[:24] + zlib.compress(body))
