"""Slides: listing, metadata, thumbnails and Deep Zoom tiles, uploads, and who sees what."""

from __future__ import annotations

import io
import os
import shutil
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openslide
import pytest
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from tessera.bus import Bus
from tests.integration.gateway.conftest import CMU, SMALL, headers

pytestmark = pytest.mark.integration

DZI = "{http://schemas.microsoft.com/deepzoom/2008}"


@pytest.fixture
async def gw(make_gateway, slide_root: Path, bus: Bus) -> AsyncIterator[httpx.AsyncClient]:
    async with make_gateway(data_root=slide_root) as client:
        yield client


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir())


async def upload(
    gw: httpx.AsyncClient, tenant: uuid.UUID, name: str, body: bytes
) -> httpx.Response:
    return await gw.post(
        "/v1/slides",
        params={"name": name},
        content=body,
        headers={**headers(tenant), "content-type": "application/octet-stream"},
    )


async def test_the_list_shows_what_openslide_opens_a_page_at_a_time(
    gw: httpx.AsyncClient, slide_root: Path
) -> None:
    (slide_root / "sub").mkdir()
    shutil.copy(slide_root / SMALL, slide_root / "sub" / "copy.svs")
    (slide_root / "broken.svs").write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    (slide_root / "notes.txt").write_text("not a slide")
    tenant = headers(uuid.uuid4())

    listing = await gw.get("/v1/slides", headers=tenant)

    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert [i["slide"] for i in items] == [CMU, SMALL, "sub/copy.svs"]
    assert listing.json()["next_cursor"] is None
    cmu = items[0]
    assert cmu == {
        "slide": CMU,
        "name": CMU,
        "size_bytes": (slide_root / CMU).stat().st_size,
        "width": 2220,
        "height": 2967,
        "levels": 1,
        "level_dimensions": [[2220, 2967]],
        "mpp": pytest.approx(0.499),
        "vendor": "aperio",
        "format": "aperio",
        "associated_images": ["label", "macro", "thumbnail"],
        "objective_power": 20.0,
        "uploaded": False,
    }
    first = await gw.get("/v1/slides", params={"limit": 2}, headers=tenant)
    assert [i["slide"] for i in first.json()["items"]] == [CMU, SMALL]
    cursor = first.json()["next_cursor"]
    second = await gw.get("/v1/slides", params={"limit": 2, "cursor": cursor}, headers=tenant)
    assert [i["slide"] for i in second.json()["items"]] == ["sub/copy.svs"]
    assert second.json()["next_cursor"] is None


async def test_info_thumbnail_and_deep_zoom_of_a_slide(
    gw: httpx.AsyncClient, slide_root: Path
) -> None:
    tenant = headers(uuid.uuid4())
    base = f"/v1/slides/{CMU}"

    info = await gw.get(f"{base}/info", headers=tenant)
    assert info.status_code == 200 and info.json()["width"] == 2220

    thumbnail = await gw.get(f"{base}/thumbnail.jpg", params={"max_size": 128}, headers=tenant)
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(thumbnail.content))
    assert image.format == "JPEG" and max(image.size) == 128
    assert image.size[0] / image.size[1] == pytest.approx(2220 / 2967, abs=0.02)
    too_big = await gw.get(f"{base}/thumbnail.jpg", params={"max_size": 99999}, headers=tenant)
    assert too_big.status_code == 422

    dzi = await gw.get(f"{base}/dzi", headers=tenant)
    assert dzi.status_code == 200 and dzi.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(dzi.text)
    assert root.tag == f"{DZI}Image"
    assert (root.get("TileSize"), root.get("Overlap"), root.get("Format")) == ("254", "1", "jpeg")
    size = root.find(f"{DZI}Size")
    assert size is not None and (size.get("Width"), size.get("Height")) == ("2220", "2967")

    reference = DeepZoomGenerator(openslide.OpenSlide(slide_root / CMU), 254, 1, False)
    descriptor = (await gw.get(f"{base}/dzi.json", headers=tenant)).json()
    assert descriptor["levels"] == reference.level_count == 13
    assert [tuple(d) for d in descriptor["level_dimensions"]] == list(reference.level_dimensions)
    assert [tuple(t) for t in descriptor["level_tiles"]] == list(reference.level_tiles)
    assert descriptor["format"] == "jpeg" and descriptor["mpp"] == pytest.approx(0.499)
    assert descriptor["tile_url"] == f"{base}/dzi_files/{{level}}/{{col}}_{{row}}.jpeg"

    top = descriptor["levels"] - 1
    for level, col, row in [(top, 0, 0), (top, 8, 11), (top - 3, 1, 0), (0, 0, 0)]:
        url = descriptor["tile_url"].format(level=level, col=col, row=row)
        tile = await gw.get(url, headers=tenant)
        assert tile.status_code == 200, tile.text
        assert tile.headers["content-type"] == "image/jpeg"
        assert "max-age" in tile.headers["cache-control"]
        decoded = Image.open(io.BytesIO(tile.content))
        assert decoded.format == "JPEG"
        assert decoded.size == reference.get_tile_dimensions(level, (col, row))

    for level, col, row, needle in [
        (top + 1, 0, 0, "no level 13"),
        (top, 9, 0, "9 column(s) x 12 row(s)"),
        (top, 0, 12, "9 column(s) x 12 row(s)"),
        (0, 1, 0, "1 column(s) x 1 row(s)"),
    ]:
        missing = await gw.get(f"{base}/dzi_files/{level}/{col}_{row}.jpeg", headers=tenant)
        assert missing.status_code == 404
        assert needle in missing.json()["error"]["message"]


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("%2E%2E/outside.svs", "'..'"),
        ("sub%2F..%2F..%2Foutside.svs", "'..'"),
        ("/etc/passwd", "absolute"),
        ("escape.svs", "outside the data root"),
        ("nothing-here.svs", "no such file"),
        ("notes.svs", "not a slide format"),
    ],
)
async def test_references_that_escape_or_are_no_slide_answer_404_with_the_reason(
    gw: httpx.AsyncClient, slide_root: Path, reference: str, reason: str
) -> None:
    outside = slide_root.parent / "outside.svs"
    shutil.copy(slide_root / SMALL, outside)
    os.symlink(outside, slide_root / "escape.svs")
    (slide_root / "notes.svs").write_text("not a slide")
    tenant = headers(uuid.uuid4())
    for suffix in ("info", "thumbnail.jpg", "dzi", "dzi.json", "dzi_files/0/0_0.jpeg"):
        answer = await gw.get(f"/v1/slides/{reference}/{suffix}", headers=tenant)
        assert answer.status_code == 404, answer.text
        assert reason in answer.json()["error"]["message"]
    listed = (await gw.get("/v1/slides", headers=tenant)).json()["items"]
    assert "escape.svs" not in {i["slide"] for i in listed}


async def test_an_upload_is_validated_stored_and_seen_by_its_tenant_only(
    gw: httpx.AsyncClient, slide_root: Path, projector: object
) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    body = (slide_root / SMALL).read_bytes()

    created = await upload(gw, owner, "biopsy 17.svs", body)

    assert created.status_code == 201, created.text
    view = created.json()
    reference = f"uploads/{owner}/biopsy 17.svs"
    assert view["slide"] == reference and view["uploaded"] is True
    assert (view["name"], view["width"], view["height"]) == ("biopsy 17.svs", 16, 16)
    folder = slide_root / "uploads" / str(owner)
    assert files_under(folder) == [folder / "biopsy 17.svs"]  # no temporary file left
    assert (folder / "biopsy 17.svs").read_bytes() == body

    mine = (await gw.get("/v1/slides", headers=headers(owner))).json()["items"]
    assert reference in {i["slide"] for i in mine}
    theirs = (await gw.get("/v1/slides", headers=headers(other))).json()["items"]
    assert {i["slide"] for i in theirs} == {CMU, SMALL}

    url = f"/v1/slides/{reference}"
    assert created.headers["X-Tessera-Seq"] == str(view.pop("seq"))  # the upload's token
    assert (await gw.get(f"{url}/info", headers=headers(owner))).json() == view
    tile = await gw.get(f"{url}/dzi_files/4/0_0.jpeg", headers=headers(owner))
    assert tile.status_code == 200 and Image.open(io.BytesIO(tile.content)).size == (16, 16)
    for suffix in ("info", "thumbnail.jpg", "dzi", "dzi.json", "dzi_files/4/0_0.jpeg"):
        answer = await gw.get(f"{url}/{suffix}", headers=headers(other))
        assert answer.status_code == 404, suffix
        assert answer.json()["error"]["message"].endswith("no such file under the data root")

    spec = {"jobs": [{"id": "m", "type": "tissue_mask", "slide": reference}]}
    accepted = await gw.post("/v1/workflows", json=spec, headers=headers(owner))
    assert accepted.status_code == 202, accepted.text
    refused = await gw.post("/v1/workflows", json=spec, headers=headers(other))
    assert refused.status_code == 422
    missing = {"jobs": [{"id": "m", "type": "tissue_mask", "slide": f"uploads/{other}/x.svs"}]}
    like_missing = await gw.post("/v1/workflows", json=missing, headers=headers(other))
    assert refused.json()["error"]["message"].replace(reference, "?") == like_missing.json()[
        "error"
    ]["message"].replace(f"uploads/{other}/x.svs", "?")
    sneaky = {"jobs": [{"id": "m", "type": "tissue_mask", "slide": f"uploads/{owner}/../{owner}"}]}
    assert (await gw.post("/v1/workflows", json=sneaky, headers=headers(other))).status_code == 422


async def test_a_submission_naming_several_refused_slides_names_them_all_with_their_jobs(
    gw: httpx.AsyncClient, slide_root: Path
) -> None:
    (slide_root / "broken.svs").write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    spec = {
        "jobs": [
            {"id": "a", "type": "tissue_mask", "slide": "gone.svs"},
            {"id": "ok", "type": "tissue_mask", "slide": SMALL},
            {"id": "b", "type": "tissue_mask", "slide": "broken.svs"},
            {"id": "c", "type": "tissue_mask", "slide": "./gone.svs"},
        ]
    }

    refused = await gw.post("/v1/workflows", json=spec, headers=headers(uuid.uuid4()))

    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert [(s["slide"], s["jobs"]) for s in error["slides"]] == [
        ("gone.svs", ["a", "c"]),
        ("broken.svs", ["b"]),
    ]
    assert error["slides"][0]["reason"] == "no such file under the data root"
    assert error["problems"] == [f"slide {s['slide']!r}: {s['reason']}" for s in error["slides"]]
    assert error["message"] == "; ".join(error["problems"])


async def test_a_second_upload_of_a_name_is_refused_and_changes_nothing(
    gw: httpx.AsyncClient, slide_root: Path
) -> None:
    tenant = uuid.uuid4()
    first = await upload(gw, tenant, "a.svs", (slide_root / SMALL).read_bytes())
    assert first.status_code == 201

    again = await upload(gw, tenant, "a.svs", (slide_root / CMU).read_bytes())

    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    folder = slide_root / "uploads" / str(tenant)
    assert files_under(folder) == [folder / "a.svs"]
    assert (folder / "a.svs").read_bytes() == (slide_root / SMALL).read_bytes()
    # the name is per tenant
    assert (await upload(gw, uuid.uuid4(), "a.svs", (slide_root / SMALL).read_bytes())).is_success


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("notes.svs", b"this is not a slide at all" * 100, "not a slide format"),
        ("empty.tif", b"", "not a slide format"),
        ("cut.svs", None, "slide"),
        ("../up.svs", None, "one file name"),
        ("sub/x.svs", None, "one file name"),
        (".hidden.svs", None, "one file name"),
        ("multi.mrxs", None, "single-file slides"),
        ("notes.txt", None, "single-file slides"),
    ],
)
async def test_a_refused_upload_leaves_nothing_behind(
    gw: httpx.AsyncClient, slide_root: Path, name: str, body: bytes | None, reason: str
) -> None:
    if body is None:  # a real slide cut short: a valid TIFF header, no pixels
        body = (slide_root / CMU).read_bytes()[:4096]
    before = files_under(slide_root)

    refused = await upload(gw, uuid.uuid4(), name, body)

    assert refused.status_code == 422, refused.text
    assert reason in refused.json()["error"]["message"]
    assert files_under(slide_root) == before


async def test_an_upload_over_the_limit_is_refused_with_nothing_left_on_disk(
    make_gateway, slide_root: Path, bus: Bus
) -> None:
    body = (slide_root / CMU).read_bytes()[:100_000]

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    tenant = uuid.uuid4()
    async with make_gateway(data_root=slide_root, max_upload_bytes=50_000) as gw:
        declared = await upload(gw, tenant, "big.svs", body)
        assert declared.status_code == 413
        assert "at most 50000 bytes" in declared.json()["error"]["message"]
        streamed = await gw.post(
            "/v1/slides", params={"name": "big.svs"}, content=chunked(), headers=headers(tenant)
        )
        assert streamed.status_code == 413, streamed.text
    assert files_under(slide_root) == sorted([slide_root / CMU, slide_root / SMALL])


async def test_the_json_body_limit_does_not_apply_to_uploads(
    make_gateway, slide_root: Path, bus: Bus
) -> None:
    body = (slide_root / SMALL).read_bytes()
    async with make_gateway(data_root=slide_root, max_body_bytes=1024) as gw:
        assert len(body) > 1024
        assert (await upload(gw, uuid.uuid4(), "small.svs", body)).status_code == 201
        big_json = {"name": "x" * 2000, "jobs": [{"id": "a", "type": "synthetic"}]}
        assert (
            await gw.post("/v1/workflows", json=big_json, headers=headers(uuid.uuid4()))
        ).status_code == 413


async def test_an_upload_whose_client_leaves_half_way_leaves_nothing_and_is_no_500(
    gw: httpx.AsyncClient, slide_root: Path
) -> None:
    app = gw.app  # type: ignore[attr-defined]
    tenant = str(uuid.uuid4())
    before = files_under(slide_root)
    incoming = [
        {
            "type": "http.request",
            "body": (slide_root / CMU).read_bytes()[:65536],
            "more_body": True,
        },
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/slides",
        "raw_path": b"/v1/slides",
        "query_string": b"name=gone.svs",
        "root_path": "",
        "headers": [(b"x-user-id", tenant.encode()), (b"host", b"gw")],
        "client": ("127.0.0.1", 1234),
        "server": ("gw", 80),
        "state": {},
    }
    await app(scope, receive, send)

    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400  # the answer nobody reads; not the gateway's 500
    assert files_under(slide_root) == before  # the partial file is gone


async def test_an_upload_is_deleted_by_its_tenant_and_not_while_a_job_names_it(
    gw: httpx.AsyncClient, slide_root: Path, projector: object
) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    body = (slide_root / SMALL).read_bytes()
    for name in ("keep.svs", "gone.svs"):
        assert (await upload(gw, owner, name, body)).status_code == 201
    folder = slide_root / "uploads" / str(owner)
    keep, gone = f"uploads/{owner}/keep.svs", f"uploads/{owner}/gone.svs"
    assert (
        await gw.get(f"/v1/slides/{gone}/dzi_files/4/0_0.jpeg", headers=headers(owner))
    ).is_success

    as_other = await gw.delete(f"/v1/slides/{gone}", headers=headers(other))
    shared = await gw.delete(f"/v1/slides/{SMALL}", headers=headers(owner))
    assert as_other.status_code == 404  # like a missing file: another tenant's upload
    assert shared.status_code == 404  # shared slides are the operators' to manage
    sneaky = await gw.delete(
        f"/v1/slides/uploads/{other}/..%2F{owner}%2Fgone.svs", headers=headers(other)
    )
    assert sneaky.status_code == 404
    assert (slide_root / SMALL).exists() and (folder / "gone.svs").exists()

    # named in another spelling of the same file: stored as the one canonical reference
    spec = {"jobs": [{"id": "m", "type": "tissue_mask", "slide": f"./uploads//{owner}/keep.svs"}]}
    accepted = await gw.post("/v1/workflows", json=spec, headers=headers(owner))
    assert accepted.status_code == 202, accepted.text
    # with the submission's token the in-use check sees its PENDING job, projected or not yet
    token = {"X-Tessera-Seq": accepted.headers["X-Tessera-Seq"]}
    in_use = await gw.delete(f"/v1/slides/{keep}", headers={**headers(owner), **token})
    assert in_use.status_code == 409 and in_use.json()["error"]["state"] == "in_use"
    assert "pending or running job" in in_use.json()["error"]["message"]
    assert (folder / "keep.svs").read_bytes() == body

    deleted = await gw.delete(f"/v1/slides/{gone}", headers=headers(owner))
    assert deleted.status_code == 204 and not deleted.content
    assert int(deleted.headers["X-Tessera-Seq"]) >= accepted.json()["event_seq"]
    assert files_under(folder) == [folder / "keep.svs"]
    for suffix in ("info", "dzi_files/4/0_0.jpeg"):  # no stale handle serves it any more
        assert (
            await gw.get(f"/v1/slides/{gone}/{suffix}", headers=headers(owner))
        ).status_code == 404
    listed = (await gw.get("/v1/slides", headers=headers(owner))).json()["items"]
    assert {i["slide"] for i in listed} == {CMU, SMALL, keep}
    assert (await gw.delete(f"/v1/slides/{gone}", headers=headers(owner))).status_code == 404
