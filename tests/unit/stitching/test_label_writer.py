from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from zarr.storage import MemoryStore

from tessera.stitching.ownership import IdPacking, Instance, owned_instances
from tessera.stitching.writer import LabelImageWriter
from tessera.tiling.grid import TileGrid
from tests.unit.stitching.fields import crop, random_label_field

GRID = TileGrid(width=150, height=110, tile_size=52, halo=10, level0_per_px=2.0, mpp=0.5)


def _tile_results(seed: int) -> dict[int, list[Instance]]:
    """Owned instances per tile from a 'model' that grows every object by a pixel.

    Touching objects then claim each other's border pixels, and objects owned by different
    tiles overlap: exactly the conflicts the lower-id rule must settle.
    """
    field = random_label_field(seed, GRID.height, GRID.width, 9, count=240)
    grown = ndimage.grey_dilation(field, size=3)
    return {t.index: owned_instances(crop(grown, t), t) for t in GRID.tiles()}


def _write(path: Path, results: dict[int, list[Instance]], order: list[int], cache: int):
    writer = LabelImageWriter.create(
        path, GRID, IdPacking.for_tiles(GRID.n_tiles), chunk=32, cache_chunks=cache
    )
    for k, index in enumerate(order):
        writer.apply(index, results[index])
        if k % 5 == 4:
            writer.flush()
    writer.flush()
    return writer


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shuffle=st.randoms(use_true_random=False),
    cache=st.integers(1, 12),
)
def test_merge_order_does_not_matter(seed: int, shuffle: random.Random, cache: int) -> None:
    results = _tile_results(seed)
    order = list(results)
    reference = _write(MemoryStore(), results, order, cache=64).read(0, 110, 0, 150)
    shuffled = order + shuffle.sample(order, k=len(order) // 3)  # with redeliveries
    shuffle.shuffle(shuffled)
    other = _write(MemoryStore(), results, shuffled, cache=cache).read(0, 110, 0, 150)
    assert np.array_equal(reference, other)
    # Every claimed pixel holds the lowest id that claimed it.
    lowest = np.zeros_like(reference)
    for instances in results.values():
        for inst in instances:
            view = lowest[inst.y : inst.y + inst.height, inst.x : inst.x + inst.width]
            h, w = view.shape
            m = inst.mask[:h, :w]
            view[m] = np.where(view[m] == 0, inst.global_id, np.minimum(view[m], inst.global_id))
    assert np.array_equal(reference, lowest)


def test_touching_instances_from_two_tiles_go_to_the_lower_id(tmp_path: Path) -> None:
    a = Instance(global_id=70_000, x=10, y=10, mask=np.ones((4, 4), bool))
    b = Instance(global_id=5, x=12, y=12, mask=np.ones((4, 4), bool))
    writer = LabelImageWriter.create(tmp_path / "l.zarr", GRID, chunk=32)
    writer.apply(1, [a])
    writer.apply(0, [b])
    out = writer.read(10, 16, 10, 16)
    assert out[0, 0] == 70_000 and out[2, 2] == 5 and out[5, 5] == 5 and out[3, 1] == 70_000


def test_instances_past_the_edge_are_clipped(tmp_path: Path) -> None:
    writer = LabelImageWriter.create(tmp_path / "l.zarr", GRID, chunk=32)
    writer.apply(0, [Instance(global_id=9, x=-3, y=105, mask=np.ones((10, 10), bool))])
    out = writer.read(0, 110, 0, 150)
    assert np.count_nonzero(out) == 7 * 5 and out[109, 6] == 9


def test_cache_stays_bounded_and_flush_persists(tmp_path: Path) -> None:
    results = _tile_results(1)
    writer = LabelImageWriter.create(tmp_path / "l.zarr", GRID, chunk=16, cache_chunks=3)
    for index, instances in results.items():
        writer.apply(index, instances)
        assert len(writer._cache._chunks) <= 3
    writer.flush()
    on_disk = np.asarray(zarr.open_group(str(tmp_path / "l.zarr"), mode="r")["0"][:])
    assert np.array_equal(on_disk, writer.read(0, 110, 0, 150))
    assert np.count_nonzero(on_disk) > 0


def test_reopen_after_a_restart_keeps_the_ledger(tmp_path: Path) -> None:
    results = _tile_results(2)
    writer = LabelImageWriter.create(tmp_path / "l.zarr", GRID, chunk=32)
    for index in (0, 3, 5):
        writer.apply(index, results[index])
    writer.flush()
    writer.apply(7, results[7])  # not flushed: lost with the process, redelivered later
    again = LabelImageWriter.open(tmp_path / "l.zarr")
    assert again.tiles_done().tolist() == [0, 3, 5]
    for index in results:
        again.apply(index, results[index])
    whole = _write(tmp_path / "ref.zarr", results, list(results), cache=64)
    assert np.array_equal(again.read(0, 110, 0, 150), whole.read(0, 110, 0, 150))


def test_pyramid_and_ome_metadata(tmp_path: Path) -> None:
    writer = _write(tmp_path / "l.zarr", _tile_results(4), list(range(GRID.n_tiles)), 64)
    shapes = writer.finalise()  # chunk 32: levels halve until one fits 32 px
    assert shapes == [(110, 150), (55, 75), (28, 38), (14, 19)]
    group = zarr.open_group(str(tmp_path / "l.zarr"), mode="r")
    level0 = np.asarray(group["0"][:])
    assert np.array_equal(np.asarray(group["1"][:]), level0[::2, ::2])
    assert np.array_equal(np.asarray(group["3"][:]), level0[::8, ::8])
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    ms = ome["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["y", "x"]
    assert ms["axes"][0]["unit"] == "micrometer"
    scales = [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]]
    assert scales == [[0.5, 0.5], [1.0, 1.0], [2.0, 2.0], [4.0, 4.0]]
    assert group.attrs["tessera"]["level0_per_px"] == [2.0, 4.0, 8.0, 16.0]
    assert group["0"].metadata.dimension_names == ("y", "x")


def _levels_match_level0(path: Path, levels: int) -> None:
    group = zarr.open_group(str(path), mode="r")
    level0 = np.asarray(group["0"][:])
    assert level0.any()
    for k in range(1, levels):
        step = 2**k
        assert np.array_equal(np.asarray(group[str(k)][:]), level0[::step, ::step]), k


@settings(max_examples=5, deadline=None)
@given(shuffle=st.randoms(use_true_random=False), cache=st.integers(1, 6))
def test_levels_kept_up_to_date_while_tiles_arrive(
    tmp_path_factory: pytest.TempPathFactory, shuffle: random.Random, cache: int
) -> None:
    """Any arrival order and any cache size (evictions write levels out early) give levels
    equal to level 0 subsampled, without building them at the end."""
    path = tmp_path_factory.mktemp("l") / "l.zarr"
    results = _tile_results(5)
    order = list(results) + shuffle.sample(list(results), k=4)  # with redeliveries
    shuffle.shuffle(order)
    writer = _write(path, results, order, cache=cache)
    assert len(writer.finalise()) == 4
    _levels_match_level0(path, 4)


def test_a_restarted_writer_rebuilds_levels_it_never_wrote_out(tmp_path: Path) -> None:
    results = _tile_results(6)
    order = list(results)
    path = tmp_path / "l.zarr"
    first = LabelImageWriter.create(path, GRID, chunk=32)
    for index in order[: len(order) // 2]:
        first.apply(index, results[index])
    first.flush()  # level 0 and the ledger are on disk; the levels above only in memory
    del first  # the process dies
    again = LabelImageWriter.open(path)
    for index in order[len(order) // 2 :]:
        again.apply(index, results[index])
    assert len(again.finalise()) == 4
    _levels_match_level0(path, 4)


def test_a_store_written_before_levels_were_kept_gets_them_on_open(tmp_path: Path) -> None:
    results = _tile_results(7)
    path = tmp_path / "l.zarr"
    old = LabelImageWriter.create(path, GRID, chunk=32)
    for index, instances in results.items():
        old.apply(index, instances)
    old.flush()
    group = zarr.open_group(str(path), mode="r+")
    for k in range(1, 4):
        del group[str(k)]
    meta = dict(group.attrs["tessera"])
    del meta["levels"]
    group.attrs["tessera"] = meta
    assert LabelImageWriter.open(path).finalise() == [(110, 150), (55, 75), (28, 38), (14, 19)]
    _levels_match_level0(path, 4)
