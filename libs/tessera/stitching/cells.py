"""The cell table: one row per owned instance, as Parquet and as QuPath-importable GeoJSON.

Rows are computed from the instances a tile owns (centroid, area, bbox, contour) and converted
to level-0 pixel coordinates, the coordinates QuPath and the slide viewer use. Areas are of the
instance's own mask, before pixels shared with a touching neighbour were given to the lower id
in the label image.

`CellTableWriter` appends rows as tiles arrive into numbered Parquet part files (one per flush,
written atomically), so a restarted merger loses nothing it acknowledged; each part's GeoJSON
features are serialised at the same time, while the model still runs, into a fragment beside
it. `finalise` streams the parts into one `cells.parquet` and one GeoJSON FeatureCollection in
cell-id order (ids are tile-major, so a window of tiles at a time: the parts that hold them are
read, their rows sorted and written; the features are the fragments' lines, serialised anew only
for a part without a fragment), keeping the first copy of each tile's rows, so a redelivered tile
is not counted twice. The order, and so the bytes, do not depend on the order results arrived in
or on a crash in between. Nothing holds the whole table.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tessera.stitching.contours import outer_rings_flat
from tessera.stitching.files import replace_text
from tessera.stitching.ownership import Instance, instance_pixels
from tessera.stitching.polygon_json import rings_json
from tessera.tiling.grid import TileGrid

CELL_SCHEMA = pa.schema(
    [
        ("id", pa.uint64()),
        ("tile_index", pa.int64()),
        ("centroid_x", pa.float64()),  # level-0 pixels
        ("centroid_y", pa.float64()),
        ("area_px", pa.float64()),  # level-0 pixels²
        ("area_um2", pa.float64()),  # null when the pixel size is unknown
        ("bbox_x0", pa.float64()),
        ("bbox_y0", pa.float64()),
        ("bbox_x1", pa.float64()),
        ("bbox_y1", pa.float64()),
        ("contour", pa.list_(pa.list_(pa.float32(), 2))),  # closed ring (x, y), level-0 px
        ("truncated", pa.bool_()),
    ]
)
# Ids in QuPath are UUIDs; derive them from the cell id so exports are reproducible.
QUPATH_NAMESPACE = uuid.UUID("5f0b6a34-9a59-4c8e-8f53-7f6a1c1e0b7d")


def instance_contour(mask: np.ndarray) -> np.ndarray:
    """Outer contour (n x 2, x/y, closed) of a mask crop in continuous crop coordinates.

    Marching squares at 0.5 on the zero-padded mask, the longest ring kept (an instance split
    in two keeps its larger part), collinear points dropped (lossless, about half the points).
    """
    if not np.any(mask):
        raise ValueError("empty mask has no contour")
    return _contours([np.asarray(mask, bool)])[0]


def _contours(masks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """`instance_contour` of every mask at once: the closed rings one after another, and the
    number of points of each."""
    pts, lengths = outer_rings_flat(masks)
    if len(lengths) == 0:
        return np.zeros((0, 2)), lengths
    starts = np.zeros(len(lengths), np.int64)
    starts[1:] = np.cumsum(lengths)[:-1]
    ring_of = np.repeat(np.arange(len(lengths)), lengths)
    at = np.arange(len(pts)) - starts[ring_of]  # position within its ring
    size = lengths[ring_of]
    before = pts - pts[starts[ring_of] + (at - 1) % size]
    after = pts[starts[ring_of] + (at + 1) % size] - pts
    turn = np.abs(before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]) > 1e-9
    # a ring with fewer than 3 turns keeps every point
    keep = turn | (np.bincount(ring_of, weights=turn, minlength=len(lengths)) < 3)[ring_of]
    kept = np.bincount(ring_of[keep], minlength=len(lengths))
    # each ring closed by its first kept point again
    first = np.zeros(len(lengths), np.int64)
    first[1:] = np.cumsum(kept)[:-1]
    kept_pts = pts[keep]
    closed = np.insert(kept_pts, np.cumsum(kept), kept_pts[first], axis=0)
    # padded index p is crop index p - 1, whose pixel centre sits at (p - 1) + 0.5
    return closed[:, ::-1] - 0.5, kept + 1


def cell_table(instances: Sequence[Instance], grid: TileGrid, tile_index: int) -> pa.Table:
    """Cell rows (CELL_SCHEMA) of a tile's owned instances, in level-0 coordinates.

    The measurements and contours of all instances are taken at once (one pass of numpy over
    their concatenated masks, `contours.outer_rings_flat`), not instance by instance.
    """
    s = grid.level0_per_px
    kept = list(instances)
    owner, rows, cols = instance_pixels(kept)
    pixels = np.bincount(owner, minlength=len(kept))
    if not pixels.all():  # an empty mask has no row
        kept = [inst for inst, count in zip(kept, pixels.tolist(), strict=True) if count]
        owner, rows, cols = instance_pixels(kept)
        pixels = np.bincount(owner, minlength=len(kept))
    n = len(kept)
    if n == 0:
        return CELL_SCHEMA.empty_table()
    first = np.zeros(n, np.int64)
    first[1:] = np.cumsum(pixels)[:-1]  # owner is sorted: each instance's pixels are a run
    xs = np.array([inst.x for inst in kept], np.float64)
    ys = np.array([inst.y for inst in kept], np.float64)
    mean_r = np.bincount(owner, weights=rows, minlength=n) / pixels
    mean_c = np.bincount(owner, weights=cols, minlength=n) / pixels
    rings, lengths = _contours([inst.mask for inst in kept])
    origin = np.repeat(np.column_stack([xs, ys]), lengths, axis=0)
    contours = ((rings + origin) * s).astype(np.float32)
    area = pixels.astype(np.float64)
    arrays = {
        "id": pa.array([inst.global_id for inst in kept], pa.uint64()),
        "tile_index": pa.array(np.full(n, tile_index, np.int64)),
        "centroid_x": pa.array((xs + mean_c + 0.5) * s),
        "centroid_y": pa.array((ys + mean_r + 0.5) * s),
        "area_px": pa.array(area * s * s),
        "area_um2": pa.array(area * grid.mpp**2 if grid.mpp is not None else [None] * n,
                             pa.float64()),
        "bbox_x0": pa.array((xs + np.minimum.reduceat(cols, first)) * s),
        "bbox_y0": pa.array((ys + np.minimum.reduceat(rows, first)) * s),
        "bbox_x1": pa.array((xs + np.maximum.reduceat(cols, first) + 1) * s),
        "bbox_y1": pa.array((ys + np.maximum.reduceat(rows, first) + 1) * s),
        "contour": _ring_array(contours, lengths),
        "truncated": pa.array([inst.truncated for inst in kept], pa.bool_()),
    }  # fmt: skip
    return pa.table({name: arrays[name] for name in CELL_SCHEMA.names}, schema=CELL_SCHEMA)


def _ring_array(points: np.ndarray, lengths: np.ndarray) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, np.int32)
    offsets[1:] = np.cumsum(lengths)
    flat = pa.array(np.ascontiguousarray(points, np.float32).ravel(), pa.float32())
    return pa.ListArray.from_arrays(pa.array(offsets), pa.FixedSizeListArray.from_arrays(flat, 2))


def geojson_feature(
    row: dict[str, Any], *, namespace: uuid.UUID = QUPATH_NAMESPACE
) -> dict[str, Any]:
    """A QuPath detection Feature (Polygon in level-0 pixels) for one cell row."""
    ring = np.round(np.asarray(row["contour"], np.float64), 2).tolist()
    return _feature(row["id"], ring, row["area_px"], row.get("area_um2"), namespace)


def contour_points(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """All rows' contours at once: their (x, y) points end to end, and each row's point count."""
    contour = table.column("contour").combine_chunks()
    lengths = pc.list_value_length(contour).to_numpy(zero_copy_only=False)
    return contour.flatten().flatten().to_numpy().reshape(-1, 2), lengths


def geojson_features(table: pa.Table, *, namespace: uuid.UUID = QUPATH_NAMESPACE) -> list[str]:
    """Every row of a cell table as one serialised Feature (as `geojson_feature`, compact JSON).

    The rings of all rows are rounded and converted in one go, not point by point, and each
    feature is written from a template around its ring's JSON (the bytes `json.dumps` gives
    the Feature: compared in tests/unit/stitching/test_cells.py).
    """
    if table.num_rows == 0:
        return []
    points, lengths = contour_points(table)
    rings = rings_json(points, lengths)
    number = float.__repr__  # what json writes for a finite float
    out: list[str] = []
    for cell_id, area_px, area_um2, ring in zip(
        table.column("id").to_pylist(),
        table.column("area_px").to_pylist(),
        table.column("area_um2").to_pylist(),
        rings,
        strict=True,
    ):
        um2 = "" if area_um2 is None else f',"Area µm^2":{number(round(area_um2, 3))}'
        out.append(
            f'{{"type":"Feature","id":"{_uuid5(namespace, str(cell_id))}",'
            f'"geometry":{{"type":"Polygon","coordinates":[{ring}]}},'
            f'"properties":{{"objectType":"detection","measurements":{{"Tessera id":'
            f'{number(float(cell_id))},"Area px^2":{number(round(area_px, 3))}{um2}}}}}}}'
        )
    return out


def _uuid5(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))` without building the UUID object."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _feature(
    cell_id: int,
    ring: list[list[float]],
    area_px: float,
    area_um2: float | None,
    namespace: uuid.UUID,
) -> dict[str, Any]:
    measurements = {"Tessera id": float(cell_id), "Area px^2": round(area_px, 3)}
    if area_um2 is not None:
        measurements["Area µm^2"] = round(area_um2, 3)
    return {
        "type": "Feature",
        "id": str(uuid.uuid5(namespace, str(cell_id))),
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"objectType": "detection", "measurements": measurements},
    }


class CellTableWriter:
    """Appends cell rows as part files and assembles the final outputs; see module docstring.

    `namespace` seeds the features' UUIDs: pass the job's, so two jobs' exports can be imported
    into one QuPath image without clashing ids.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, namespace: uuid.UUID = QUPATH_NAMESPACE
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self._buffer: list[pa.Table] = []
        self._buffered: set[int] = set()
        existing = sorted(self.directory.glob("part-*.parquet"))
        self._next = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0

    def add(self, tile_index: int, table: pa.Table) -> None:
        """Buffer one tile's rows, all in one call (parts never split a tile)."""
        if tile_index in self._buffered:  # redelivered before the last flush
            return
        self._buffered.add(tile_index)
        if table.num_rows:
            self._buffer.append(table)

    def flush(self) -> Path | None:
        """Write the buffered rows as the next part file (its GeoJSON fragment first, so a part
        never exists without its own); call before acking their tiles."""
        self._buffered.clear()
        if not self._buffer:
            return None
        table = pa.concat_tables(self._buffer)
        self._buffer.clear()
        path = self.directory / f"part-{self._next:06d}.parquet"
        fragment = ",\n".join(geojson_features(table, namespace=self.namespace))
        replace_text(path.with_suffix(".geojson"), fragment)
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        self._next += 1
        return path

    def parts(self) -> list[Path]:
        """The part files written so far, in order."""
        return sorted(self.directory.glob("part-*.parquet"))

    def _index(self) -> list[_Part]:
        """Every part with the tiles whose rows it holds first (a redelivered tile's earlier
        copy wins), by its first such tile; reads only the tile column."""
        seen: set[int] = set()
        out: list[_Part] = []
        for path in self.parts():
            tiles = np.unique(pq.read_table(path, columns=["tile_index"]).column(0).to_numpy())
            kept = tiles[~np.isin(tiles, np.fromiter(seen, np.int64, len(seen)))]
            seen.update(tiles.tolist())
            if kept.size:
                out.append(_Part(path, kept))
        return sorted(out, key=lambda part: int(part.tiles[0]))

    def finalise(
        self,
        parquet_path: str | os.PathLike[str],
        geojson_path: str | os.PathLike[str] | None = None,
        *,
        window_tiles: int = 1024,
    ) -> int:
        """Write the parts as one Parquet file (and GeoJSON) in cell-id order; returns the row
        count. `window_tiles` tiles' rows are sorted at a time."""
        self.flush()
        count = 0
        parquet_path, tmp_parquet = Path(parquet_path), Path(str(parquet_path) + ".tmp")
        geo = _GeoJsonStream(geojson_path) if geojson_path is not None else None
        parts = self._index()
        tiles = np.sort(np.concatenate([p.tiles for p in parts])) if parts else np.array([])
        open_parts: list[_Part] = []
        following = 0  # parts[following:] are not open yet
        with pq.ParquetWriter(tmp_parquet, CELL_SCHEMA) as writer:
            for lo in range(0, len(tiles), window_tiles):
                first, last = int(tiles[lo]), int(tiles[min(lo + window_tiles, len(tiles)) - 1])
                while following < len(parts) and int(parts[following].tiles[0]) <= last:
                    open_parts.append(parts[following])
                    following += 1
                open_parts = [p for p in open_parts if int(p.tiles[-1]) >= first]
                tables, features = [], []
                for part in open_parts:
                    table, lines = part.rows_between(first, last, self.namespace, geo is not None)
                    tables.append(table)
                    features += lines
                table = pa.concat_tables(tables)
                order = pc.sort_indices(table, [("id", "ascending")])
                writer.write_table(table.take(order))
                count += table.num_rows
                if geo is not None:
                    geo.write_serialised(",\n".join(features[i] for i in order.to_pylist()))
                for part in open_parts:
                    part.release_before(last)
        os.replace(tmp_parquet, parquet_path)
        if geo is not None:
            geo.close()
        return count


class _Part:
    """A part file during `finalise`: the tiles it holds first, its rows and features while a
    window needs them."""

    def __init__(self, path: Path, tiles: np.ndarray) -> None:
        self.path, self.tiles = path, tiles  # sorted
        self._table: pa.Table | None = None
        self._features: list[str] | None = None

    def rows_between(
        self, first: int, last: int, namespace: uuid.UUID, features: bool
    ) -> tuple[pa.Table, list[str]]:
        """Its rows of its own tiles in [first, last] and, if asked, their serialised features."""
        if self._table is None:
            self._table = pq.read_table(self.path, schema=CELL_SCHEMA)
        table = self._table
        if features and self._features is None:
            fragment = self.path.with_suffix(".geojson")
            lines = fragment.read_text(encoding="utf-8").split(",\n") if fragment.exists() else []
            if len(lines) != table.num_rows:  # written before fragments existed
                lines = geojson_features(table, namespace=namespace)
            self._features = lines
        tile = table.column("tile_index").to_numpy()
        mine = self.tiles[(self.tiles >= first) & (self.tiles <= last)]
        rows = np.flatnonzero(np.isin(tile, mine))
        lines = [self._features[i] for i in rows] if self._features is not None else []
        return table.take(pa.array(rows)), lines

    def release_before(self, last: int) -> None:
        """Drop what was read once no window after `last` needs this part."""
        if int(self.tiles[-1]) <= last:
            self._table = self._features = None


class _GeoJsonStream:
    """A FeatureCollection written in runs of serialised features, renamed into place when
    closed."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.tmp = Path(str(path) + ".tmp")
        self.file = self.tmp.open("w", encoding="utf-8")
        self.file.write('{"type": "FeatureCollection", "features": [\n')
        self.first = True

    def write_serialised(self, features: str) -> None:
        """Features already serialised and joined with commas."""
        if not features:
            return
        if not self.first:
            self.file.write(",\n")
        self.file.write(features)
        self.first = False

    def close(self) -> None:
        self.file.write("\n]}\n")
        self.file.close()
        os.replace(self.tmp, self.path)
