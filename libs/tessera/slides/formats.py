"""One reader for every slide format: each slide is opened by the backend that reads it whole.

`open_slide` tries, in order:

1. OpenSlide 4: Aperio, Hamamatsu (NDPI, VMS), 3DHistech MRXS, Leica SCN, Ventana BIF, Philips
   TIFF, Sakura, Trestle, Zeiss, DICOM WSI and tiled TIFFs whose levels are pages. It is left
   out for TIFFs whose pyramid it would not see (OME-TIFF, levels as SubIFDs): it would open
   them as one full-resolution level.
2. tiffslide (on tifffile): OME-TIFF pyramids, SubIFD pyramids and TIFFs OpenSlide refuses
   (stripped, untiled ones).
3. wsidicom: a DICOM series OpenSlide cannot read.

A slide is a file, or a folder of DICOM instances (a series: OpenSlide is given one of its
files and finds the others beside it). Whatever reads it, the open slide is a `Slide`: OpenSlide's
interface (level geometry, `read_region` in level-0 coordinates as RGBA, associated images), so
the reader, Deep Zoom and thumbnails work the same on every backend, plus the metadata in one
spelling (`format`, pixel size, objective power). A file no backend reads is a `SlideError` that
names what the file looks like, and every read failure is a `SlideError` too.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import openslide
from PIL import Image

from tessera.errors import SlideError
from tessera.slides.jpegtiles import JpegTiles
from tessera.slides.signatures import describe_file, dicom_instance, is_dicom, is_tiff

Backend = Literal["openslide", "tiffslide", "wsidicom"]
# OpenSlide formats whose levels are TIFF pages read tile by tile as laid out in the file
PLAIN_TIFF_TILES = frozenset({"aperio", "generic-tiff"})


class Slide(openslide.AbstractSlide):
    """An open slide, whichever backend reads it (see the module docstring).

    `read_region` answers RGBA like OpenSlide's and raises `SlideError` on a failed read;
    `associated_images` maps names (label, macro, thumbnail) to images, read when asked for.
    A slide may be read from several threads: OpenSlide is thread-safe, the Python backends
    share one file handle and decoder state, so their reads take turns (the data plane opens a
    slide per thread anyway; the gateway's Deep Zoom shares one).
    """

    def __init__(
        self,
        inner: Any,
        *,
        name: str,
        backend: Backend,
        format: str,
        vendor: str | None,
        mpp: tuple[float | None, float | None],
        objective_power: float | None,
        associated: Mapping[str, Callable[[], Image.Image]],
        errors: tuple[type[BaseException], ...],
        read: Callable[[tuple[int, int], int, tuple[int, int]], Image.Image] | None = None,
        close: Callable[[], None] | None = None,
        tiff: Path | None = None,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.name = name
        self.backend: Backend = backend
        self.format = format
        self.vendor = vendor
        self.mpp_x, self.mpp_y = mpp
        self.objective_power = objective_power
        self._errors = errors
        self._lock: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if backend == "openslide" else threading.Lock()
        )
        self._read = read if read is not None else inner.read_region
        self._close = close if close is not None else inner.close
        self._tiff = tiff  # a TIFF whose tiles are laid out plainly: see `jpeg_tiles`
        self._jpeg: JpegTiles | bool | None = False  # False: not looked at yet
        self._closed = True  # until whole: a failed __init__ leaves closing to its caller
        self._associated = _LazyImages(name, associated, errors, self._lock)
        self._level_dimensions: tuple[tuple[int, int], ...] = tuple(
            (int(w), int(h)) for w, h in inner.level_dimensions
        )
        self._level_downsamples = tuple(float(d) for d in inner.level_downsamples)
        self._closed = False

    def __repr__(self) -> str:
        return f"Slide({self.name!r}, format={self.format!r}, backend={self.backend!r})"

    @classmethod
    def detect_format(cls, filename: openslide.lowlevel.Filename) -> str | None:
        return detect_format(Path(os.fsdecode(filename)))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if isinstance(self._jpeg, JpegTiles):
                self._jpeg.close()
            self._close()

    @property
    def jpeg_tiles(self) -> JpegTiles | None:
        """The slide's JPEG-tiled levels read directly (`tessera.slides.jpegtiles`), or None
        where that does not read what this backend reads (other formats and compressions)."""
        if self._jpeg is False:
            self._jpeg = (
                JpegTiles.open(self._tiff, self.level_dimensions, self._reference_read)
                if self._tiff is not None
                else None
            )
        assert not isinstance(self._jpeg, bool)
        return self._jpeg

    def _reference_read(
        self, level: int, location: tuple[int, int], size: tuple[int, int]
    ) -> np.ndarray:
        d = self._level_downsamples[level]
        at = (round(location[0] * d), round(location[1] * d))
        rgba = np.asarray(self.read_region(at, level, size))
        return np.where(rgba[..., 3:] == 255, rgba[..., :3], 255).astype(np.uint8)

    def __del__(self) -> None:
        # An open slide dropped without close() (the gateway's Deep Zoom LRU lets the last
        # request holding one finish) closes its files here; OpenSlide's would do it anyway.
        # When both are collected together, the OpenSlide handle may have been finalised (and its
        # file closed) first: closing it again raises, and there is nothing left to close.
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.close()

    @property
    def level_count(self) -> int:
        return len(self._level_dimensions)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return self._level_dimensions

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        return self._level_downsamples

    @property
    def properties(self) -> Mapping[str, str]:
        props = getattr(self.inner, "properties", {})
        return {k: str(v) for k, v in props.items() if v is not None}

    @property
    def associated_images(self) -> Mapping[str, Image.Image]:
        return self._associated

    @property
    def color_profile(self) -> Any:
        return self.inner.color_profile if self.backend == "openslide" else None

    def get_best_level_for_downsample(self, downsample: float) -> int:
        best = 0
        for level, d in enumerate(self._level_downsamples):
            if d <= downsample:
                best = level
        return best

    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> Image.Image:
        try:
            with self._lock:
                image = self._read(location, level, size)
        except self._errors as exc:
            raise SlideError(self.name, f"read failed ({exc})") from None
        return image if image.mode == "RGBA" else image.convert("RGBA")


def _readers(images: Mapping[str, Image.Image]) -> dict[str, Callable[[], Image.Image]]:
    return {name: functools.partial(images.__getitem__, name) for name in images}


class _LazyImages(Mapping[str, Image.Image]):
    """Associated images by name, each read when asked for (a macro image can be large)."""

    def __init__(
        self,
        slide: str,
        readers: Mapping[str, Callable[[], Image.Image]],
        errors: tuple[type[BaseException], ...],
        lock: contextlib.AbstractContextManager[Any],
    ) -> None:
        self._slide, self._readers, self._errors, self._lock = slide, dict(readers), errors, lock

    def __getitem__(self, name: str) -> Image.Image:
        read = self._readers[name]
        try:
            with self._lock:
                return read()
        except self._errors as exc:
            raise SlideError(
                self._slide, f"associated image {name!r}: read failed ({exc})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._readers)

    def __len__(self) -> int:
        return len(self._readers)


def open_slide(
    path: str | os.PathLike[str], slide: str | None = None, *, backend: Backend | None = None
) -> Slide:
    """Open a slide file or DICOM folder with the first backend that reads it, or SlideError.

    `slide` names it in errors (the path by default); `backend` forces one (to compare them).
    """
    path = Path(path)
    name = slide if slide is not None else str(path)
    try:
        target = dicom_instance(path) if path.is_dir() else path
    except OSError as exc:
        raise SlideError(name, f"cannot be opened ({exc.strerror or exc})") from None
    if target is None:
        raise SlideError(name, "is a folder without DICOM instances, not a slide")
    route = _route(target)
    if backend is not None:  # forced, to compare backends on one file
        route = (backend, route[1] if route is not None else "unknown")
    if route is None:
        raise SlideError(name, f"not a slide format any reader here opens: {describe_file(target)}")
    chosen, fmt = route
    if chosen == "openslide":
        try:
            return _open_openslide(target, name, fmt)
        except SlideError:
            if fmt != "dicom" or backend is not None:
                raise
            chosen = "wsidicom"  # a DICOM series OpenSlide cannot read
    if chosen == "tiffslide":
        return _open_tiffslide(target, name)
    return _open_wsidicom(path if path.is_dir() else path.parent, name)


def detect_format(path: Path) -> str | None:
    """The format `open_slide` would report for `path`, from its first bytes, or None."""
    try:
        target = dicom_instance(path) if path.is_dir() else path
    except OSError:
        return None
    route = _route(target) if target is not None else None
    return route[1] if route is not None else None


def _route(target: Path) -> tuple[Backend, str] | None:
    """The backend that reads `target` whole, and the format it names; None when none would."""
    vendor = openslide.OpenSlide.detect_format(os.fspath(target))
    if vendor is not None and not _pyramid_hidden_from_openslide(target, vendor):
        return "openslide", vendor
    if is_tiff(target):
        return "tiffslide", "ome-tiff" if _is_ome(target) else "generic-tiff"
    if is_dicom(target):
        return "wsidicom", "dicom"
    return None


def _is_ome(path: Path) -> bool:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return bool(tif.is_ome)
    except (OSError, ValueError, tifffile.TiffFileError):
        return False


def _pyramid_hidden_from_openslide(path: Path, vendor: str) -> bool:
    """A generic TIFF whose reduced levels OpenSlide would not see (OME-TIFF, SubIFDs)."""
    if vendor != "generic-tiff":
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return bool(tif.is_ome or tif.pages.first.subifds)
    except (OSError, ValueError, tifffile.TiffFileError):
        return False


# --- backends ------------------------------------------------------------------------------


def _open_openslide(path: Path, name: str, vendor: str) -> Slide:
    try:
        handle = openslide.OpenSlide(os.fspath(path))
    except openslide.OpenSlideUnsupportedFormatError:
        raise SlideError(
            name, f"not a slide format any reader here opens: {describe_file(path)}"
        ) from None
    except openslide.OpenSlideError as exc:
        raise SlideError(name, f"unreadable or corrupt {vendor} slide ({exc})") from None
    except OSError as exc:
        raise SlideError(name, f"cannot be opened ({exc.strerror or exc})") from None
    try:
        props = handle.properties
        return Slide(
            handle,
            name=name,
            backend="openslide",
            format=vendor,
            vendor=props.get(openslide.PROPERTY_NAME_VENDOR, vendor),
            mpp=(
                positive_float(props.get(openslide.PROPERTY_NAME_MPP_X)),
                positive_float(props.get(openslide.PROPERTY_NAME_MPP_Y)),
            ),
            objective_power=positive_float(props.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER)),
            associated=_readers(handle.associated_images),
            errors=(openslide.OpenSlideError,),
            # OpenSlide reads these levels as the plain TIFF tiles they are (other TIFF-based
            # formats lay tiles out their own way: Ventana's overlap, Philips' sparse tiles)
            tiff=path if vendor in PLAIN_TIFF_TILES else None,
        )
    except openslide.OpenSlideError as exc:
        handle.close()
        raise SlideError(name, f"unreadable or corrupt {vendor} slide ({exc})") from None


def _tiff_errors() -> tuple[type[BaseException], ...]:
    import tifffile

    # tifffile and the codecs raise these for a corrupt or truncated file
    return (OSError, ValueError, KeyError, IndexError, RuntimeError, tifffile.TiffFileError)


def _open_tiffslide(path: Path, name: str) -> Slide:
    import tiffslide

    errors = _tiff_errors()
    try:
        handle = tiffslide.TiffSlide(path)
    except errors as exc:
        raise SlideError(
            name, f"unreadable or corrupt slide ({describe_file(path)}: {exc})"
        ) from None
    try:
        props = handle.properties
        if not handle.level_dimensions:
            raise ValueError("no image in the file")
        return Slide(
            handle,
            name=name,
            backend="tiffslide",
            format="ome-tiff"
            if _is_ome(path)
            else str(props.get("tiffslide.vendor") or "generic-tiff"),
            vendor=props.get("tiffslide.vendor"),
            mpp=(
                positive_float(props.get("tiffslide.mpp-x")),
                positive_float(props.get("tiffslide.mpp-y")),
            ),
            objective_power=positive_float(props.get("tiffslide.objective-power")),
            associated=_readers(handle.associated_images),
            errors=errors,
            tiff=path,
        )
    except errors as exc:
        handle.close()
        raise SlideError(
            name, f"unreadable or corrupt slide ({describe_file(path)}: {exc})"
        ) from None


def _wsidicom_errors() -> tuple[type[BaseException], ...]:
    from wsidicom import errors

    # its errors do not share a base class
    found = tuple(
        e for e in vars(errors).values() if isinstance(e, type) and issubclass(e, Exception)
    )
    return (OSError, ValueError, KeyError, IndexError, RuntimeError, *found)


def _open_wsidicom(folder: Path, name: str) -> Slide:
    from wsidicom import WsiDicom

    errors = _wsidicom_errors()
    try:
        wsi = WsiDicom.open(folder)
    except errors as exc:
        raise SlideError(
            name,
            "not a slide format any reader here opens: a DICOM file that is not a readable "
            f"whole-slide image ({exc})",
        ) from None
    try:
        level = _WsiDicomLevels(wsi, list(wsi.levels))
        mpp = wsi.mpp  # µm per level-0 pixel, despite the type's name
        associated: dict[str, Callable[[], Image.Image]] = {}
        if wsi.labels:
            associated["label"] = wsi.read_label
        if wsi.overviews:
            associated["macro"] = wsi.read_overview
        return Slide(
            level,
            name=name,
            backend="wsidicom",
            format="dicom",
            vendor="dicom",
            mpp=(positive_float(mpp.width), positive_float(mpp.height)),
            objective_power=_dicom_objective_power(wsi),
            associated=associated,
            errors=errors,
            read=level.read_region,
            close=wsi.close,
        )
    except errors as exc:
        wsi.close()
        raise SlideError(name, f"unreadable DICOM series ({exc})") from None


def _dicom_objective_power(wsi: Any) -> float | None:
    """The first optical path's objective power (Objective Lens Power), when the series says."""
    paths = wsi.metadata.pyramid.optical_paths or []
    objective = paths[0].objective if paths else None
    return positive_float(objective.objective_power) if objective is not None else None


class _WsiDicomLevels:
    """wsidicom's pyramid in OpenSlide's terms: levels by index, locations in level 0."""

    def __init__(self, wsi: Any, levels: list[Any]) -> None:
        self._wsi, self._levels = wsi, levels
        w0 = levels[0].size.width
        self.level_dimensions = [(lv.size.width, lv.size.height) for lv in levels]
        self.level_downsamples = [w0 / lv.size.width for lv in levels]

    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> Image.Image:
        d = self.level_downsamples[level]
        x, y = (math.floor(c / d) for c in location)
        lw, lh = self.level_dimensions[level]
        # wsidicom refuses regions past the edge; OpenSlide answers them transparent
        w, h = min(size[0], lw - x), min(size[1], lh - y)
        out = Image.new("RGBA", size, (0, 0, 0, 0))
        if w > 0 and h > 0 and x >= 0 and y >= 0:
            image = self._wsi.read_region((x, y), self._levels[level].level, (w, h))
            out.paste(image.convert("RGBA"), (0, 0))
        return out


def positive_float(value: object) -> float | None:
    """A finite positive number from a metadata value, else None."""
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None
