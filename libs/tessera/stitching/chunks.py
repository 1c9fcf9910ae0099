"""Chunk-aligned access to 2-D Zarr arrays: a write-back chunk cache and chunk iteration.

Writers touch an output only chunk by chunk so memory stays bounded by the cache, not by the
slide; reading and writing whole chunks also avoids Zarr's partial-chunk read-modify-write.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
import zarr
from zarr.storage import StoreLike

__all__ = ["ChunkCache", "StoreLike", "iter_chunks", "json_attr", "open_array", "store_of"]


def store_of(path: str | os.PathLike[str] | StoreLike) -> StoreLike:
    """What `zarr.open_group` takes: a filesystem path as str, or any zarr store as is."""
    return os.fspath(path) if isinstance(path, str | os.PathLike) else path


def iter_chunks(shape: tuple[int, int], chunk: int) -> Iterator[tuple[slice, slice]]:
    """Chunk-aligned (row, column) slices covering an array of `shape`, row-major."""
    h, w = shape
    for y in range(0, h, chunk):
        for x in range(0, w, chunk):
            yield slice(y, min(y + chunk, h)), slice(x, min(x + chunk, w))


def open_array(group: zarr.Group, name: str) -> zarr.Array[Any]:
    """The array `name` of a group (a TypeError when it is a group or missing)."""
    node = group[name]
    if not isinstance(node, zarr.Array):
        raise TypeError(f"{name!r} is not an array")
    return node


def json_attr(group: zarr.Group, key: str) -> dict[str, Any]:
    """The JSON object stored under attribute `key`."""
    value = group.attrs[key]
    if not isinstance(value, dict):
        raise TypeError(f"attribute {key!r} is not an object")
    return dict(value)


class ChunkCache:
    """An LRU of decoded chunks of a 2-D array, writing dirty ones back on eviction or flush."""

    def __init__(self, array: zarr.Array[Any], max_chunks: int, *, fresh: bool = False) -> None:
        """`fresh`: the array was just created empty, so a chunk this cache has not written
        holds the fill value and is not read (a read through Zarr costs ~1 ms even then)."""
        # Zarr by default compares every chunk it writes with the fill value to drop empty ones
        # (~1.5 ms of a ~2.5 ms write of a 512² chunk); a chunk is written here because it was
        # painted, so that check is skipped (an empty one is stored as zeros, read back the same).
        self.array = array.with_config({"write_empty_chunks": True})
        self.chunk_size = int(array.chunks[0])
        self._max = max(1, max_chunks)
        self._chunks: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._dirty: set[tuple[int, int]] = set()
        self._fresh = fresh
        self._written: set[tuple[int, int]] = set()

    def bounds(self, gy: int, gx: int) -> tuple[slice, slice]:
        """The array slices of chunk (gy, gx), clipped at the array's edge."""
        c = self.chunk_size
        h, w = self.array.shape
        return slice(gy * c, min((gy + 1) * c, h)), slice(gx * c, min((gx + 1) * c, w))

    def get(self, gy: int, gx: int) -> np.ndarray:
        """Chunk (gy, gx) as a writable array; call `mark_dirty` after changing it."""
        key = (gy, gx)
        block = self._chunks.get(key)
        if block is not None:
            self._chunks.move_to_end(key)
            return block
        rows, cols = self.bounds(gy, gx)
        if self._fresh and key not in self._written:
            shape = (rows.stop - rows.start, cols.stop - cols.start)
            block = np.full(shape, self.array.fill_value, self.array.dtype)
        else:
            block = np.array(self.array[rows, cols])
        self._chunks[key] = block
        while len(self._chunks) > self._max:
            old_key, old = self._chunks.popitem(last=False)
            if old_key in self._dirty:
                self._write(old_key, old)
        return block

    def mark_dirty(self, gy: int, gx: int) -> None:
        """Note that chunk (gy, gx) changed and must be written back."""
        self._dirty.add((gy, gx))

    def flush(self) -> None:
        """Write every dirty chunk back to the array."""
        for key in sorted(self._dirty):
            block = self._chunks.get(key)
            if block is not None:
                self._write(key, block)
        self._dirty.clear()

    def _write(self, key: tuple[int, int], block: np.ndarray) -> None:
        self.array[self.bounds(*key)] = block
        self._dirty.discard(key)
        self._written.add(key)


LEDGER = "tessera/tiles_done"


class TileLedger:
    """Which tiles of an output are stored for good: one uint8 per tile index in the store.

    Writers `mark` a tile when they apply it and `flush` after their data is written (and before
    the result is acked), so after a crash the ledger names exactly the tiles to skip.
    """

    def __init__(self, group: zarr.Group) -> None:
        self._done = open_array(group, LEDGER)
        self._pending: set[int] = set()

    @staticmethod
    def create(group: zarr.Group, tiles: int) -> None:
        n = max(tiles, 1)
        group.create_array(LEDGER, shape=(n,), chunks=(min(n, 1 << 16),), dtype="uint8",
                           fill_value=0)  # fmt: skip

    def mark(self, tile_index: int) -> None:
        self._pending.add(int(tile_index))

    def flush(self) -> None:
        if self._pending:
            done = np.asarray(self._done[:])
            done[sorted(self._pending)] = 1
            self._done[:] = done
            self._pending.clear()

    def tiles_done(self) -> np.ndarray:
        """Indices of tiles marked and flushed."""
        return np.flatnonzero(self._done[:])
