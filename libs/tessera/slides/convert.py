"""Writing a slide again in another format: the synthetic Aperio slide as OME-TIFF, a generic
tiled TIFF and DICOM WSI, so that every backend of `formats.py` is tested and measured on the
same pixels.

The TIFFs copy every level's pixels as read (deflate, lossless) with the pixel size in the
resolution tags (and OME's PhysicalSize for OME-TIFF); the DICOM series is written by wsidicomizer
(a test and bench dependency, imported only here), which re-encodes the tiles as JPEG.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import tifffile

from tessera.errors import SlideError
from tessera.slides.formats import open_slide
from tessera.slides.reader import read_region

TILE = 256


def write_tiff(
    source: str | os.PathLike[str], target: str | os.PathLike[str], *, ome: bool
) -> Path:
    """Write `source`'s pyramid as a tiled TIFF: OME-TIFF with SubIFD levels when `ome`, else a
    generic TIFF with one page per level (as OpenSlide's generic-tiff reader expects)."""
    target = Path(target)
    with open_slide(source) as slide:
        if slide.mpp_x is None:
            raise SlideError(str(source), "has no pixel size to write")
        mpp = slide.mpp_x
        levels = [
            read_region(slide, level, (0, 0), size)
            for level, size in enumerate(slide.level_dimensions)
        ]
        downsamples = slide.level_downsamples
    part = target.with_name(target.name + ".part")
    ome_metadata = {
        "axes": "YXS",
        "PhysicalSizeX": mpp,
        "PhysicalSizeY": mpp,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeYUnit": "µm",
    }
    with tifffile.TiffWriter(part, ome=ome) as tif:
        for level, pixels in enumerate(levels):
            per_cm = 1e4 / (mpp * downsamples[level])
            first_of_ome = ome and level == 0
            tif.write(
                np.ascontiguousarray(pixels),
                # OME-TIFF keeps the reduced levels as SubIFDs of the first page
                subifds=len(levels) - 1 if first_of_ome else None,
                subfiletype=0 if level == 0 else 1,
                metadata=ome_metadata if first_of_ome else None,
                resolution=(per_cm, per_cm),
                resolutionunit="CENTIMETER",
                tile=(TILE, TILE),
                photometric="rgb",
                compression="zlib",
            )
    os.replace(part, target)
    return target


def write_dicom(source: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """Write `source` as a DICOM WSI series (one instance per level) into the new `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    # OpenSlide as wsidicomizer's reader: its own TIFF reader needs libturbojpeg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pydicom's, inside wsidicom
        _convert(source, folder)
    return folder


def _convert(source: str | os.PathLike[str], folder: Path) -> None:
    from wsidicomizer import WsiDicomizer
    from wsidicomizer.wsidicomizer import SourceIdentifier

    WsiDicomizer.convert(
        source,
        folder,
        preferred_source=SourceIdentifier.OPENSLIDE,
        tile_size=TILE,
        workers=1,
        include_label=False,
        include_overview=False,
    )
