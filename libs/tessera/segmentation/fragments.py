"""InstanSeg's fragment clean-up, done on the label image instead of inside the model.

InstanSeg's post-processing can keep, for each instance, only the pixels connected to its seed and
fill the holes in it (`cleanup_fragments`). Inside the scripted module that is an iterative flood
fill (3x3 max-pooling until nothing changes, twice per instance window): on a CPU it is more than
half of the whole forward pass of a 512 px tile (1.36 s with it, 0.59 s without, bundled model,
one thread). `remove_fragments` gives the same result on the labels the module returns with the
clean-up off, with connected-component labelling, in about 10 ms a tile:

- each instance keeps its largest 8-connected piece (the model's flood fill grows through 3x3
  neighbourhoods, so 8-connected; its seed is in the largest piece in all but pathological cases);
- a background region enclosed by one instance alone (4-connected, not touching the tile's edge)
  becomes part of it.

Measured on 12 synthetic 512 px tiles (3,300 nuclei): 99.97-100 % of pixels agree with the
in-model clean-up; F1 against the ground truth 0.9539 against 0.9550 (a handful of instances the
in-model version keeps apart are absorbed by a neighbour's stray pixels without it).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as connected_regions


def remove_fragments(labels: np.ndarray) -> np.ndarray:
    """A copy of a 2-D label image (0 = background) with fragments dropped and holes filled."""
    if labels.ndim != 2:
        raise ValueError(f"expected a 2-D label image, got shape {labels.shape}")
    out = np.array(labels, copy=True)
    if not out.any():
        return out
    _keep_largest_pieces(out)
    _fill_enclosed_background(out)
    return out


def _keep_largest_pieces(labels: np.ndarray) -> None:
    pieces, count = connected_regions(labels, background=0, connectivity=2, return_num=True)
    at = np.flatnonzero(pieces)  # the foreground only: a tenth of a tile of nuclei
    piece = pieces.ravel()[at]
    sizes = np.bincount(piece, minlength=count + 1)[1:]
    owner = np.zeros(count + 1, labels.dtype)
    owner[piece] = labels.ravel()[at]
    owner = owner[1:]
    # Pieces by instance, largest first: the first piece of each instance is the one kept.
    order = np.lexsort((-sizes, owner))
    first = np.ones(count, bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    if first.all():
        return
    keep = np.zeros(count + 1, bool)
    keep[order[first] + 1] = True
    labels[~keep[pieces]] = 0


def _fill_enclosed_background(labels: np.ndarray) -> None:
    regions, count = ndi.label(labels == 0)  # 4-connected: the complement of 8-connected pieces
    if count == 0:
        return
    edge = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
    inner = np.ones(count + 1, bool)
    inner[edge] = False
    inner[0] = False
    if not inner.any():
        return
    # (enclosed region, instance) for every 4-neighbour pair of a region pixel and an instance
    pairs = []
    for a, b in (
        (regions[:-1], labels[1:]),
        (regions[1:], labels[:-1]),
        (regions[:, :-1], labels[:, 1:]),
        (regions[:, 1:], labels[:, :-1]),
    ):
        touching = inner[a] & (b > 0)
        pairs.append(np.stack([a[touching], b[touching]], axis=1).astype(np.int64))
    found = np.unique(np.concatenate(pairs), axis=0)
    if found.size == 0:
        return
    region_ids, counts = np.unique(found[:, 0], return_counts=True)
    alone = region_ids[counts == 1]
    if alone.size == 0:
        return
    fill = np.zeros(count + 1, labels.dtype)
    fill[alone] = found[np.searchsorted(found[:, 0], alone), 1]  # rows sorted by region
    filled = fill[regions]
    labels[:] = np.where(filled > 0, filled, labels)
