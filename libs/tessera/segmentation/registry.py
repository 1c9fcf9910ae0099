"""Turns a model setting into a loaded TorchScript model, its name and its sha256.

A setting is one of:

- `auto` (the default): the published `brightfield_nuclei` when it is cached or can be downloaded,
  else the model bundled with Tessera (`models/tessera_he_nuclei`), so a fresh install works on an
  air-gapped network and a connected one gets the published model;
- `bundled` or `tessera_he_nuclei`: the bundled model;
- a published name from instanseg's model index (`brightfield_nuclei`, ...): looked up where
  instanseg caches it (`$INSTANSEG_BIOIMAGEIO_PATH/<name>/<version>/instanseg.pt`), downloaded
  through instanseg when downloads are allowed;
- a path to an exported model: a folder holding `instanseg.pt` or the file itself.

Downloads are allowed unless `TESSERA_MODEL_OFFLINE` is set to 1/true/yes (tests set it) or the
caller says otherwise; they time out after `TESSERA_MODEL_DOWNLOAD_TIMEOUT` seconds (60), and
the download function can be injected. A missing or corrupt file raises
`ModelUnavailable` naming the setting, the file and the reason: the job fails with that reason
instead of hanging. `load_model` runs all of this in a worker thread so the event loop never waits
on disk, network or TorchScript deserialisation.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from pkgutil import get_data
from typing import Any, Literal

import torch

from tessera.segmentation.errors import ModelUnavailable
from tessera.segmentation.jit import torchscript_deprecation_silenced
from tessera.segmentation.settings import ModelSettings

logger = logging.getLogger(__name__)

AUTO = "auto"
DEFAULT_PUBLISHED = "brightfield_nuclei"
BUNDLED_NAME = "tessera_he_nuclei"
MODEL_FILE = "instanseg.pt"

Source = Literal["published", "bundled", "local"]
Downloader = Callable[[str], Path]


@dataclass(frozen=True)
class LoadedModel:
    """A ready TorchScript model and what a job summary records about it."""

    name: str
    sha256: str
    path: Path
    source: Source
    pixel_size: float
    module: torch.jit.ScriptModule
    fallback_reason: str | None = None  # why `auto` did not get the published model

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.name,
            "model_sha256": self.sha256,
            "model_source": self.source,
            "model_pixel_size": self.pixel_size,
        }
        if self.fallback_reason:
            out["model_fallback_reason"] = self.fallback_reason
        return out


def bundled_model_dir() -> Path:
    """`$TESSERA_BUNDLED_MODEL`, else `models/tessera_he_nuclei` in the repository."""
    return ModelSettings().bundled_dir


def bioimageio_dir() -> Path:
    """Where instanseg caches published models (same rule as `instanseg.utils.utils`)."""
    configured = ModelSettings().cache_dir
    if configured is not None:
        return configured
    import instanseg

    return Path(instanseg.__file__).parent / "bioimageio_models"


def published_models() -> dict[str, str]:
    """Published name -> newest version, from the index shipped inside instanseg."""
    index: dict[str, str] = {}
    for entry in _model_index():
        index.setdefault(entry["name"], entry["version"])  # instanseg takes the first match
    return index


def _model_index() -> list[dict[str, str]]:
    raw = get_data("instanseg", "bioimageio_models/model-index.json")
    return json.loads(raw.decode("utf-8")) if raw else []


def downloads_allowed() -> bool:
    return not ModelSettings().offline


def resolve_model(
    setting: str = AUTO,
    *,
    allow_download: bool | None = None,
    downloader: Downloader | None = None,
) -> LoadedModel:
    """Load the model a setting names (blocking; see `load_model` for async callers)."""
    setting = (setting or AUTO).strip()
    allow = downloads_allowed() if allow_download is None else allow_download
    download = downloader or _download_with_instanseg
    published = published_models()
    if setting == AUTO:
        try:
            return _load_published(DEFAULT_PUBLISHED, published, allow, download)
        except ModelUnavailable as published_error:
            logger.info("auto model: %s; using the bundled model", published_error.reason)
            try:
                bundled = _load_file(setting, _model_file(bundled_model_dir()), "bundled")
            except ModelUnavailable as bundled_error:
                raise ModelUnavailable(
                    setting,
                    f"published {DEFAULT_PUBLISHED}: {published_error.reason}; "
                    f"bundled {BUNDLED_NAME}: {bundled_error.reason}",
                ) from bundled_error
            return _with_fallback(bundled, published_error.reason)
    if setting in ("bundled", BUNDLED_NAME):
        return _load_file(setting, _model_file(bundled_model_dir()), "bundled")
    if setting in published:
        return _load_published(setting, published, allow, download)
    path = Path(setting).expanduser()
    if path.is_absolute() or os.sep in setting or setting.endswith(".pt") or path.exists():
        return _load_file(setting, _model_file(path.resolve()), "local")
    raise ModelUnavailable(
        setting,
        f"not a known model; use {AUTO!r}, 'bundled', one of {sorted(published)} or a path "
        "to a folder holding instanseg.pt",
    )


async def load_model(
    setting: str = AUTO,
    *,
    allow_download: bool | None = None,
    downloader: Downloader | None = None,
) -> LoadedModel:
    """`resolve_model` in a worker thread: disk, network and deserialisation stay off the loop."""
    return await asyncio.to_thread(
        resolve_model, setting, allow_download=allow_download, downloader=downloader
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_file(path: Path) -> Path:
    return path / MODEL_FILE if path.is_dir() or path.suffix != ".pt" else path


def _load_published(
    name: str, published: dict[str, str], allow: bool, download: Downloader
) -> LoadedModel:
    cached = bioimageio_dir() / name / published[name] / MODEL_FILE
    if not cached.exists():
        if not allow:
            raise ModelUnavailable(
                name,
                "not cached and downloads are disabled (TESSERA_MODEL_OFFLINE=1); copy the "
                f"published model's folder to {cached.parent} or choose the bundled model",
                cached,
            )
        try:
            cached = download(name)
        except Exception as error:  # any network or archive failure means "not available"
            raise ModelUnavailable(name, f"download failed: {error}", cached) from error
    return _load_file(name, cached, "published", name=name)


def _load_file(setting: str, path: Path, source: Source, name: str | None = None) -> LoadedModel:
    if not path.is_file():
        raise ModelUnavailable(setting, "no such file", path)
    try:
        with torchscript_deprecation_silenced():
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # torch raises RuntimeError, ValueError or zip errors alike
        raise ModelUnavailable(
            setting, f"not a loadable TorchScript model ({type(error).__name__}: {error})", path
        ) from error
    pixel_size = getattr(module, "pixel_size", None)
    if not isinstance(pixel_size, float | int) or not pixel_size > 0:
        raise ModelUnavailable(setting, "not an InstanSeg model (no positive pixel_size)", path)
    if name is None:
        name = BUNDLED_NAME if source == "bundled" else _local_name(path)
    return LoadedModel(name, file_sha256(path), path, source, float(pixel_size), module)


def _local_name(path: Path) -> str:
    return path.parent.name if path.name == MODEL_FILE else path.stem


def _with_fallback(model: LoadedModel, reason: str) -> LoadedModel:
    return LoadedModel(
        model.name, model.sha256, model.path, model.source, model.pixel_size, model.module, reason
    )


def _download_with_instanseg(name: str) -> Path:
    """Download a published model into instanseg's cache, as `instanseg.utils.utils.download_model`
    does (same index, same URL, same folder layout), but with a timeout: instanseg's own call has
    none, and a network that drops packets instead of refusing them would hang the job."""
    entry = next(e for e in _model_index() if e["name"] == name)
    target = bioimageio_dir() / name / entry["version"]
    timeout = ModelSettings().download_timeout_s
    with urllib.request.urlopen(entry["url"], timeout=timeout) as response:
        archive = response.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".download-"))
    try:  # extract beside the target, then rename: a broken download never looks cached
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            bundle.extractall(staging)
        if not target.exists():
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / MODEL_FILE
