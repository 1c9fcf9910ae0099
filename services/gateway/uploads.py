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
import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Received:
    """An upload's body on disk under a hidden temporary name: not a slide yet. A zip's slide is
    already unpacked (`found`), so that its reference is known before it is placed."""

    reference: str
    partial: Path
    target: Path
    digest: str  # sha256 of the body
    found: MultiFileSlide | None = None


@contextlib.asynccontextmanager
async def received_upload(
    chunks: AsyncIterator[bytes],
    data_root: Path,
    tenant: UUID,
    name: str,
    max_bytes: int,
    *,
    name_taken_ok: bool = False,
) -> AsyncIterator[Received]:
    """Receive an upload's body into a temporary file (a zip: unpacked into a temporary folder),
    both removed when the block ends (a placed upload keeps its link). SlideError for a bad name
    or archive, UploadTooLarge past `max_bytes`, Conflict when the name is taken, checked before
    the body unless `name_taken_ok` (a retry's)."""
    check_upload_name(name)
    suffix = PurePosixPath(name).suffix.lower()
    folder = upload_folder(data_root, tenant)
    stem = name[: -len(suffix)]
    names = (stem, stem + ".mrxs") if suffix == ZIP else (name,)
    if not name_taken_ok:
        for taken in names:  # before receiving gigabytes for nothing
            if await asyncio.to_thread(os.path.lexists, folder / taken):
                raise _taken(upload_reference(tenant, taken))
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    # The extension stays: some formats are recognised by it.
    partial = folder / f".upload-{uuid4().hex}{suffix}"
    unpacked = partial.with_suffix("")
    try:
        digest = await _receive(chunks, partial, max_bytes)
        if suffix != ZIP:
            yield Received(upload_reference(tenant, name), partial, folder / name, digest)
        else:
            found = await asyncio.to_thread(
                _unpack, partial, unpacked, upload_reference(tenant, name), max_bytes
            )
            slide = stem if found.data is None else stem + ".mrxs"  # a DICOM folder, or MRXS
            reference = upload_reference(tenant, slide)
            yield Received(reference, found.slide, folder / slide, digest, found)
    finally:
        await asyncio.to_thread(partial.unlink, missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, unpacked, ignore_errors=True)


async def place_upload(received: Received) -> None:
    """Validate a received upload by reading it and give it its name (SlideError, Conflict)."""
    await asyncio.to_thread(_validate, received.partial, received.reference)
    if received.found is None:
        await asyncio.to_thread(_place, received.partial, received.target, received.reference)
    else:
        await asyncio.to_thread(_place_found, received.found, received.target, received.reference)


async def store_upload(
    chunks: AsyncIterator[bytes], data_root: Path, tenant: UUID, name: str, max_bytes: int
) -> str:
    """Store an uploaded slide as `uploads/<tenant>/<name>` (a zip: its DICOM folder or MRXS
    slide under the zip's stem); returns its reference.

    SlideError for a bad name or a file no reader opens, Conflict when the name is taken,
    UploadTooLarge past `max_bytes`.
    """
    async with received_upload(chunks, data_root, tenant, name, max_bytes) as received:
        await place_upload(received)
    return received.reference


async def _receive(chunks: AsyncIterator[bytes], path: Path, max_bytes: int) -> str:
    file: BinaryIO = await asyncio.to_thread(open, path, "xb")
    digest = hashlib.sha256()
    try:
        received, buffer = 0, bytearray()
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes:
                raise UploadTooLarge(max_bytes)
            buffer += chunk
            if len(buffer) >= WRITE_BUFFER:
                await asyncio.to_thread(_write, file, digest, bytes(buffer))
                buffer.clear()
        await asyncio.to_thread(_write, file, digest, bytes(buffer))
        await asyncio.to_thread(_finish, file)
    finally:
        await asyncio.to_thread(file.close)
    return digest.hexdigest()


def _write(file: BinaryIO, digest: hashlib._Hash, data: bytes) -> None:
    file.write(data)
    digest.update(data)


def _finish(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())  # the name must never point at a slide a crash cut short


def _validate(path: Path, reference: str) -> None:
    with open_slide(path, reference) as handle:
        slide_info(handle, reference)
        # One pixel of the smallest level: decodes a tile, which a header check does not.
        handle.read_region((0, 0), handle.level_count - 1, (1, 1))


def _unpack(archive: Path, unpacked: Path, reference: str, max_bytes: int) -> MultiFileSlide:
    """Unpack a zip upload and find its slide."""
    unpack_zip(archive, unpacked, max_bytes=max_bytes)
    archive.unlink()  # its space back before the slide is validated
    return find_multi_file_slide(unpacked, reference)


def _place_found(found: MultiFileSlide, target: Path, reference: str) -> None:
    """Give an unpacked slide its name: a DICOM folder is the slide; an .mrxs file and its
    folder are renamed together (OpenSlide finds the folder by the file's name)."""
    if found.data is None:
        _claim(found.slide, target, reference)
        return
    _claim(found.data, target.with_suffix(""), reference)
    try:
        _place(found.slide, target, reference)
    except BaseException:
        shutil.rmtree(target.with_suffix(""), ignore_errors=True)
        raise


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
