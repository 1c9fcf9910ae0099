"""What a file is, by its first bytes (and, failing that, its name): for routing a slide to a
backend, finding the instances of a DICOM folder, and naming a file no backend reads."""

from __future__ import annotations

import os
from pathlib import Path

DICOM_MAGIC = b"DICM"  # at byte 128 of a DICOM Part 10 file
DICOM_SUFFIX = ".dcm"
# Named in the error for a file nobody reads: what the bytes (or, failing that, the name) say.
_MAGIC = (
    (b"II*\x00", "a TIFF file"),
    (b"MM\x00*", "a TIFF file"),
    (b"II+\x00", "a BigTIFF file"),
    (b"MM\x00+", "a BigTIFF file"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG", "a PNG image"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"ZISRAWFILE", "a Zeiss CZI file"),
    (b"%PDF", "a PDF document"),
)
_SUFFIXES = {
    ".czi": "a Zeiss CZI file",
    ".isyntax": "a Philips iSyntax file",
    ".vsi": "an Olympus VSI file",
    ".mrxs": "a 3DHistech MRXS slide (the .mrxs file needs its folder beside it)",
    ".ndpi": "a Hamamatsu NDPI file",
    ".dcm": "a DICOM file",
}


def _head(path: Path, n: int) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(n)
    except OSError:
        return b""


def is_tiff(path: Path) -> bool:
    return _head(path, 4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_dicom(path: Path) -> bool:
    return _head(path, 132)[128:] == DICOM_MAGIC


def dicom_instance(folder: Path) -> Path | None:
    """The first DICOM instance of a folder (by name), or None when it holds none.

    Instances are `.dcm` files or files without a suffix that carry the DICOM magic (as PACS
    exports name them); other files are not opened, so a listing of a big folder stays cheap.
    """
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        suffix = Path(entry.name).suffix.lower()
        if suffix == DICOM_SUFFIX or (not suffix and is_dicom(Path(entry.path))):
            return Path(entry.path)
    return None


def describe_file(path: Path) -> str:
    """What a file nobody reads looks like, for the error a user sees."""
    head = _head(path, 132)
    if head[128:] == DICOM_MAGIC:
        return "a DICOM file that is not a readable whole-slide image"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if not head:
        return "an empty file"
    return f"unknown content{f' ({suffix} file)' if suffix else ''}"
