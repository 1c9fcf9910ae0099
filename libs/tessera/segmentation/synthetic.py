"""Procedural H&E-like tiles with exact nucleus instance labels, reproducible from a seed.

Why procedural: the bundled model must be trainable offline, in CI and on a hospital network, with
unlimited, perfectly labelled data. Each tile is composed the way a brightfield scanner sees a
stained section (Beer-Lambert): optical density = hematoxylin density x H stain vector + eosin
density x E stain vector, intensity = white point x 10^-density. Nuclei are drawn into the
hematoxylin density with a one-pixel soft edge, and a pixel is labelled with a nucleus exactly
when that nucleus's edge profile is at least one half there, so labels follow the visible
boundary. Later nuclei lie on top of earlier ones: overlaps are darker (both absorb) and belong to
the upper nucleus; a placement that would split or mostly hide an earlier nucleus is refused, so
every label is one connected region.

Everything is drawn at the model's resolution (`PIXEL_SIZE_UM`): lymphocytes are 7-10 px across,
tumour nuclei 11-20 px, fibroblasts 12-24 px long and 4-6 px wide.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from tessera.segmentation.normalisation import NormalisationStats

PIXEL_SIZE_UM = 0.5
LAYOUTS = ("glass", "stroma", "sparse", "medium", "dense")
_LAYOUT_WEIGHTS = np.array([0.05, 0.07, 0.25, 0.33, 0.30])
_NUCLEI_PER_256 = {"glass": (0, 0), "stroma": (0, 0), "sparse": (4, 25), "medium": (25, 70),
                   "dense": (70, 190)}  # fmt: skip

# Ruifrok & Johnston stain vectors (optical density per unit stain, R, G, B).
_HEMATOXYLIN = np.array([0.65, 0.70, 0.29])
_EOSIN = np.array([0.07, 0.99, 0.11])


@dataclass(frozen=True)
class SyntheticTile:
    """A tile, its labels (0 = background, 1..n), and the stats a slide of this stain would give."""

    image: np.ndarray  # (H, W, 3) uint8
    labels: np.ndarray  # (H, W) int32
    stats: NormalisationStats
    layout: str


@dataclass(frozen=True)
class _Stain:
    hematoxylin: np.ndarray
    eosin: np.ndarray
    white: np.ndarray  # intensity of clear glass per channel
    glass_density: np.ndarray  # optical density of the slide itself


@dataclass(frozen=True)
class Nucleus:
    """Shape and appearance of one nucleus; the rendering is a pure function of these."""

    cy: float
    cx: float
    a: float  # semi-axis along `angle`, px
    b: float  # semi-axis across, px
    angle: float
    harmonics: tuple[tuple[float, float], ...]  # (amplitude, phase) for k = 2, 3, ...
    density: float  # hematoxylin density at the centre
    rim: float  # 0 = solid, 1 = vesicular (pale centre, dark rim)
    nucleoli: tuple[tuple[float, float], ...]  # offsets in px from the centre


def render_nucleus(
    nucleus: Nucleus, shape: tuple[int, int]
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """Bounding box, label mask and soft hematoxylin density of one nucleus in an image of `shape`.

    The mask is exactly where the soft edge profile is >= 0.5. Returns None when the nucleus lies
    outside the image.
    """
    wobble = sum(abs(amp) for amp, _ in nucleus.harmonics)
    reach = int(np.ceil(max(nucleus.a, nucleus.b) * (1 + wobble))) + 2
    y0, y1 = max(0, int(nucleus.cy) - reach), min(shape[0], int(nucleus.cy) + reach + 1)
    x0, x1 = max(0, int(nucleus.cx) - reach), min(shape[1], int(nucleus.cx) + reach + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - nucleus.cy, xx - nucleus.cx
    cos, sin = np.cos(nucleus.angle), np.sin(nucleus.angle)
    u = (dx * cos + dy * sin) / nucleus.a
    v = (-dx * sin + dy * cos) / nucleus.b
    radius = np.hypot(u, v)
    phi = np.arctan2(v, u)
    boundary = np.ones_like(radius)
    for k, (amp, phase) in enumerate(nucleus.harmonics, start=2):
        boundary += amp * np.cos(k * phi + phase)
    # (boundary - radius) x mean radius ~ signed distance to the outline in pixels.
    edge = np.clip((boundary - radius) * np.sqrt(nucleus.a * nucleus.b) + 0.5, 0.0, 1.0)
    mask = edge >= 0.5
    if not mask.any():
        return None
    relative = np.clip(radius / np.maximum(boundary, 1e-3), 0.0, 1.0)
    profile = nucleus.density * (1 - nucleus.rim * 0.55 * (1 - relative**2))
    for oy, ox in nucleus.nucleoli:
        profile = profile + 0.7 * nucleus.density * np.exp(-((dy - oy) ** 2 + (dx - ox) ** 2) / 1.2)
    return (slice(y0, y1), slice(x0, x1)), mask, (profile * edge).astype(np.float32)


def generate_tile(
    seed: int | np.random.Generator,
    size: int = 256,
    layout: str | None = None,
    degrade: bool = True,
) -> SyntheticTile:
    """One tile of `size` x `size` pixels at `PIXEL_SIZE_UM`.

    `layout` forces one of `LAYOUTS` (default: drawn). `degrade=False` skips blur, noise and JPEG,
    which is how tests check that labels sit on the drawn nuclei.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if layout is None:
        layout = str(rng.choice(LAYOUTS, p=_LAYOUT_WEIGHTS / _LAYOUT_WEIGHTS.sum()))
    elif layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    shape = (size, size)
    stain = _draw_stain(rng)
    tissue = _tissue_mask(rng, shape, layout)
    eosin, fibre_angle = _stroma(rng, shape, tissue)
    hematoxylin = tissue * rng.uniform(0.0, 0.08) * (1 + 0.5 * _smooth_noise(rng, shape, 2.0))

    labels = np.zeros(shape, dtype=np.int32)
    nuclear = np.zeros(shape, dtype=np.float32)
    _place_nuclei(rng, layout, tissue, fibre_angle, labels, nuclear)
    chromatin = 1 + rng.uniform(0.05, 0.25) * _smooth_noise(rng, shape, 0.7)
    hematoxylin = hematoxylin + nuclear * chromatin
    if labels.any():  # cytoplasm: a faint pink-purple rim around each nucleus
        cell = ndi.gaussian_filter((labels > 0).astype(np.float32), rng.uniform(2.0, 4.0))
        eosin = eosin + rng.uniform(0.0, 0.35) * cell * tissue
    eosin = _red_blood_cells(rng, eosin, labels, tissue)

    density = (
        np.maximum(hematoxylin, 0)[..., None] * stain.hematoxylin
        + np.maximum(eosin, 0)[..., None] * stain.eosin
        + stain.glass_density
    )
    image = stain.white * np.power(10.0, -density)
    if degrade:
        image = _degrade(rng, image)
    image_u8 = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if degrade and rng.random() < 0.5:
        image_u8 = jpeg_roundtrip(image_u8, int(rng.integers(30, 96)))
    return SyntheticTile(image_u8, labels, _slide_stats(rng, stain), layout)


def held_out_tiles(count: int, size: int = 256, seed: int = 9_000_001) -> list[SyntheticTile]:
    """A fixed set of tiles that no training stream draws (training streams use other seeds)."""
    return [
        generate_tile(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,))), size)
        for i in range(count)
    ]


def _draw_stain(rng: np.random.Generator) -> _Stain:
    def vector(base: np.ndarray, spread: float) -> np.ndarray:
        v = np.clip(base + rng.normal(0, spread, 3), 0.02, None)
        return v / np.linalg.norm(v)

    strength_h = rng.uniform(0.8, 1.3)
    strength_e = rng.uniform(0.6, 1.4)
    white = np.clip(rng.uniform(225, 255) + rng.normal(0, 4, 3), 200, 255)
    return _Stain(
        hematoxylin=vector(_HEMATOXYLIN, 0.06) * strength_h,
        eosin=vector(_EOSIN, 0.06) * strength_e,
        white=white,
        glass_density=rng.uniform(0.0, 0.04, 3),
    )


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to unit standard deviation.

    Wide filters run on a coarser grid and are interpolated up: same look, a fraction of the time.
    """
    step = max(1, int(sigma // 2))
    coarse = (shape[0] // step + 2, shape[1] // step + 2)
    noise = rng.standard_normal(coarse).astype(np.float32)
    noise = ndi.gaussian_filter(noise, sigma / step, mode="wrap")
    if step > 1:
        noise = ndi.zoom(noise, step, order=1)
    noise = noise[: shape[0], : shape[1]]
    return noise / max(float(noise.std()), 1e-6)


def _tissue_mask(rng: np.random.Generator, shape: tuple[int, int], layout: str) -> np.ndarray:
    """Soft mask of where tissue is: all of the tile, a part of it, or little (glass)."""
    if layout == "glass":
        coverage = rng.uniform(0.0, 0.3)
    else:
        coverage = 1.0 if rng.random() < 0.55 else rng.uniform(0.55, 1.0)
    field = _smooth_noise(rng, shape, shape[0] / rng.uniform(4, 10))
    if coverage >= 1.0:
        mask = np.ones(shape, dtype=np.float32)
    elif coverage <= 0.0:
        mask = np.zeros(shape, dtype=np.float32)
    else:
        cut = np.quantile(field, 1 - coverage)
        mask = np.clip((field - cut) * 6 + 0.5, 0, 1).astype(np.float32)
    if layout != "glass" and rng.random() < 0.4:  # lumens and fat: clear holes in the tissue
        holes = _smooth_noise(rng, shape, rng.uniform(3, 8))
        cut = np.quantile(holes, 1 - rng.uniform(0.02, 0.12))
        mask = mask * np.clip((cut - holes) * 4 + 0.5, 0, 1)
    return mask.astype(np.float32)


def _stroma(
    rng: np.random.Generator, shape: tuple[int, int], tissue: np.ndarray
) -> tuple[np.ndarray, float]:
    """Eosin density with wavy collagen fibres; returns it and the fibre direction (radians)."""
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    warp = _smooth_noise(rng, shape, rng.uniform(6, 16)) * rng.uniform(2, 6)
    wavelength = rng.uniform(5, 14)
    along = xx * np.sin(angle) - yy * np.cos(angle)
    fibres = 0.5 + 0.5 * np.sin(2 * np.pi * along / wavelength + warp)
    strength = rng.uniform(0.0, 0.6)
    base = rng.uniform(0.1, 0.5)
    texture = 1 + strength * (fibres - 0.5) + 0.25 * _smooth_noise(rng, shape, 3.0)
    texture += 0.08 * _smooth_noise(rng, shape, 0.8)
    return (base * tissue * np.clip(texture, 0.1, None)).astype(np.float32), float(angle)


def _draw_nucleus(
    rng: np.random.Generator, kind: str, cy: float, cx: float, fibre_angle: float
) -> Nucleus:
    n_harmonics = 3
    if kind == "lymphocyte":
        radius = rng.uniform(3.5, 5.0)
        a, b = radius * rng.uniform(1.0, 1.15), radius
        angle = rng.uniform(0, np.pi)
        wobble, density, rim = 0.04, rng.uniform(1.0, 1.7), rng.uniform(0.0, 0.2)
        nucleoli: tuple[tuple[float, float], ...] = ()
    elif kind == "tumour":
        radius = rng.uniform(5.5, 10.0)
        a, b = radius * rng.uniform(1.0, 1.5), radius
        angle = rng.uniform(0, np.pi)
        wobble, density, rim = 0.09, rng.uniform(0.45, 1.05), rng.uniform(0.2, 1.0)
        count = int(rng.integers(0, 3))
        nucleoli = tuple(
            (float(rng.uniform(-0.4, 0.4) * b), float(rng.uniform(-0.4, 0.4) * b))
            for _ in range(count)
        )
    else:  # fibroblast: a spindle along the collagen
        a, b = rng.uniform(6.0, 12.0), rng.uniform(2.0, 3.2)
        angle = fibre_angle + rng.normal(0, 0.25)
        wobble, density, rim = 0.05, rng.uniform(0.8, 1.4), 0.0
        nucleoli = ()
    harmonics = tuple(
        (float(rng.uniform(0, wobble)), float(rng.uniform(0, 2 * np.pi)))
        for _ in range(n_harmonics)
    )
    return Nucleus(cy, cx, a, b, angle, harmonics, density, rim, nucleoli)


def _place_nuclei(
    rng: np.random.Generator,
    layout: str,
    tissue: np.ndarray,
    fibre_angle: float,
    labels: np.ndarray,
    nuclear: np.ndarray,
) -> None:
    """Place nuclei in clusters, touching and overlapping, writing `labels` and `nuclear`."""
    low, high = _NUCLEI_PER_256[layout]
    if high == 0:
        return
    shape = labels.shape
    scale = shape[0] * shape[1] / 256**2 * max(float(tissue.mean()), 0.05)
    target = int(rng.integers(low, high + 1) * scale)
    kinds = ("lymphocyte", "tumour", "fibroblast")
    mix = rng.dirichlet([0.8, 0.8, 0.5])
    max_overlap = rng.choice([0.0, 0.15, 0.3], p=[0.3, 0.4, 0.3])
    touch_probability = rng.uniform(0.1, 0.6)
    clusters = rng.uniform(0, shape[0], size=(int(rng.integers(1, 5)), 2))
    cluster_spread = rng.uniform(10, 50)
    tissue_points = np.argwhere(tissue > 0.5)
    if tissue_points.size == 0:
        return
    centres: list[tuple[float, float, float]] = []  # cy, cx, radius of placed nuclei
    boxes: dict[int, tuple[slice, slice]] = {}
    areas: dict[int, int] = {}
    next_id = 1
    for _ in range(target * 3):
        if next_id > target:
            break
        kind = kinds[int(rng.choice(3, p=mix))]
        nucleus = _draw_nucleus(rng, kind, 0.0, 0.0, fibre_angle)
        size = float(np.sqrt(nucleus.a * nucleus.b))
        roll = rng.random()
        if centres and roll < touch_probability:  # next to an earlier one: touching or overlapping
            py, px, pr = centres[int(rng.integers(len(centres)))]
            direction = rng.uniform(0, 2 * np.pi)
            gap = (pr + size) * rng.uniform(0.8, 1.05)
            cy, cx = py + gap * np.sin(direction), px + gap * np.cos(direction)
        elif roll < touch_probability + 0.4:
            centre = clusters[int(rng.integers(len(clusters)))]
            cy, cx = centre + rng.normal(0, cluster_spread, 2)
        else:
            cy, cx = tissue_points[int(rng.integers(len(tissue_points)))] + rng.uniform(0, 1, 2)
        if not (0 <= cy < shape[0] and 0 <= cx < shape[1]) or tissue[int(cy), int(cx)] < 0.5:
            continue
        nucleus = replace(nucleus, cy=float(cy), cx=float(cx))
        rendered = render_nucleus(nucleus, shape)
        if rendered is None:
            continue
        box, mask, profile = rendered
        if _paint(labels, box, mask, next_id, max_overlap, boxes, areas):
            nuclear[box] += profile
            centres.append((cy, cx, size))
            next_id += 1


def _paint(
    labels: np.ndarray,
    box: tuple[slice, slice],
    mask: np.ndarray,
    new_id: int,
    max_overlap: float,
    boxes: dict[int, tuple[slice, slice]],
    areas: dict[int, int],
) -> bool:
    """Write `new_id` over `mask` unless it would hide too much of, or split, an earlier nucleus."""
    area = int(mask.sum())
    if area < 8:
        return False
    under = labels[box][mask]
    covered = under[under > 0]
    if covered.size > max_overlap * area:
        return False
    hit_ids, hit_counts = np.unique(covered, return_counts=True)
    for other, count in zip(hit_ids.tolist(), hit_counts.tolist(), strict=True):
        if areas[other] - count < max(8, 0.6 * areas[other]):
            return False
    saved = labels[box].copy()
    labels[box][mask] = new_id
    for other in hit_ids.tolist():
        region = _union(boxes[other], box)
        _, pieces = ndi.label(labels[region] == other)
        if pieces != 1:
            labels[box] = saved
            return False
    for other, count in zip(hit_ids.tolist(), hit_counts.tolist(), strict=True):
        areas[other] -= count
    boxes[new_id] = box
    areas[new_id] = area
    return True


def _union(a: tuple[slice, slice], b: tuple[slice, slice]) -> tuple[slice, slice]:
    return (
        slice(min(a[0].start, b[0].start), max(a[0].stop, b[0].stop)),
        slice(min(a[1].start, b[1].start), max(a[1].stop, b[1].stop)),
    )


def _red_blood_cells(
    rng: np.random.Generator, eosin: np.ndarray, labels: np.ndarray, tissue: np.ndarray
) -> np.ndarray:
    """Unlabelled, densely eosin-stained discs: look-alikes the model must learn to ignore."""
    if rng.random() > 0.3:
        return eosin
    out = eosin.copy()
    shape = labels.shape
    for _ in range(int(rng.integers(1, 20))):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        radius = rng.uniform(2.8, 4.0)
        pale_centre = Nucleus(cy, cx, radius, radius, 0.0, (), 1.0, 0.6, ())
        rendered = render_nucleus(pale_centre, shape)
        if rendered is None:
            continue
        box, _, profile = rendered
        free = labels[box] == 0
        out[box] += rng.uniform(0.6, 1.3) * profile * free
    return out


def _degrade(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Scanner blur (sometimes out of focus) and sensor noise."""
    if rng.random() < 0.6:
        sigma = rng.uniform(0.3, 1.4)
        image = ndi.gaussian_filter(image, sigma=(sigma, sigma, 0))
    noise = rng.uniform(0.0, 4.0)
    return image + rng.normal(0, noise, image.shape)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG: the block and ringing artefacts of compressed slides."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _slide_stats(rng: np.random.Generator, stain: _Stain) -> NormalisationStats:
    """What `normalisation_stats` would give over a whole slide of this stain.

    Low end: the darkest nuclei; high end: clear glass. Using these rather than the tile's own
    percentiles mimics Tessera's per-slide normalisation, so an empty tile is not stretched.
    """
    darkest = rng.uniform(1.2, 1.7) * stain.hematoxylin + 0.25 * stain.eosin + stain.glass_density
    low = stain.white * np.power(10.0, -darkest)
    high = stain.white * np.power(10.0, -stain.glass_density)
    a, b, c = (float(v) for v in low)
    d, e, f = (float(v) for v in high)
    return NormalisationStats((a, b, c), (d, e, f))
