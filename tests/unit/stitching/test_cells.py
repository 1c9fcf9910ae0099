from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tessera.segmentation.nucls import load_tiles
from tessera.stitching.cells import (
    CELL_SCHEMA,
    CellTableWriter,
    cell_table,
    geojson_feature,
    geojson_features,
    instance_contour,
)
from tessera.stitching.ownership import Instance, owned_instances
from tessera.tiling.grid import TileGrid

GRID = TileGrid(width=400, height=300, tile_size=128, halo=16, level0_per_px=2.0, mpp=0.5)


def _area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])))


def test_contour_of_a_square_hugs_its_pixels() -> None:
    ring = instance_contour(np.ones((4, 6), bool))
    assert np.array_equal(ring[0], ring[-1])
    assert len(ring) == 9  # the 4 cut corners of marching squares, collinear points dropped
    assert ring[:, 0].min() == 0.0 and ring[:, 0].max() == 6.0
    assert ring[:, 1].min() == 0.0 and ring[:, 1].max() == 4.0
    assert _area(ring) == pytest.approx(24 - 4 * 0.125)


def test_contour_keeps_the_larger_part_of_a_split_instance() -> None:
    mask = np.zeros((5, 12), bool)
    mask[1:4, 0:2] = True
    mask[0:5, 5:12] = True
    ring = instance_contour(mask)
    assert ring[:, 0].min() >= 5.0


def test_rows_are_in_level0_coordinates() -> None:
    mask = np.zeros((3, 4), bool)
    mask[:, 1:3] = True  # 6 pixels, columns 1-2 of the crop
    table = cell_table([Instance(global_id=42, x=100, y=50, mask=mask)], GRID, tile_index=7)
    assert table.schema == CELL_SCHEMA
    row = table.to_pylist()[0]
    assert row["id"] == 42 and row["tile_index"] == 7
    assert row["centroid_x"] == pytest.approx((100 + 2.0) * 2)  # columns 1,2 -> centre x 2.0
    assert row["centroid_y"] == pytest.approx((50 + 1.5) * 2)
    assert row["area_px"] == pytest.approx(6 * 4)
    assert row["area_um2"] == pytest.approx(6 * 0.25)
    assert (row["bbox_x0"], row["bbox_y0"], row["bbox_x1"], row["bbox_y1"]) == (
        202.0,
        100.0,
        206.0,
        106.0,
    )
    ring = np.array(row["contour"])
    assert ring[:, 0].min() >= 202 and ring[:, 0].max() <= 206
    assert ring[:, 1].min() >= 100 and ring[:, 1].max() <= 106


def test_qupath_feature() -> None:
    table = cell_table([Instance(global_id=3, x=0, y=0, mask=np.ones((2, 2), bool))], GRID, 0)
    feature = geojson_feature(table.to_pylist()[0])
    assert feature["type"] == "Feature"
    assert feature["properties"]["objectType"] == "detection"
    assert feature["geometry"]["type"] == "Polygon"
    ring = feature["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) >= 4
    uuid.UUID(feature["id"])  # QuPath reads ids as UUIDs
    assert feature["properties"]["measurements"]["Area µm^2"] == pytest.approx(1.0)


def test_a_whole_table_serialises_as_its_rows_do() -> None:
    rng = np.random.default_rng(3)
    instances = [
        Instance(global_id=k + 1, x=int(rng.integers(0, 300)), y=k, mask=rng.random((7, 9)) > 0.3)
        for k in range(20)
    ]
    table = cell_table(instances, GRID, 4)
    serialised = geojson_features(table.slice(5), namespace=uuid.UUID(int=7))  # sliced, too
    assert [json.loads(f) for f in serialised] == [
        geojson_feature(row, namespace=uuid.UUID(int=7)) for row in table.slice(5).to_pylist()
    ]
    assert geojson_features(table.slice(0, 0)) == []


@pytest.mark.parametrize("mpp", [0.25, None])
def test_features_are_the_bytes_json_writes_on_real_nuclei(mpp: float | None) -> None:
    """Every NuCLS tile's cells (real nuclei outlines), feature by feature, against the
    straightforward serialisation: the dict of `geojson_feature` through `json.dumps`."""
    namespace = uuid.UUID(int=11)
    for k, tile in enumerate(load_tiles()):
        h, w = tile.labels.shape
        grid = TileGrid(width=w * 4, height=h, tile_size=w, halo=0, level0_per_px=0.75, mpp=mpp)
        index = k % grid.n_tiles
        at = grid.tile(index).read
        labels = np.zeros((at.height, at.width), np.int32)
        labels[:h, :w] = tile.labels[: at.height, : at.width]
        table = cell_table(owned_instances(labels, grid.tile(index)), grid, index)
        assert table.num_rows > 10
        expected = [
            json.dumps(geojson_feature(row, namespace=namespace), ensure_ascii=False,
                       separators=(",", ":"))
            for row in table.to_pylist()
        ]  # fmt: skip
        assert geojson_features(table, namespace=namespace) == expected


def _tile(index: int, n: int) -> tuple[int, object]:
    instances = [
        Instance(global_id=index * 100 + k + 1, x=10 * k, y=index, mask=np.ones((3, 3), bool))
        for k in range(n)
    ]
    return index, cell_table(instances, GRID, index)


def test_writer_streams_parts_and_drops_redelivered_tiles(tmp_path: Path) -> None:
    writer = CellTableWriter(tmp_path / "parts")
    for index, n in ((0, 3), (1, 2), (0, 3)):  # tile 0 redelivered before the flush
        writer.add(*_tile(index, n))
    writer.flush()
    restarted = CellTableWriter(tmp_path / "parts")  # a merger restart
    restarted.add(*_tile(1, 2))  # redelivered after the flush
    restarted.add(*_tile(2, 0))  # a tile with no cells
    restarted.add(*_tile(3, 1))
    count = restarted.finalise(tmp_path / "cells.parquet", tmp_path / "cells.geojson")
    assert count == 6
    assert len(restarted.parts()) == 2
    table = pq.read_table(tmp_path / "cells.parquet")
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3, 101, 102, 301]
    geo = json.loads((tmp_path / "cells.geojson").read_text(encoding="utf-8"))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 6
    ids = {f["id"] for f in geo["features"]}
    assert len(ids) == 6


def test_features_serialised_at_each_flush_make_the_same_export(tmp_path: Path) -> None:
    job = uuid.UUID(int=11)
    writer = CellTableWriter(tmp_path / "parts", namespace=job)
    for index, n in ((0, 3), (1, 2)):
        writer.add(*_tile(index, n))
    writer.flush()
    writer.add(*_tile(1, 2))  # redelivered after the flush: its part is serialised anew
    writer.add(*_tile(2, 4))
    writer.flush()
    fragments = sorted((tmp_path / "parts").glob("part-*.geojson"))
    assert [f.stem for f in fragments] == [p.stem for p in writer.parts()]
    writer.finalise(tmp_path / "a.parquet", tmp_path / "a.geojson")
    for fragment in fragments:  # as parts written before fragments existed
        fragment.unlink()
    CellTableWriter(tmp_path / "parts", namespace=job).finalise(
        tmp_path / "b.parquet", tmp_path / "b.geojson"
    )
    exported = (tmp_path / "a.geojson").read_text(encoding="utf-8")
    assert exported == (tmp_path / "b.geojson").read_text(encoding="utf-8")
    features = json.loads(exported)["features"]
    assert len(features) == 9
    assert {f["id"] for f in features} == {
        str(uuid.uuid5(job, str(i))) for i in (1, 2, 3, 101, 102, 201, 202, 203, 204)
    }


def test_empty_table_still_makes_valid_outputs(tmp_path: Path) -> None:
    writer = CellTableWriter(tmp_path / "parts")
    assert writer.finalise(tmp_path / "c.parquet", tmp_path / "c.geojson") == 0
    assert pq.read_table(tmp_path / "c.parquet").num_rows == 0
    assert json.loads((tmp_path / "c.geojson").read_text())["features"] == []


def test_rows_come_out_in_cell_id_order_whatever_order_the_tiles_arrived_in(
    tmp_path: Path,
) -> None:
    job = uuid.UUID(int=12)
    tiles = [(i, (i * 7) % 4) for i in range(12)]  # some tiles without cells

    def export(folder: Path, arrivals: list[list[int]], restart_after: int) -> tuple[bytes, bytes]:
        writer = CellTableWriter(folder / "parts", namespace=job)
        for flush, indices in enumerate(arrivals):
            if flush == restart_after:  # a crashed merger's successor appends further parts
                writer = CellTableWriter(folder / "parts", namespace=job)
            for index in indices:
                writer.add(*_tile(*tiles[index]))
            writer.flush()
        writer.finalise(folder / "cells.parquet", folder / "cells.geojson", window_tiles=3)
        return (folder / "cells.parquet").read_bytes(), (folder / "cells.geojson").read_bytes()

    in_order = export(tmp_path / "a", [list(range(12))], restart_after=-1)
    shuffled = export(
        tmp_path / "b", [[9, 2, 11], [0, 5, 2], [7, 1, 10, 3], [8, 6, 4, 9]], restart_after=2
    )
    assert shuffled == in_order  # the same bytes: a re-run after a crash changes nothing
    ids = pq.read_table(tmp_path / "b" / "cells.parquet").column("id").to_pylist()
    assert ids == sorted(ids) and len(ids) == sum(n for _, n in tiles)
    features = json.loads(shuffled[1])["features"]
    assert [f["properties"]["measurements"]["Tessera id"] for f in features] == ids
