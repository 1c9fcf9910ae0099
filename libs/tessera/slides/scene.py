"""A synthetic H&E-like scene that can be rendered at any position and resolution.

The scene is analytic: tissue is a threshold of a smooth field (a sum of separable Gaussian
bumps) and nuclei are ellipses on a jittered lattice, one cell of the lattice per nucleus at
most. Because every pixel only depends on the lattice cell it falls in, a region can be rendered
without knowing the rest of the slide, which is what lets `synth.py` stream a 50,000² slide and
lets tests draw ground-truth labels for any tile.

Coordinates are level-0 pixels with pixel (row i, col j) covering [j, j+1) x [i, i+1); a region
rendered at `level0_per_px = d` samples the scene at the centres ((x + j + 0.5) d, (y + i + 0.5) d).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

BACKGROUND_RGB = (242, 241, 239)
STROMA_LIGHT_RGB = (236, 186, 214)
STROMA_DARK_RGB = (205, 120, 170)
NUCLEUS_RGB = (88, 52, 128)


class SceneSpec(BaseModel):
    """Everything that determines a synthetic scene; the same spec renders the same pixels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    mpp: float = Field(gt=0)
    seed: int = 0
    tissue_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    nucleus_spacing_um: float = Field(default=15.0, gt=0)
    nucleus_radius_um: tuple[float, float] = (2.5, 4.5)
    nucleus_gap_um: float = Field(default=1.0, ge=0)
    occupancy: float = Field(default=0.85, ge=0.0, le=1.0)


@dataclass(frozen=True)
class Nuclei:
    """Ground-truth nuclei as columns (level-0 pixels); `id` is 1 + the lattice cell index."""

    id: np.ndarray  # uint32
    x: np.ndarray  # float64 centre
    y: np.ndarray
    a: np.ndarray  # semi-axis along `angle`
    b: np.ndarray
    angle: np.ndarray  # radians

    def __len__(self) -> int:
        return len(self.id)

    def area(self) -> np.ndarray:
        """Analytic ellipse areas in level-0 pixels²."""
        return np.asarray(math.pi * self.a * self.b)


class Scene:
    """A rendered-on-demand synthetic slide: tissue field plus a lattice of nuclei."""

    def __init__(self, spec: SceneSpec) -> None:
        self.spec = spec
        rng = np.random.default_rng(spec.seed)
        self._init_tissue(rng)
        self._init_nuclei(rng)

    # -- tissue -------------------------------------------------------------------------------

    def _init_tissue(self, rng: np.random.Generator) -> None:
        spec = self.spec
        size = min(spec.width, spec.height)
        big, small = 8, 24
        n = big + small
        self._bx = rng.uniform(0, spec.width, n)
        self._by = rng.uniform(0, spec.height, n)
        self._bsx = np.concatenate([rng.uniform(0.10, 0.25, big), rng.uniform(0.03, 0.08, small)])
        self._bsy = self._bsx * rng.uniform(0.6, 1.6, n)
        self._bsx, self._bsy = self._bsx * size, self._bsy * size
        # Small bumps of either sign make the tissue border irregular instead of round.
        self._bw = np.concatenate([rng.uniform(0.6, 1.0, big), rng.uniform(-0.35, 0.35, small)])
        samples = self._field_grid(
            (np.arange(256) + 0.5) * spec.width / 256, (np.arange(256) + 0.5) * spec.height / 256
        ).ravel()
        if spec.tissue_fraction <= 0.0:
            self.threshold = math.inf
        elif spec.tissue_fraction >= 1.0:
            self.threshold = -math.inf
        else:
            self.threshold = float(np.quantile(samples, 1.0 - spec.tissue_fraction))
        self._field_span = float(np.ptp(samples)) or 1.0

    def _field_grid(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        # Separable bumps turn the whole field into one small matrix product per region.
        gx = np.exp(-0.5 * ((xs[None, :] - self._bx[:, None]) / self._bsx[:, None]) ** 2)
        gy = np.exp(-0.5 * ((ys[None, :] - self._by[:, None]) / self._bsy[:, None]) ** 2)
        # einsum, not `@`: a BLAS call this small is slower than the arithmetic, and far slower
        # when OpenBLAS spins threads on a busy machine.
        field: np.ndarray = np.einsum("ky,kx->yx", gy * self._bw[:, None], gx)
        return field

    def tissue_field(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """The smooth tissue field sampled on the grid `ys x xs` (level-0 coordinates)."""
        return self._field_grid(np.asarray(xs, float), np.asarray(ys, float))

    def is_tissue(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether each level-0 point (x[k], y[k]) lies in tissue."""
        x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
        out = np.empty(len(x), bool)
        step = 65536  # bounds the (bumps x points) temporaries on a 50,000² slide
        for s in range(0, len(x), step):
            xs, ys = x[s : s + step], y[s : s + step]
            gx = np.exp(-0.5 * ((xs[None, :] - self._bx[:, None]) / self._bsx[:, None]) ** 2)
            gy = np.exp(-0.5 * ((ys[None, :] - self._by[:, None]) / self._bsy[:, None]) ** 2)
            out[s : s + step] = np.einsum("k,kn,kn->n", self._bw, gx, gy) > self.threshold
        return out

    def render_tissue(self, x: int, y: int, w: int, h: int, level0_per_px: float) -> np.ndarray:
        """Ground-truth tissue mask (bool, h x w) of a region at `level0_per_px`."""
        xs, ys = _centres(x, w, level0_per_px), _centres(y, h, level0_per_px)
        return self.tissue_field(xs, ys) > self.threshold

    # -- nuclei -------------------------------------------------------------------------------

    def _init_nuclei(self, rng: np.random.Generator) -> None:
        spec = self.spec
        g = spec.nucleus_spacing_um / spec.mpp
        r_lo, r_hi = (r / spec.mpp for r in spec.nucleus_radius_um)
        margin = r_hi + 0.5 * spec.nucleus_gap_um / spec.mpp
        if 2 * margin > g:
            raise ValueError("nucleus_spacing_um must exceed 2 * max radius + gap")
        self.spacing = g
        self.max_radius = r_hi
        rows, cols = math.ceil(spec.height / g), math.ceil(spec.width / g)
        self.lattice_shape = (rows, cols)
        jitter = g / 2 - margin
        cy = (np.arange(rows)[:, None] + 0.5) * g + rng.uniform(-jitter, jitter, (rows, cols))
        cx = (np.arange(cols)[None, :] + 0.5) * g + rng.uniform(-jitter, jitter, (rows, cols))
        a = rng.uniform(r_lo, r_hi, (rows, cols))
        b = a * rng.uniform(0.6, 1.0, (rows, cols))
        angle = rng.uniform(0, math.pi, (rows, cols))
        present = rng.uniform(0, 1, (rows, cols)) < spec.occupancy
        # Keep whole nuclei inside the slide so a label's centroid is the analytic centre.
        present &= (cx - r_hi >= 0) & (cx + r_hi <= spec.width)
        present &= (cy - r_hi >= 0) & (cy + r_hi <= spec.height)
        flat = np.flatnonzero(present)
        inside = self.is_tissue(cx.ravel()[flat], cy.ravel()[flat])
        present.ravel()[flat[~inside]] = False
        self._present, self._cx, self._cy = present, cx, cy
        self._a, self._b = a, b
        self._angle = angle
        # float32 copies for rendering; the float64 originals are the ground truth.
        self._cos, self._sin = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
        self._inv_a, self._inv_b = (1 / a).astype(np.float32), (1 / b).astype(np.float32)
        self._size = (0.5 * (a + b)).astype(np.float32)
        self._coverage = spec.occupancy * math.pi * float(np.mean(a * b)) / (g * g)

    def nuclei(self) -> Nuclei:
        """All ground-truth nuclei of the slide."""
        flat = np.flatnonzero(self._present)
        return Nuclei(
            id=(flat + 1).astype(np.uint32),
            x=self._cx.ravel()[flat],
            y=self._cy.ravel()[flat],
            a=self._a.ravel()[flat],
            b=self._b.ravel()[flat],
            angle=self._angle.ravel()[flat],
        )

    def _nucleus_field(
        self, x: int, y: int, w: int, h: int, level0_per_px: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel: a signed distance to the nearest ellipse edge (px, >= 0 inside) and its id.

        The distance is (1 - rho) * mean semi-axis, with rho the normalised ellipse radius: exact
        sign, approximately Euclidean near the edge, which is all the soft edge needs.
        """
        r0, r1, c0, c1 = self._cells(x, y, w, h, level0_per_px)
        if (r1 - r0) * (c1 - c0) > 64:
            return self._nucleus_field_dense(x, y, w, h, level0_per_px)
        # Few cells (fine levels): compute each ellipse on its own bounding box only.
        d = level0_per_px
        edge = np.full((h, w), -np.inf, np.float32)
        ids = np.zeros((h, w), np.uint32)
        cols = self.lattice_shape[1]
        for r, c in np.argwhere(self._present[r0:r1, c0:c1]) + np.array([r0, c0]):
            cx, cy = self._cx[r, c], self._cy[r, c]
            reach = self.max_radius + d  # + one pixel for the soft edge
            j0, j1 = _span(cx, reach, x, w, d)
            i0, i1 = _span(cy, reach, y, h, d)
            if j0 >= j1 or i0 >= i1:
                continue
            dx = ((x + np.arange(j0, j1) + 0.5) * d - cx).astype(np.float32)[None, :]
            dy = ((y + np.arange(i0, i1) + 0.5) * d - cy).astype(np.float32)[:, None]
            cos, sin = self._cos[r, c], self._sin[r, c]
            u = (dx * cos + dy * sin) * self._inv_a[r, c]
            v = (dy * cos - dx * sin) * self._inv_b[r, c]
            block = (1 - np.sqrt(u * u + v * v)) * (self._size[r, c] / d)
            view = edge[i0:i1, j0:j1]
            closer = block > view
            view[closer] = block[closer]
            ids[i0:i1, j0:j1][closer] = r * cols + c + 1
        return edge, ids

    def _nucleus_field_dense(
        self, x: int, y: int, w: int, h: int, level0_per_px: float
    ) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = _centres(x, w, level0_per_px), _centres(y, h, level0_per_px)
        rows, cols = self.lattice_shape
        ci = np.clip((ys / self.spacing).astype(np.int64), 0, rows - 1)
        cj = np.clip((xs / self.spacing).astype(np.int64), 0, cols - 1)
        # Every nucleus lies inside its own lattice cell, so each pixel only tests one ellipse.
        idx = np.ix_(ci, cj)
        dx = (xs[None, :] - self._cx[idx]).astype(np.float32)
        dy = (ys[:, None] - self._cy[idx]).astype(np.float32)
        cos, sin = self._cos[idx], self._sin[idx]
        u = (dx * cos + dy * sin) * self._inv_a[idx]
        v = (dy * cos - dx * sin) * self._inv_b[idx]
        edge = (1 - np.sqrt(u * u + v * v)) * self._size[idx] * np.float32(1 / level0_per_px)
        edge[~self._present[idx]] = -np.inf
        ids = (ci[:, None] * cols + cj[None, :] + 1).astype(np.uint32)
        return edge, ids

    def _cells(self, x: int, y: int, w: int, h: int, d: float) -> tuple[int, int, int, int]:
        rows, cols = self.lattice_shape
        g = self.spacing
        r0, r1 = max(0, int(y * d / g)), min(rows, int((y + h) * d / g) + 1)
        c0, c1 = max(0, int(x * d / g)), min(cols, int((x + w) * d / g) + 1)
        return r0, r1, c0, c1

    def _has_nuclei(self, x: int, y: int, w: int, h: int, level0_per_px: float) -> bool:
        r0, r1, c0, c1 = self._cells(x, y, w, h, level0_per_px)
        return bool(self._present[r0:r1, c0:c1].any())

    def render_labels(self, x: int, y: int, w: int, h: int, level0_per_px: float) -> np.ndarray:
        """Ground-truth instance labels (uint32, 0 = background) of a region."""
        if not self._has_nuclei(x, y, w, h, level0_per_px):
            return np.zeros((h, w), np.uint32)
        edge, ids = self._nucleus_field(x, y, w, h, level0_per_px)
        return np.where(edge >= 0, ids, 0).astype(np.uint32)

    def render_rgb(
        self,
        x: int,
        y: int,
        w: int,
        h: int,
        level0_per_px: float,
        *,
        noise_seed: int | Sequence[int] = 0,
    ) -> np.ndarray:
        """RGB uint8 pixels (h x w x 3) of a region; `noise_seed` varies only the grain."""
        xs, ys = _centres(x, w, level0_per_px), _centres(y, h, level0_per_px)
        field = self.tissue_field(xs, ys)
        mask = field > self.threshold
        rng = np.random.default_rng(noise_seed)
        grain = rng.integers(-6, 7, (h, w), dtype=np.int8).astype(np.float32)
        out = np.empty((h, w, 3), np.uint8)
        if not mask.any() and not self._has_nuclei(x, y, w, h, level0_per_px):
            # Most of a slide is glass: skip the stain model.
            grain *= 0.5
            for c in range(3):
                out[..., c] = np.clip(grain + BACKGROUND_RGB[c], 0, 255)
            return out
        tissue = mask.astype(np.float32)
        depth = np.clip((field - self.threshold) / (0.25 * self._field_span), 0.0, 1.0)
        depth32 = depth.astype(np.float32) * tissue
        alpha = None
        if level0_per_px > self.max_radius / 2:
            # Nuclei under ~4 px across would alias into moiré: tint by their mean coverage.
            alpha = tissue * np.float32(self._coverage)
        elif self._has_nuclei(x, y, w, h, level0_per_px):
            edge, _ = self._nucleus_field(x, y, w, h, level0_per_px)
            # One-pixel soft edge: alpha crosses 0.5 exactly where the label's edge crosses 0.
            alpha = np.clip(edge + 0.5, 0.0, 1.0)
        grain *= 0.5 + 1.5 * tissue
        # Channel planes, not an (h, w, 3) array: numpy broadcasts over a length-3 last axis
        # several times slower than over a whole plane.
        for c in range(3):
            bg, light, dark = BACKGROUND_RGB[c], STROMA_LIGHT_RGB[c], STROMA_DARK_RGB[c]
            plane = tissue * (light - bg)
            plane += depth32 * (dark - light)
            plane += bg
            if alpha is not None:
                plane += alpha * (NUCLEUS_RGB[c] - plane)
            plane += grain
            out[..., c] = np.clip(plane, 0, 255, out=plane)
        return out


def _centres(start: int, n: int, level0_per_px: float) -> np.ndarray:
    return (start + np.arange(n) + 0.5) * level0_per_px


def _span(centre: float, reach: float, start: int, n: int, d: float) -> tuple[int, int]:
    """Output pixels [lo, hi) of a region whose centres lie within `reach` of `centre`."""
    lo = math.ceil((centre - reach) / d - start - 0.5)
    hi = math.floor((centre + reach) / d - start - 0.5) + 1
    return max(0, lo), min(n, hi)
