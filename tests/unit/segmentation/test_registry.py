"""Model settings: auto, bundled, published names and paths; offline and corrupt cases."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tessera.segmentation.errors import ModelUnavailable
from tessera.segmentation.registry import (
    BUNDLED_NAME,
    load_model,
    published_models,
    resolve_model,
)


def no_network(name: str) -> Path:
    raise AssertionError(f"tried to download {name}")


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "bioimageio"
    cache.mkdir()
    monkeypatch.setenv("INSTANSEG_BIOIMAGEIO_PATH", str(cache))
    return cache


@pytest.fixture
def bundled(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TESSERA_BUNDLED_MODEL", str(tiny_model_dir))
    return tiny_model_dir


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_auto_offline_falls_back_to_the_bundled_model(empty_cache: Path, bundled: Path) -> None:
    model = resolve_model("auto", downloader=no_network)
    assert model.name == BUNDLED_NAME and model.source == "bundled"
    assert model.sha256 == sha256(bundled / "instanseg.pt")
    assert "downloads are disabled" in (model.fallback_reason or "")
    assert model.summary()["model_sha256"] == model.sha256


def test_auto_prefers_a_cached_published_model(empty_cache: Path, bundled: Path) -> None:
    version = published_models()["brightfield_nuclei"]
    cached = empty_cache / "brightfield_nuclei" / version
    cached.mkdir(parents=True)
    shutil.copy(bundled / "instanseg.pt", cached / "instanseg.pt")
    model = resolve_model("auto", downloader=no_network)
    assert (model.name, model.source, model.fallback_reason) == (
        "brightfield_nuclei", "published", None,
    )  # fmt: skip


def test_auto_tries_the_download_when_allowed_and_survives_its_failure(
    empty_cache: Path, bundled: Path
) -> None:
    asked: list[str] = []

    def failing(name: str) -> Path:
        asked.append(name)
        raise ConnectionError("no route to github.com")

    model = resolve_model("auto", allow_download=True, downloader=failing)
    assert asked == ["brightfield_nuclei"] and model.source == "bundled"
    assert "no route" in (model.fallback_reason or "")


def test_published_name_offline_and_uncached_fails_clearly(empty_cache: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not cached and downloads are disabled"):
        resolve_model("brightfield_nuclei", downloader=no_network)


def test_local_folder_or_file_works_and_reports_sha256(tiny_model_dir: Path) -> None:
    by_folder = resolve_model(str(tiny_model_dir))
    by_file = resolve_model(str(tiny_model_dir / "instanseg.pt"))
    expected = sha256(tiny_model_dir / "instanseg.pt")
    assert by_folder.sha256 == by_file.sha256 == expected
    assert by_folder.name == "tiny_nuclei" and by_folder.source == "local"
    assert by_folder.pixel_size == 0.5


def test_corrupt_file_raises_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken" / "instanseg.pt"
    broken.parent.mkdir()
    broken.write_bytes(b"PK\x03\x04 this is not a TorchScript archive")
    with pytest.raises(ModelUnavailable, match="not a loadable TorchScript model") as error:
        resolve_model(str(broken.parent))
    assert error.value.path == broken


def test_missing_path_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no such file"):
        resolve_model(str(tmp_path / "nowhere"))
    with pytest.raises(ModelUnavailable, match="not a known model"):
        resolve_model("brightfield_nucleus")


def test_auto_with_nothing_available_names_both_reasons(
    empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_BUNDLED_MODEL", str(tmp_path / "gone"))
    with pytest.raises(ModelUnavailable, match=r"published brightfield_nuclei.*bundled"):
        resolve_model("auto", downloader=no_network)


async def test_load_model_runs_off_the_event_loop(bundled: Path, empty_cache: Path) -> None:
    model = await load_model("bundled")
    assert model.name == BUNDLED_NAME and model.sha256 == sha256(bundled / "instanseg.pt")


def test_default_downloader_fetches_and_unpacks_into_the_cache(
    empty_cache: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real download code, fed a file:// URL: no network, same archive layout as GitHub's."""
    import zipfile

    from tessera.segmentation import registry

    archive = tmp_path / "brightfield_nuclei.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(tiny_model_dir / "instanseg.pt", "instanseg.pt")
    index = [{"name": "brightfield_nuclei", "version": "9.9", "url": archive.as_uri()}]
    monkeypatch.setattr(registry, "_model_index", lambda: index)
    model = resolve_model("brightfield_nuclei", allow_download=True)
    assert model.path == empty_cache / "brightfield_nuclei" / "9.9" / "instanseg.pt"
    assert model.sha256 == sha256(tiny_model_dir / "instanseg.pt")
    assert [p.name for p in (empty_cache / "brightfield_nuclei").iterdir()] == ["9.9"]
