"""Every format over HTTP: the list names each slide's format (a DICOM folder is one slide),
thumbnails and Deep Zoom tiles look the same on every backend, a zipped DICOM series uploads,
and a file no reader opens is a 422 that names what it is."""

from __future__ import annotations

import io
import shutil
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tessera.bus import Bus
from tessera.slides.convert import write_dicom, write_tiff
from tessera.slides.formats import open_slide
from tessera.slides.synth import write_synthetic_slide
from tests.integration.gateway.conftest import headers

pytestmark = pytest.mark.integration

FORMATS = {
    "slide.svs": "aperio",
    "slide.tif": "generic-tiff",
    "slide.ome.tiff": "ome-tiff",
    "slide-dicom": "dicom",
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("made")
    svs = write_synthetic_slide(root / "slide.svs", 1024, 768, mpp=0.5, seed=3).path
    write_tiff(svs, root / "slide.tif", ome=False)
    write_tiff(svs, root / "slide.ome.tiff", ome=True)
    write_dicom(svs, root / "slide-dicom")
    return root


@pytest.fixture
async def gw(
    make_gateway, tmp_path: Path, made: Path, bus: Bus
) -> AsyncIterator[httpx.AsyncClient]:
    root = tmp_path / "slides"
    shutil.copytree(made, root, ignore=shutil.ignore_patterns("*.parquet"))
    (root / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    async with make_gateway(data_root=root) as client:
        yield client


def image(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(int)


async def test_every_format_is_listed_and_viewed_alike(gw: httpx.AsyncClient) -> None:
    tenant = headers(uuid.uuid4())
    listing = await gw.get("/v1/slides", headers=tenant)
    assert listing.status_code == 200, listing.text
    items = {i["slide"]: i for i in listing.json()["items"]}
    assert {s: i["format"] for s, i in items.items()} == FORMATS  # the .dcm files are not listed
    assert all(i["width"] == 1024 and i["height"] == 768 for i in items.values())
    assert all(i["mpp"] == pytest.approx(0.5) for i in items.values())
    assert "thumbnail" in items["slide.svs"]["associated_images"]

    thumbs = {
        s: image(await gw.get(f"/v1/slides/{s}/thumbnail.jpg", headers=tenant)) for s in FORMATS
    }
    tiles = {
        (s, level): image(
            await gw.get(f"/v1/slides/{s}/dzi_files/{level}/1_1.jpeg", headers=tenant)
        )
        for s in FORMATS
        for level in [9, 10]
    }
    for s in FORMATS:
        assert thumbs[s].shape == thumbs["slide.svs"].shape
        assert np.abs(thumbs[s] - thumbs["slide.svs"]).mean() < 3, s
        for level in [9, 10]:
            reference = tiles["slide.svs", level]
            assert tiles[s, level].shape == reference.shape
            # DICOM's tiles were re-encoded as JPEG once more
            assert np.abs(tiles[s, level] - reference).mean() < (8 if s == "slide-dicom" else 3)
    info = await gw.get("/v1/slides/slide-dicom/info", headers=tenant)
    assert info.json()["format"] == "dicom" and info.json()["name"] == "slide-dicom"


async def test_a_workflow_naming_a_file_no_reader_opens_is_a_422_naming_it(
    gw: httpx.AsyncClient,
) -> None:
    spec = {"jobs": [{"id": "m", "type": "tissue_mask", "slide": "scan.png"}]}
    response = await gw.post("/v1/workflows", json=spec, headers=headers(uuid.uuid4()))
    assert response.status_code == 422, response.text
    assert "not a slide format any reader here opens: a PNG image" in response.text


async def test_a_zipped_dicom_series_uploads_lists_and_deletes(
    gw: httpx.AsyncClient, made: Path
) -> None:
    tenant = uuid.uuid4()
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as zf:
        for f in sorted((made / "slide-dicom").iterdir()):
            zf.write(f, f"series/{f.name}")
    response = await gw.post(
        "/v1/slides",
        params={"name": "case.zip"},
        content=body.getvalue(),
        headers={**headers(tenant), "content-type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    reference = f"uploads/{tenant}/case"
    assert response.json()["slide"] == reference and response.json()["format"] == "dicom"
    listing = (await gw.get("/v1/slides", headers=headers(tenant))).json()["items"]
    assert [i["slide"] for i in listing if i["uploaded"]] == [reference]
    tile = await gw.get(f"/v1/slides/{reference}/dzi_files/10/0_0.jpeg", headers=headers(tenant))
    assert tile.status_code == 200
    other = await gw.get(f"/v1/slides/{reference}/info", headers=headers(uuid.uuid4()))
    assert other.status_code == 404
    deleted = await gw.delete(f"/v1/slides/{reference}", headers=headers(tenant))
    assert deleted.status_code == 204, deleted.text
    assert (
        await gw.get(f"/v1/slides/{reference}/info", headers=headers(tenant))
    ).status_code == 404


async def test_associated_images_are_served_by_name(gw: httpx.AsyncClient, made: Path) -> None:
    tenant = headers(uuid.uuid4())
    got = image(await gw.get("/v1/slides/slide.svs/associated/thumbnail", headers=tenant))
    with open_slide(made / "slide.svs") as slide:
        expected = np.asarray(slide.associated_images["thumbnail"].convert("RGB")).astype(int)
    assert got.shape == expected.shape and np.abs(got - expected).mean() < 3
    missing = await gw.get("/v1/slides/slide-dicom/associated/label", headers=tenant)
    assert missing.status_code == 404 and "has no 'label' image" in missing.text
