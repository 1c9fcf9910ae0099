"""Zip uploads of multi-file slides: a DICOM series becomes a folder slide, refusals leave
nothing, the name is claimed once, and deleting removes the whole slide."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tessera.errors import Conflict, SlideError
from tessera.gateway import uploads
from tessera.gateway.uploads import delete_upload, store_upload, upload_path
from tessera.slides.access import read_slide_info
from tessera.slides.convert import write_dicom
from tessera.slides.synth import write_synthetic_slide


async def chunks(body: bytes, size: int = 1 << 16) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir())


@pytest.fixture(scope="module")
def dicom_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("dicom")
    slide = write_synthetic_slide(root / "s.svs", 600, 400, mpp=0.5, seed=5)
    series = write_dicom(slide.path, root / "series")
    return zipped({f"scan/{p.name}": p.read_bytes() for p in sorted(series.iterdir())})


async def test_a_zipped_dicom_series_becomes_a_folder_slide(
    tmp_path: Path, dicom_zip: bytes
) -> None:
    tenant = uuid.uuid4()
    reference = await store_upload(chunks(dicom_zip), tmp_path, tenant, "case 7.zip", 10**7)
    assert reference == f"uploads/{tenant}/case 7"
    folder = tmp_path / reference
    assert folder.is_dir() and all(p.suffix == ".dcm" for p in folder.iterdir())
    info = read_slide_info(tmp_path, reference)
    assert (info.format, info.width, info.height) == ("dicom", 600, 400)
    assert [p.name for p in (tmp_path / "uploads" / str(tenant)).iterdir()] == ["case 7"]
    with pytest.raises(Conflict, match="already exists"):
        await store_upload(chunks(dicom_zip), tmp_path, tenant, "case 7.zip", 10**7)

    delete_upload(upload_path(tmp_path, tenant, reference), reference)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"notes.txt": b"x"}, "holds no multi-file slide"),
        ({"../escape.dcm": b"x"}, "outside its folder"),
        ({"s.mrxs": b"[GENERAL]\n", "s/Slidedat.ini": b"[GENERAL]\n"}, "MRXS|mirax"),
        ({"x/1.dcm": b"not dicom at all"}, "DICOM"),
    ],
)
async def test_a_refused_zip_leaves_nothing_behind(
    tmp_path: Path, files: dict[str, bytes], reason: str
) -> None:
    with pytest.raises(SlideError, match=reason):
        await store_upload(chunks(zipped(files)), tmp_path, uuid.uuid4(), "a.zip", 10**6)
    assert files_under(tmp_path) == []
    assert not (tmp_path / "escape.dcm").exists()


async def test_a_zip_that_unpacks_past_the_limit_is_refused(tmp_path: Path) -> None:
    body = zipped({"x/1.dcm": b"\0" * 200_000})  # compresses far below the limit
    assert len(body) < 200_000
    with pytest.raises(SlideError, match="at most 100000"):
        await store_upload(chunks(body), tmp_path, uuid.uuid4(), "a.zip", 100_000)
    assert files_under(tmp_path) == []


async def test_a_zipped_mrxs_is_placed_with_its_folder_under_the_upload_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No MRXS can be written here: the reader's verdict is stubbed, the placement is real."""
    validated: list[Path] = []
    monkeypatch.setattr(uploads, "_validate", lambda path, reference: validated.append(path))
    tenant = uuid.uuid4()
    body = zipped(
        {"scan/s.mrxs": b"[GENERAL]\n", "scan/s/Slidedat.ini": b"x", "scan/s/Data0.dat": b"d"}
    )

    reference = await store_upload(chunks(body), tmp_path, tenant, "case.zip", 10**6)

    own = tmp_path / "uploads" / str(tenant)
    assert reference == f"uploads/{tenant}/case.mrxs" and validated[0].name == "s.mrxs"
    assert files_under(tmp_path) == [
        own / "case" / "Data0.dat",
        own / "case" / "Slidedat.ini",
        own / "case.mrxs",
    ]
    with pytest.raises(Conflict, match="already exists"):
        await store_upload(chunks(body), tmp_path, tenant, "case.zip", 10**6)
    delete_upload(own / "case.mrxs", reference)
    assert files_under(tmp_path) == []
