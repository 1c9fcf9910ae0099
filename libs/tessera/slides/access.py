"""Resolving slide references under a data root and reading their metadata.

A slide reference is a path relative to the data root, as a user typed it in a workflow. It is
untrusted: absolute paths, `..` and symlinks that lead out of the root are refused, so a
submission cannot make a worker read `/etc/shadow` or another tenant's mount. A reference names a
file, or a folder of DICOM instances (one slide as a series). Every failure is a
`SlideError(slide, reason)` whose reason a user can act on.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from pydantic import BaseModel, ConfigDict

from tessera.errors import SlideError
from tessera.slides.formats import Slide, open_slide
from tessera.slides.signatures import dicom_instance

__all__ = ["SlideInfo", "open_slide", "read_slide_info", "require_mpp", "resolve_slide"]

# Scanners write pixel sizes from ~0.1 µm (100x oil) to a few µm (low-power overviews); a
# value outside this range is a unit mix-up or a placeholder, not a calibration.
MIN_PLAUSIBLE_MPP = 0.05
MAX_PLAUSIBLE_MPP = 50.0


class SlideInfo(BaseModel):
    """What the data plane needs to know about a slide (serialisable, e.g. into JobPlanned)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slide: str
    vendor: str | None
    width: int
    height: int
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    mpp_x: float | None
    mpp_y: float | None
    objective_power: float | None = None
    format: str | None = None  # e.g. aperio, dicom, ome-tiff, generic-tiff (formats.py)
    associated_images: tuple[str, ...] = ()  # label, macro, thumbnail: those the file has

    @property
    def level_count(self) -> int:
        return len(self.level_dimensions)

    def level_mpp(self, level: int, mpp: float | None = None) -> float:
        """Pixel size (µm) of `level`, from the slide's mpp or the `mpp` given."""
        return require_mpp(self, mpp) * self.level_downsamples[level]


def resolve_slide(data_root: str | os.PathLike[str], slide: str) -> Path:
    """Resolve a slide reference to a file (or DICOM folder) inside `data_root`, or SlideError."""
    if not slide or not slide.strip():
        raise SlideError(slide, "empty slide reference")
    if "\x00" in slide:
        raise SlideError(slide, "slide reference contains a NUL byte")
    posix, windows = PurePosixPath(slide), PureWindowsPath(slide)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        raise SlideError(slide, "must be a path relative to the data root, not an absolute path")
    if ".." in posix.parts or ".." in windows.parts:
        raise SlideError(slide, "must not contain '..'")
    root = Path(data_root).resolve()
    candidate = root / posix
    try:
        # resolve() follows every symlink on the way, so the containment check sees the target.
        resolved = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise SlideError(slide, "no such file under the data root") from None
    except (OSError, RuntimeError) as exc:  # loops, permissions
        raise SlideError(slide, f"cannot be resolved ({exc.__class__.__name__})") from None
    if not resolved.is_relative_to(root):
        raise SlideError(slide, "resolves to a location outside the data root")
    if resolved.is_dir():
        if dicom_instance(resolved) is None:
            raise SlideError(slide, "is a folder without DICOM instances, not a slide")
    elif not resolved.is_file():
        raise SlideError(slide, "is not a regular file")
    return resolved


def slide_info(handle: Slide, slide: str) -> SlideInfo:
    """Read the metadata of an open slide."""
    return SlideInfo(
        slide=slide,
        vendor=handle.vendor,
        width=handle.dimensions[0],
        height=handle.dimensions[1],
        level_dimensions=handle.level_dimensions,
        level_downsamples=handle.level_downsamples,
        mpp_x=handle.mpp_x,
        mpp_y=handle.mpp_y,
        objective_power=handle.objective_power,
        format=handle.format,
        associated_images=tuple(handle.associated_images),
    )


def read_slide_info(data_root: str | os.PathLike[str], slide: str) -> SlideInfo:
    """Resolve, open and describe a slide in one call (the gateway's and tiler's check)."""
    handle = open_slide(resolve_slide(data_root, slide), slide)
    try:
        return slide_info(handle, slide)
    finally:
        handle.close()


def require_mpp(info: SlideInfo, override: float | None = None) -> float:
    """The slide's level-0 pixel size in µm, or `override`; SlideError when neither is usable.

    A job's own pixel size wins over the file's, so a mis-calibrated slide can still run.
    """
    if override is not None:
        if not _plausible(override):
            raise SlideError(info.slide, f"job pixel size {override!r} µm is not plausible")
        return float(override)
    if info.mpp_x is None:
        raise SlideError(
            info.slide, "has no pixel size in its metadata; give the job an mpp parameter"
        )
    if not _plausible(info.mpp_x):
        raise SlideError(
            info.slide, f"pixel size {info.mpp_x} µm is not plausible; give the job an mpp"
        )
    if info.mpp_y is not None and abs(info.mpp_y - info.mpp_x) > 0.05 * info.mpp_x:
        raise SlideError(
            info.slide,
            f"non-square pixels ({info.mpp_x} x {info.mpp_y} µm) are not supported",
        )
    return info.mpp_x


def _plausible(mpp: float) -> bool:
    return math.isfinite(mpp) and MIN_PLAUSIBLE_MPP <= mpp <= MAX_PLAUSIBLE_MPP
