"""Slide uploads: streamed to disk, size-limited, validated by opening them, then put in place;
and deleted again by their tenant.

The body goes to a hidden temporary file in the tenant's upload folder (the same file system, so
the last step is a link, not a copy), counted as it arrives and abandoned the moment it passes
the limit. Only a file that a slide reader opens and reads gets its name, through `os.link`,
which refuses an existing name atomically: two uploads of one name cannot overwrite each other.
Whatever fails, the temporary file is removed.

A multi-file slide comes as one `.zip` (`archives.py` unpacks it safely into a hidden folder):
`<name>.zip` holding a folder of DICOM instances becomes the slide `uploads/<tenant>/<name>` (the
folder), one holding `x.mrxs` and its folder `x/` becomes `uploads/<tenant>/<name>.mrxs` with
its folder `<name>/`. The name is claimed by creating that folder, which fails atomically when
it exists.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from uuid import UUID, uuid4

from tessera.errors import Conflict, NotFound, SlideError
from tessera.gateway.errors import UploadTooLarge
from tessera.gateway.slides import UPLOADS, resolve_for, upload_folder, upload_reference
from tessera.slides.access import open_slide, slide_info
from tessera.slides.archives import ZIP, MultiFileSlide, find_multi_file_slide, unpack_zip

# Single-file slide formats, uploaded as they are; multi-file ones (MRXS, DICOM series) as a .zip.
SINGLE_FILE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".scn", ".bif", ".svslide")
UPLOAD_SUFFIXES = (*SINGLE_FILE_SUFFIXES, ZIP)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.()+-]*")
MAX_NAME = 200
WRITE_BUFFER = 1 << 20  # one thread hop per MiB, not per network chunk


def check_upload_name(name: str) -> None:
    """SlideError unless `name` is one plain file name with a single-file slide extension."""
    if not name or len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise SlideError(
            name,
            f"an upload name is one file name of at most {MAX_NAME} characters: letters, digits, "
            "spaces and . _ - ( ) +, starting with a letter or digit",
        )
    if PurePosixPath(name).suffix.lower() not in UPLOAD_SUFFIXES:
        raise SlideError(
            name,
            f"uploads are single-file slides ({', '.join(SINGLE_FILE_SUFFIXES)}) or a {ZIP} of "
            "a multi-file slide (an .mrxs file with its folder, or a folder of DICOM instances)",
        )


async def store_upload(
    chunks: AsyncIterator[bytes], data_root: Path, tenant: UUID, name: str, max_bytes: int
) -> str:
    """Store an uploaded slide as `uploads/<tenant>/<name>`; returns its reference.

    SlideError for a bad name or a file OpenSlide refuses, Conflict when the name is taken,
    UploadTooLarge past `max_bytes`.
    """
    check_upload_name(name)
    suffix = PurePosixPath(name).suffix.lower()
    folder = upload_folder(data_root, tenant)
    stem = name[: -len(suffix)]
    names = (stem, stem + ".mrxs") if suffix == ZIP else (name,)
    for taken in names:  # before receiving gigabytes for nothing
        if await asyncio.to_thread(os.path.lexists, folder / taken):
            raise _taken(upload_reference(tenant, taken))
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    # The extension stays: some formats are recognised by it.
    partial = folder / f".upload-{uuid4().hex}{suffix}"
    unpacked = partial.with_suffix("")
    try:
        await _receive(chunks, partial, max_bytes)
        if suffix != ZIP:
            reference = upload_reference(tenant, name)
            await asyncio.to_thread(_validate, partial, reference)
            await asyncio.to_thread(_place, partial, folder / name, reference)
            return reference
        return await asyncio.to_thread(
            _place_unpacked, partial, unpacked, folder, tenant, stem, max_bytes
        )
    finally:
        await asyncio.to_thread(partial.unlink, missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, unpacked, ignore_errors=True)


async def _receive(chunks: AsyncIterator[bytes], path: Path, max_bytes: int) -> None:
    file: BinaryIO = await asyncio.to_thread(open, path, "xb")
    try:
        received, buffer = 0, bytearray()
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes:
                raise UploadTooLarge(max_bytes)
            buffer += chunk
            if len(buffer) >= WRITE_BUFFER:
                await asyncio.to_thread(file.write, bytes(buffer))
                buffer.clear()
        await asyncio.to_thread(_finish, file, bytes(buffer))
    finally:
        await asyncio.to_thread(file.close)


def _finish(file: BinaryIO, tail: bytes) -> None:
    file.write(tail)
    file.flush()
    os.fsync(file.fileno())  # the name must never point at a slide a crash cut short


def _validate(path: Path, reference: str) -> None:
    with open_slide(path, reference) as handle:
        slide_info(handle, reference)
        # One pixel of the smallest level: decodes a tile, which a header check does not.
        handle.read_region((0, 0), handle.level_count - 1, (1, 1))


def _place_unpacked(
    archive: Path, unpacked: Path, folder: Path, tenant: UUID, stem: str, max_bytes: int
) -> str:
    """Unpack a zip upload, find its slide, validate it and give it its name (its reference)."""
    unpack_zip(archive, unpacked, max_bytes=max_bytes)
    archive.unlink()  # its space back before the slide is validated
    found: MultiFileSlide = find_multi_file_slide(unpacked, upload_reference(tenant, stem + ZIP))
    if found.data is None:  # a DICOM folder: the folder is the slide
        reference = upload_reference(tenant, stem)
        _validate(found.slide, reference)
        _claim(found.slide, folder / stem, reference)
        return reference
    reference = upload_reference(tenant, stem + ".mrxs")
    # OpenSlide finds an .mrxs file's folder by the file's name: both are renamed together
    _validate(found.slide, reference)
    _claim(found.data, folder / stem, reference)
    try:
        _place(found.slide, folder / (stem + ".mrxs"), reference)
    except BaseException:
        shutil.rmtree(folder / stem, ignore_errors=True)
        raise
    return reference


def _claim(source: Path, target: Path, reference: str) -> None:
    """Move folder `source` to `target`, refusing a name that exists (mkdir is atomic)."""
    try:
        target.mkdir()
    except FileExistsError:
        raise _taken(reference) from None
    os.replace(source, target)  # onto the empty folder just made


def _place(partial: Path, target: Path, reference: str) -> None:
    try:
        os.link(partial, target)
    except FileExistsError:
        raise _taken(reference) from None
    except OSError:
        # No hard links on this file system: rename, which would replace a file that appeared
        # since the check, so check again right before.
        if os.path.lexists(target):
            raise _taken(reference) from None
        os.rename(partial, target)


def _taken(reference: str) -> Conflict:
    return Conflict(f"slide {reference!r} already exists: upload under another name")


def upload_path(data_root: Path, tenant: UUID, slide: str) -> Path:
    """The file of one of the tenant's uploads (`uploads/<tenant>/<name>`): NotFound unless the
    tenant sees a file there (another tenant's upload answers as a missing one)."""
    try:
        path = resolve_for(data_root, slide, tenant)
    except SlideError as exc:
        raise NotFound("slide", slide, str(exc)) from None
    if path.relative_to(Path(data_root).resolve()).parts[0] != UPLOADS:  # a shared slide
        raise NotFound("slide", slide, f"slide {slide!r}: not an upload of this tenant")
    return path


def delete_upload(path: Path, slide: str) -> None:
    """Remove an upload's file, DICOM folder, or .mrxs file and its folder (NotFound when it
    went meanwhile)."""
    try:
        if path.is_dir():
            shutil.rmtree(path)
            return
        path.unlink()
    except FileNotFoundError:
        raise NotFound("slide", slide) from None
    if path.suffix.lower() == ".mrxs":
        shutil.rmtree(path.with_suffix(""), ignore_errors=True)
