from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from tessera.stitching.ownership import IdPacking, owned_instances
from tessera.tiling.grid import TileGrid
from tests.unit.stitching.fields import crop, random_label_field


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.tuples(st.integers(20, 160), st.integers(20, 160)),
    diameter=st.integers(1, 14),
    core=st.integers(8, 60),
    extra_halo=st.integers(0, 6),
)
def test_every_object_is_owned_exactly_once_and_whole(
    seed: int, size: tuple[int, int], diameter: int, core: int, extra_halo: int
) -> None:
    h, w = size
    field = random_label_field(seed, h, w, diameter, count=h * w // 60)
    # The guarantee needs a halo at least as large as the objects' pixel extent.
    boxes = [b for b in ndimage.find_objects(field) if b is not None]
    extent = max((max(b[0].stop - b[0].start, b[1].stop - b[1].start) for b in boxes), default=1)
    halo = extent + extra_halo
    grid = TileGrid(width=w, height=h, tile_size=core + 2 * halo, halo=halo, level0_per_px=1)
    owners: Counter[int] = Counter()
    ids = set()
    for tile in grid.tiles():
        for inst in owned_instances(crop(field, tile), tile):
            iy, ix = np.argwhere(inst.mask)[0]
            value = int(field[inst.y + iy, inst.x + ix])
            owners[value] += 1
            ids.add(inst.global_id)
            whole = field[inst.y : inst.y + inst.height, inst.x : inst.x + inst.width] == value
            assert np.array_equal(inst.mask, whole)
            assert np.count_nonzero(field == value) == inst.area
            assert not inst.truncated
    expected = set(np.unique(field[field > 0]).tolist())
    assert set(owners) == expected
    assert all(n == 1 for n in owners.values())
    assert len(ids) == len(expected)


def test_a_halo_smaller_than_the_objects_breaks_the_rule() -> None:
    """The negative control: the property above needs halo >= object size."""
    field = np.zeros((40, 40), np.int32)
    field[5:35, 15:25] = 1  # 30 px tall, tiles of core 20 with a 2 px halo
    grid = TileGrid(width=40, height=40, tile_size=24, halo=2, level0_per_px=1)
    owned = [i for t in grid.tiles() for i in owned_instances(crop(field, t), t)]
    assert len(owned) > 1  # counted several times
    assert all(i.truncated and i.area < np.count_nonzero(field) for i in owned)


def test_centroid_on_a_core_edge_goes_to_the_right_and_lower_tile() -> None:
    grid = TileGrid(width=20, height=10, tile_size=14, halo=2, level0_per_px=1)
    field = np.zeros((10, 20), np.int32)
    field[4:6, 9:11] = 5  # centroid x = 10.0 exactly: the edge between cores [0,10) [10,20)
    owners = [t.index for t in grid.tiles() if owned_instances(crop(field, t), t)]
    assert owners == [1]


def test_local_ids_follow_label_order_and_pack_into_global_ids() -> None:
    grid = TileGrid(width=30, height=30, tile_size=30, halo=0, level0_per_px=1)
    labels = np.zeros((30, 30), np.float32)  # InstanSeg hands back float labels
    labels[2:5, 2:5] = 900.0
    labels[10:12, 10:12] = 40.0
    packing = IdPacking()
    owned = owned_instances(labels, grid.tile(0), packing)
    assert [packing.unpack(i.global_id)[1] for i in owned] == [1, 2]
    assert owned[0].area == 4 and owned[1].area == 9
    big = labels.astype(np.int64) * 10_000  # values past the lookup-table path
    assert [i.area for i in owned_instances(big, grid.tile(0), packing)] == [4, 9]


def test_labels_must_match_the_read_box() -> None:
    grid = TileGrid(width=30, height=30, tile_size=20, halo=2, level0_per_px=1)
    with pytest.raises(ValueError, match="read box"):
        owned_instances(np.zeros((16, 16), np.int32), grid.tile(0))


def test_id_packing_budgets() -> None:
    small = IdPacking.for_tiles(65_536)
    assert (small.dtype, small.tile_bits, small.max_local) == ("uint32", 16, 65_535)
    assert IdPacking.for_tiles(65_537).dtype == "uint64"
    gid = small.pack(65_535, 65_535)
    assert gid == 2**32 - 1
    tile, local = small.unpack(np.array([gid, small.pack(3, 7)]))
    assert tile.tolist() == [65_535, 3] and local.tolist() == [65_535, 7]
    with pytest.raises(ValueError):
        small.pack(65_536, 1)
    with pytest.raises(ValueError):
        small.pack(0, 0)
    with pytest.raises(ValueError):
        small.pack(0, 65_536)


def test_too_many_instances_for_the_local_budget() -> None:
    grid = TileGrid(width=8, height=8, tile_size=8, halo=0, level0_per_px=1)
    labels = np.arange(1, 65, dtype=np.int32).reshape(8, 8)
    with pytest.raises(ValueError, match="owns 64 instances"):
        owned_instances(labels, grid.tile(0), IdPacking(local_bits=5))
