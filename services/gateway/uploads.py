"""Slide uploads: streamed to disk, size-limited, validated by OpenSlide, then put in place;
and deleted again by their tenant.

The body goes to a hidden temporary file in the tenant's upload folder (the same file system, so
the last step is a link, not a copy), counted as it arrives and abandoned the moment it passes
the limit. Only a file that OpenSlide opens and reads gets its name, through `os.link`, which
refuses an existing name atomically: two uploads of one name cannot overwrite each other.
Whatever fails, the temporary file is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from uuid import UUID, uuid4

import openslide

from tessera.errors import Conflict, NotFound, SlideError
from tessera.gateway.errors import UploadTooLarge
from tessera.gateway.slides import UPLOADS, resolve_for, upload_folder, upload_reference
from tessera.slides.access import open_slide, slide_info

# Formats OpenSlide reads from one file; multi-file ones (.mrxs, .vms, DICOM) cannot be uploaded
# as one body.
UPLOAD_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".scn", ".bif", ".svslide")
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
        raise SlideError(name, f"uploads must be single-file slides: {', '.join(UPLOAD_SUFFIXES)}")


@dataclass(frozen=True)
class Received:
    """An upload's body on disk under a hidden temporary name: not a slide yet."""

    reference: str
    partial: Path
    target: Path
    digest: str  # sha256 of the body


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
    """Receive an upload's body into a temporary file, removed when the block ends (a placed
    upload keeps its link). SlideError for a bad name, UploadTooLarge past `max_bytes`, Conflict
    when the name is taken, checked before the body unless `name_taken_ok` (a retry's)."""
    check_upload_name(name)
    reference = upload_reference(tenant, name)
    folder = upload_folder(data_root, tenant)
    target = folder / name
    if not name_taken_ok and await asyncio.to_thread(os.path.lexists, target):
        raise _taken(reference)  # before receiving gigabytes for nothing
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    # The extension stays: OpenSlide recognises some formats by it.
    partial = folder / f".upload-{uuid4().hex}{PurePosixPath(name).suffix.lower()}"
    try:
        digest = await _receive(chunks, partial, max_bytes)
        yield Received(reference, partial, target, digest)
    finally:
        await asyncio.to_thread(partial.unlink, missing_ok=True)


async def place_upload(received: Received) -> None:
    """Validate a received upload with OpenSlide and give it its name (SlideError, Conflict)."""
    await asyncio.to_thread(_validate, received.partial, received.reference)
    await asyncio.to_thread(_place, received.partial, received.target, received.reference)


async def store_upload(
    chunks: AsyncIterator[bytes], data_root: Path, tenant: UUID, name: str, max_bytes: int
) -> str:
    """Store an uploaded slide as `uploads/<tenant>/<name>`; returns its reference.

    SlideError for a bad name or a file OpenSlide refuses, Conflict when the name is taken,
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
    handle = open_slide(path, reference)
    try:
        slide_info(handle, reference)
        # One pixel of the smallest level: decodes a tile, which a header check does not.
        handle.read_region((0, 0), handle.level_count - 1, (1, 1))
    except openslide.OpenSlideError as exc:
        raise SlideError(reference, f"unreadable or corrupt slide ({exc})") from None
    finally:
        handle.close()


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
    """Remove an upload's file (NotFound when it went meanwhile)."""
    try:
        path.unlink()
    except FileNotFoundError:
        raise NotFound("slide", slide) from None
