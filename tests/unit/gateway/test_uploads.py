"""Uploads: names, the size limit, OpenSlide's verdict, and nothing left behind."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tessera.errors import Conflict, SlideError
from tessera.gateway.errors import UploadTooLarge
from tessera.gateway.uploads import check_upload_name, store_upload

SMALL = Path(__file__).resolve().parents[3] / "data" / "slides" / "openslide-python_small.svs"


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir())


async def test_an_upload_is_stored_under_the_tenants_folder(tmp_path: Path) -> None:
    tenant = uuid.uuid4()
    body = SMALL.read_bytes()
    reference = await store_upload(chunks(body), tmp_path, tenant, "a.svs", max_bytes=10_000)
    assert reference == f"uploads/{tenant}/a.svs"
    assert files_under(tmp_path) == [tmp_path / reference]
    assert (tmp_path / reference).read_bytes() == body
    with pytest.raises(Conflict, match="already exists"):
        await store_upload(chunks(body), tmp_path, tenant, "a.svs", max_bytes=10_000)
    assert files_under(tmp_path) == [tmp_path / reference]


async def test_an_upload_past_the_limit_stops_there_and_leaves_nothing(tmp_path: Path) -> None:
    read = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal read
        async for chunk in chunks(SMALL.read_bytes(), 500):
            read += len(chunk)
            yield chunk

    with pytest.raises(UploadTooLarge, match="at most 1024 bytes"):
        await store_upload(counted(), tmp_path, uuid.uuid4(), "a.svs", max_bytes=1024)
    assert read == 1500  # the chunk that passed the limit was the last one read
    assert files_under(tmp_path) == []


async def test_a_file_openslide_refuses_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(SlideError, match="not a slide format any reader here opens"):
        await store_upload(chunks(b"x" * 3000), tmp_path, uuid.uuid4(), "a.tif", max_bytes=10_000)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("name", ["a.svs", "Biopsy 17 (HE).ndpi", "x.TIFF", "scan_1-2+3.bif"])
def test_plain_single_file_slide_names_are_accepted(name: str) -> None:
    check_upload_name(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "one file name"),
        ("../a.svs", "one file name"),
        ("sub/a.svs", "one file name"),
        ("a\\b.svs", "one file name"),
        (".hidden.svs", "one file name"),
        ("a\x00.svs", "one file name"),
        ("x" * 200 + ".svs", "one file name"),
        ("a.mrxs", "single-file slides"),
        ("a.vms", "single-file slides"),
        ("a.svs.txt", "single-file slides"),
        ("svs", "single-file slides"),
    ],
)
def test_other_upload_names_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(SlideError, match=reason):
        check_upload_name(name)
