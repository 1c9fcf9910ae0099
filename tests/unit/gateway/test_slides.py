"""The data root as tenants see it: the uploads rule and the metadata cache."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tessera.errors import NotFound, SlideError
from tessera.gateway import slides as slides_module
from tessera.gateway.slides import SlideCatalog, resolve_for, upload_folder

SMALL = Path(__file__).resolve().parents[3] / "data" / "slides" / "openslide-python_small.svs"
OWNER, OTHER = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """shared.svs, sub/deep.svs, broken.svs, OWNER's mine.svs, OTHER's theirs.svs."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    shutil.copy(SMALL, data / "shared.svs")
    shutil.copy(SMALL, data / "sub" / "deep.svs")
    (data / "broken.svs").write_bytes(b"not a slide")
    (data / "readme.txt").write_text("not a slide either")
    for tenant, name in ((OWNER, "mine.svs"), (OTHER, "theirs.svs")):
        upload_folder(data, tenant).mkdir(parents=True)
        shutil.copy(SMALL, upload_folder(data, tenant) / name)
    (upload_folder(data, OWNER) / ".upload-123.svs").write_bytes(b"partial")
    shutil.copy(SMALL, data / "uploads" / "loose.svs")
    return data


def test_uploads_are_their_tenants_and_shared_slides_everyones(root: Path) -> None:
    assert resolve_for(root, "shared.svs", OTHER) == (root / "shared.svs").resolve()
    mine = f"uploads/{OWNER}/mine.svs"
    assert resolve_for(root, mine, OWNER) == (upload_folder(root, OWNER) / "mine.svs").resolve()
    for reference in (mine, "uploads/loose.svs", f"./uploads//{OWNER}/mine.svs"):
        with pytest.raises(SlideError, match="no such file under the data root"):
            resolve_for(root, reference, OTHER)


def test_a_symlink_cannot_lead_into_another_tenants_uploads(root: Path) -> None:
    os.symlink(upload_folder(root, OWNER) / "mine.svs", root / "looks-shared.svs")
    os.symlink(upload_folder(root, OWNER), upload_folder(root, OTHER) / "borrowed")
    assert resolve_for(root, "looks-shared.svs", OWNER)
    with pytest.raises(SlideError, match="no such file"):
        resolve_for(root, "looks-shared.svs", OTHER)
    with pytest.raises(SlideError, match="no such file"):
        resolve_for(root, f"uploads/{OTHER}/borrowed/mine.svs", OTHER)


def test_the_catalogue_lists_what_opens_for_each_tenant(root: Path) -> None:
    catalog = SlideCatalog(root)
    owner, _ = catalog.page(OWNER, limit=10)
    assert [e.info.slide for e in owner] == [
        "shared.svs",
        "sub/deep.svs",
        f"uploads/{OWNER}/mine.svs",
    ]
    assert [e.uploaded for e in owner] == [False, False, True]
    other, _ = catalog.page(OTHER, limit=10)
    assert [e.info.slide for e in other] == [
        "shared.svs",
        "sub/deep.svs",
        f"uploads/{OTHER}/theirs.svs",
    ]
    first, cursor = catalog.page(OWNER, limit=2)
    assert cursor == "sub/deep.svs" and len(first) == 2
    rest, end = catalog.page(OWNER, limit=2, after=cursor)
    assert [e.info.slide for e in rest] == [f"uploads/{OWNER}/mine.svs"] and end is None
    with pytest.raises(NotFound, match="not a slide format any reader here opens"):
        catalog.describe("broken.svs", OWNER)
    with pytest.raises(NotFound, match="no such file"):
        catalog.describe(f"uploads/{OTHER}/theirs.svs", OWNER)


def test_metadata_is_read_once_per_file_version(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Path] = []
    real_open = slides_module.open_slide

    def counting_open(path, slide=None):  # type: ignore[no-untyped-def]
        opened.append(Path(path))
        return real_open(path, slide)

    monkeypatch.setattr(slides_module, "open_slide", counting_open)
    catalog = SlideCatalog(root)
    catalog.page(OWNER, limit=10)
    catalog.page(OWNER, limit=10)
    assert sorted(p.name for p in opened) == ["broken.svs", "deep.svs", "mine.svs", "shared.svs"]
    opened.clear()
    (root / "broken.svs").write_bytes(SMALL.read_bytes())  # replaced: a slide now
    os.utime(root / "broken.svs", ns=(1, 1))
    assert catalog.describe("broken.svs", OWNER).info.width == 16
    assert [p.name for p in opened] == ["broken.svs"]


def test_the_cache_is_bounded(root: Path) -> None:
    catalog = SlideCatalog(root, max_entries=2)
    catalog.page(OWNER, limit=10)
    assert len(catalog._cache) == 2
