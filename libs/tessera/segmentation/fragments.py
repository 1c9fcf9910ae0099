"""InstanSeg's fragment clean-up, done on the label image instead of inside the model.

InstanSeg's post-processing can keep, for each instance, only the pixels connected to its seed and
fill the holes in it (`cleanup_fragments`). Inside the scripted module that is an iterative flood
fill (3x3 max-pooling until nothing changes, twice per instance window): on a CPU it is more than
half of the whole forward pass of a 512 px tile (1.36 s with it, 0.59 s without, bundled model,
one thread). `remove_fragments` gives the same result on the labels the module returns with the
clean-up off, with connected-component labelling, in ~1.6 ms of CPU a 512 px tile of
nuclei (the bench slide's; labels by value only where instances touch, the background only
when its Euler number says a region of it is enclosed):

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

_EIGHT = np.ones((3, 3), bool)


def remove_fragments(labels: np.ndarray) -> np.ndarray:
    """A copy of a 2-D label image (0 = background) with fragments dropped and holes filled."""
    if labels.ndim != 2:
        raise ValueError(f"expected a 2-D label image, got shape {labels.shape}")
    out = np.array(labels, copy=True, order="C")  # flat views below
    if not out.any():
        return out
    foreground = out != 0
    components = _keep_largest_pieces(out, foreground)
    if components is None or _encloses_background(foreground, components):
        _fill_enclosed_background(out)
    return out


def _keep_largest_pieces(labels: np.ndarray, foreground: np.ndarray) -> int | None:
    """Drops every piece but each instance's largest; returns the number of the foreground's
    8-connected components when nothing was dropped (None when something was)."""
    pieces, count, at, components = _pieces(labels, foreground)
    piece = pieces[at]
    sizes = np.bincount(piece, minlength=count + 1)[1:]
    owner = np.zeros(count + 1, labels.dtype)
    owner[piece] = labels.ravel()[at]
    owner = owner[1:]
    start = np.full(count + 1, labels.size, np.int64)
    np.minimum.at(start, piece, at)  # each piece's first pixel in raster order
    # Pieces by instance, largest first, then first met: the first of each instance is kept.
    order = np.lexsort((start[1:], -sizes, owner))
    first = np.ones(count, bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    if first.all():
        return components
    keep = np.zeros(count + 1, bool)
    keep[order[first] + 1] = True
    labels.ravel()[at[~keep[piece]]] = 0
    return None


def _encloses_background(foreground: np.ndarray, components: int) -> bool:
    """Whether any background region (4-connected) is enclosed, not open to the image's edge.

    The Euler number of the 8-connected foreground, its components less its holes, from
    counts of 2x2 pixel patterns (Gray, 1971): E = (Q1 - Q3 - 2 QD) / 4, Q1 and Q3 the squares
    with one and three foreground pixels, QD those with two on a diagonal. A few passes over
    the image instead of labelling the background (most of it).
    """
    padded = np.pad(foreground, 1)
    ul, ur, ll, lr = padded[:-1, :-1], padded[:-1, 1:], padded[1:, :-1], padded[1:, 1:]
    count = ul.astype(np.uint8) + ur + ll + lr
    q1 = np.count_nonzero(count == 1)
    q3 = np.count_nonzero(count == 3)
    qd = np.count_nonzero((count == 2) & (ul == lr))
    euler = (q1 - q3 - 2 * qd) // 4
    return bool(components - euler > 0)


def _pieces(labels: np.ndarray, foreground: np.ndarray) -> tuple[np.ndarray, int, np.ndarray, int]:
    """The 8-connected pieces of equal label (flat, 0 off the foreground), their number, the
    foreground's flat indices and the number of its 8-connected components.

    The foreground's 8-connected components are labelled as a binary image (cheaper than
    labelling by value); a component of one label value is one piece, and only components
    where instances touch are labelled by value, on their own pixels (a piece never spans two
    components, which are not 8-adjacent). Numbering differs from skimage's, not the pieces.
    """
    components, count = ndi.label(foreground, structure=_EIGHT)
    at = np.flatnonzero(foreground)
    component = components.ravel()[at]
    value = labels.ravel()[at]
    low = np.zeros(count + 1, labels.dtype)
    low[component] = value  # one of each component's values, then the least and the most
    high = low.copy()
    np.minimum.at(low, component, value)
    np.maximum.at(high, component, value)
    mixed = low != high
    mixed[0] = False
    pieces = components.ravel()
    if not mixed.any():
        return pieces, count, at, count
    touching = mixed[component]
    where = at[touching]
    rows, cols = np.divmod(where, labels.shape[1])
    y0, x0 = int(rows.min()), int(cols.min())
    crop = np.zeros((int(rows.max()) - y0 + 1, int(cols.max()) - x0 + 1), labels.dtype)
    crop[rows - y0, cols - x0] = labels.ravel()[where]
    by_value, extra = connected_regions(crop, background=0, connectivity=2, return_num=True)
    # pure components keep their numbers, compacted; the touching ones' pieces follow
    number = np.cumsum(~mixed) - 1  # component 0 (background) counted, hence the - 1
    pieces = number[components.ravel()]
    pure = int(number[-1])
    pieces[where] = pure + by_value[rows - y0, cols - x0]
    return pieces, pure + int(extra), at, count


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
