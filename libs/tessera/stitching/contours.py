"""The outer ring of many binary masks at once: skimage's `find_contours(mask, 0.5)`, vectorised.

A cell's contour is the marching-squares ring at 0.5 around its zero-padded mask crop, the
longest ring when there are several (`find_contours` resolves a saddle square, where only
diagonal corners are inside, by keeping the inside corners apart: its `fully_connected='low'`).
skimage computes the segments in compiled code but joins them into rings in Python, one dict
operation per segment: most of what the cell rows of a tile cost. Here the masks of a tile are
laid side by side in one canvas, every square's segments are found for all of them with a few
array operations, and the rings are followed by pointer doubling rather than point by point.

The rings are the very arrays `find_contours` returns, same points, same direction, same first
point: skimage processes squares row by row and closes a ring with the last of its segments,
so a ring starts at the end of its segment in the last square; when several rings are equally
long, the one whose first segment came first is kept (tests/unit/stitching/test_contours.py
compares the two on random masks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The four corners of a square (row offset, col offset) and their bits in the square's case.
_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))  # ul, ur, ll, lr
# A square's edges and the point on each, relative to the square's upper-left pixel: top and
# bottom lie between horizontal neighbours, left and right between vertical ones.
_EDGES = {"T": (0.0, 0.5), "B": (1.0, 0.5), "L": (0.5, 0.0), "R": (0.5, 1.0)}


def _segments_of(case: int) -> list[tuple[str, str]]:
    """Directed segments of a square case as skimage emits them (inside on the right, in the
    image's row-down frame), saddles with the inside corners kept apart."""
    inside = [bool(case >> k & 1) for k in range(4)]
    ul, ur, ll, lr = inside
    pairs_of_corners = ((ul, ur), (ll, lr), (ul, ll), (ur, lr))
    crossing = [e for e, (a, b) in zip("TBLR", pairs_of_corners, strict=True) if a != b]
    if len(crossing) == 0:
        return []
    if len(crossing) == 4:  # a saddle: one segment around each inside corner
        pairs = [("T", "L"), ("B", "R")] if ul else [("T", "R"), ("B", "L")]
    else:
        pairs = [(crossing[0], crossing[1])]
    centre = np.mean([c for c, i in zip(_CORNERS, inside, strict=True) if i], axis=0)
    if len(crossing) == 4:
        corners = [_CORNERS[0], _CORNERS[3]] if ul else [_CORNERS[1], _CORNERS[2]]
    else:
        corners = [tuple(centre)] * len(pairs)
    out = []
    for (a, b), corner in zip(pairs, corners, strict=True):
        pa, pb = np.array(_EDGES[a]), np.array(_EDGES[b])
        direction, to_inside = pb - pa, np.array(corner) - (pa + pb) / 2
        # rows down, cols right: cross > 0 puts the inside on the segment's right hand
        cross = direction[1] * to_inside[0] - direction[0] * to_inside[1]
        out.append((a, b) if cross > 0 else (b, a))
    return out


_CASES = {case: _segments_of(case) for case in range(1, 15)}


def outer_rings_flat(masks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """For each non-empty 2-D mask, its longest marching-squares ring at 0.5 around the mask
    padded by one zero pixel, in padded (row, col) coordinates: what
    `max(find_contours(padded, 0.5), key=len)` returns, less its closing point. All rings in
    one array, one after another, and the number of points of each."""
    if not masks:
        return np.zeros((0, 2)), np.zeros(0, np.int64)
    heights = np.array([m.shape[0] for m in masks], np.int64)
    widths = np.array([m.shape[1] for m in masks], np.int64)
    # each mask in its own padded box, boxes side by side: no square spans two masks
    lefts = np.zeros(len(masks), np.int64)
    lefts[1:] = np.cumsum(widths + 2)[:-1]
    rows, cols = int(heights.max()) + 2, int((widths + 2).sum())
    canvas = np.zeros((rows, cols), bool)
    for mask, left in zip(masks, lefts.tolist(), strict=True):
        canvas[1 : 1 + mask.shape[0], left + 1 : left + 1 + mask.shape[1]] = mask
    case = (
        canvas[:-1, :-1] * np.uint8(1)
        | canvas[:-1, 1:] * np.uint8(2)
        | canvas[1:, :-1] * np.uint8(4)
        | canvas[1:, 1:] * np.uint8(8)
    )
    # every edge point has an id: top/bottom points (r, c + .5) first, then left/right ones
    horizontal = rows * (cols - 1)

    def point_ids(edge: str, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        ids: np.ndarray
        if edge == "T":
            ids = r * (cols - 1) + c
        elif edge == "B":
            ids = (r + 1) * (cols - 1) + c
        elif edge == "L":
            ids = horizontal + r * cols + c
        else:
            ids = horizontal + r * cols + c + 1
        return ids

    starts, ends, order = [], [], []
    flat_case = case.ravel()
    crossed = np.flatnonzero((flat_case != 0) & (flat_case != 15))  # squares with segments
    by_case = crossed[np.argsort(flat_case[crossed], kind="stable")]
    bounds = np.searchsorted(flat_case[by_case], np.arange(1, 16))
    for value, segments in _CASES.items():
        at = by_case[bounds[value - 1] : bounds[value]]
        if at.size == 0:
            continue
        r, c = np.divmod(at, cols - 1)
        for k, (a, b) in enumerate(segments):
            starts.append(point_ids(a, r, c))
            ends.append(point_ids(b, r, c))
            order.append(at * 2 + k)  # skimage's order: squares row by row, then within one
    start = np.concatenate(starts)
    end = np.concatenate(ends)
    emitted = np.concatenate(order)
    # compact ids: every point on a ring starts exactly one segment and ends exactly one
    points, start_c = np.unique(start, return_inverse=True)
    n = len(points)
    following = np.empty(n, np.int64)
    following[start_c] = np.searchsorted(points, end)
    key = np.empty(n, np.int64)
    key[start_c] = emitted  # a point's segment is the one that starts there
    # the ring of every point (its smallest point index), by pointer doubling
    ring = np.arange(n)
    ahead = following.copy()
    span = 1
    while span < n:
        ring = np.minimum(ring, ring[ahead])
        ahead = ahead[ahead]
        span *= 2
    # skimage's first point: the end of the ring's last segment; its last: that segment's start
    ring_ids, ring_of = np.unique(ring, return_inverse=True)
    last_key = np.full(len(ring_ids), -1, np.int64)
    np.maximum.at(last_key, ring_of, key)
    first_key = np.full(len(ring_ids), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first_key, ring_of, key)
    closing = key == last_key[ring_of]  # the point where the ring's last segment starts
    # steps from each point to its ring's closing point: list ranking by pointer doubling
    stop = np.where(closing, np.arange(n), following)
    steps = (~closing).astype(np.int64)
    ahead = stop.copy()
    span = 1
    while span < n:
        steps = steps + steps[ahead]
        ahead = ahead[ahead]
        span *= 2
    lengths = np.bincount(ring_of)
    # the ring's position of each point: its first point (after the closing one) is 0
    position = lengths[ring_of] - 1 - steps
    # the mask of each ring, from the column of any of its points
    row_col = _coordinates(points, rows, cols, horizontal)
    owner = np.searchsorted(lefts, np.floor(row_col[:, 1]).astype(np.int64), side="right") - 1
    ring_owner = np.empty(len(ring_ids), np.int64)
    ring_owner[ring_of] = owner
    # per mask (in their order), the longest ring, the first created among equals
    best = np.lexsort((first_key, -lengths, ring_owner))
    chosen = best[np.r_[True, ring_owner[best][1:] != ring_owner[best][:-1]]]
    if len(chosen) != len(masks):
        raise ValueError("an empty mask has no contour")
    rank = np.full(len(ring_ids), -1, np.int64)
    rank[chosen] = np.arange(len(chosen))
    keep = rank[ring_of] >= 0
    by_point = np.lexsort((position[keep], rank[ring_of[keep]]))
    ring_points = row_col[keep][by_point]
    ring_points[:, 1] -= np.repeat(lefts, lengths[chosen])
    return ring_points, lengths[chosen]


def _coordinates(points: np.ndarray, rows: int, cols: int, horizontal: int) -> np.ndarray:
    """(row, col) of edge point ids."""
    out = np.empty((len(points), 2), np.float64)
    top = points < horizontal
    r, c = np.divmod(points[top], cols - 1)
    out[top, 0], out[top, 1] = r, c + 0.5
    r, c = np.divmod(points[~top] - horizontal, cols)
    out[~top, 0], out[~top, 1] = r + 0.5, c
    return out
