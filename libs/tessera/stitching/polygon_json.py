"""Many polygon rings as JSON text at once: the bytes `json` writes for their rounded points.

A cell's GeoJSON ring is its contour rounded to 2 decimals, `[[x,y],[x,y],...]` in compact JSON.
Converting each point to a Python float and letting `json` write it costs more than the rest of
merging a tile; here every character of every ring is placed with a few array operations.

`json` writes a float as `repr` does: the shortest decimal that reads back as the same double.
A value rounded to 2 decimals is `k / 100` for an integral `k` (`np.round` computes `rint(v *
100) / 100`); while |k / 100| is far below 2**53 / 100 (any slide's coordinates are), no other
decimal of at most 2 places is as close to that double, so `repr` gives k's digits with the
point before the last two, trailing zeros dropped but one kept (`12.5`, `12.0`, `12.05`,
`-0.0` for a negative zero). Values of 1e13 or more, or not finite, are refused.
"""

from __future__ import annotations

import numpy as np

_LIMIT = 1e13  # |value| below which the text is k's digits (see the module docstring)
_DIGITS = np.frombuffer(b"0123456789", np.uint8)
_OPEN, _CLOSE, _COMMA, _POINT, _MINUS = (ord(c) for c in "[],.-")


def rings_json(points: np.ndarray, lengths: np.ndarray) -> list[str]:
    """The JSON text of each ring, `points` (n x 2) rounded to 2 decimals first.

    `lengths` is the number of points of each ring, the rings one after another in `points`.
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    lengths = np.asarray(lengths, np.int64)
    if int(lengths.sum()) != len(points) or (lengths < 0).any():
        raise ValueError("ring lengths do not add up to the points")
    if (lengths == 0).any():  # an empty ring is "[]"
        texts = iter(rings_json(points, lengths[lengths > 0]))
        return [next(texts) if n else "[]" for n in lengths.tolist()]
    if len(points) == 0:
        return []
    values = np.round(points, 2).ravel()  # x, y, x, y, ...
    if not (np.abs(values) < _LIMIT).all():
        raise ValueError("ring coordinates must be finite and below 1e13 in magnitude")
    hundredths = np.abs(np.rint(values * 100)).astype(np.int64)
    negative = np.signbit(values)
    whole, cents = np.divmod(hundredths, 100)
    two_places = cents % 10 != 0
    n_whole = np.ones(len(values), np.int64)
    power = 10
    while power <= int(whole.max()):
        n_whole += whole >= power
        power *= 10
    # characters before each number: "[[" at a ring's first point, ",[" at another x, "," at y
    is_x = np.zeros(len(values), bool)
    is_x[::2] = True
    ring_first = np.zeros(len(points), bool)
    ring_first[np.cumsum(lengths) - lengths] = True
    ring_last = np.zeros(len(points), bool)
    ring_last[np.cumsum(lengths) - 1] = True
    before = np.where(is_x, 2, 1)
    # after each number: "]" after y, and "]" again after a ring's last y
    after = np.zeros(len(values), np.int64)
    after[1::2] = 1 + ring_last
    width = before + negative + n_whole + 2 + two_places + after
    end = np.cumsum(width)
    start = end - width
    text = np.empty(int(end[-1]), np.uint8)
    x_at = start[0::2]
    text[x_at] = np.where(ring_first, _OPEN, _COMMA)
    text[x_at + 1] = _OPEN
    text[start[1::2]] = _COMMA
    at = start + before
    text[at[negative]] = _MINUS
    at = at + negative  # first digit of the whole part
    for place in range(int(n_whole.max())):
        has = n_whole > place
        digit = (whole[has] // 10**place) % 10
        text[(at + n_whole - 1 - place)[has]] = _DIGITS[digit]
    at = at + n_whole
    text[at] = _POINT
    text[at + 1] = _DIGITS[cents // 10]
    text[(at + 2)[two_places]] = _DIGITS[cents[two_places] % 10]
    y_end = end[1::2]
    text[y_end - 1 - ring_last] = _CLOSE
    text[y_end[ring_last] - 1] = _CLOSE
    ring_end = end[1::2][ring_last]
    ring_start = start[0::2][ring_first]
    raw = text.tobytes().decode("ascii")
    return [raw[a:b] for a, b in zip(ring_start.tolist(), ring_end.tolist(), strict=True)]
