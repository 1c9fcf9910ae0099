"""Settings: one `Settings` subclass per service in its own settings.py, the environment read
there only, and every documented variable name still working."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from tessera.admission.settings import AdmissionSettings
from tessera.branch_sequencer.settings import SequencerSettings
from tessera.inference.settings import InferenceSettings
from tessera.merger.settings import MergerSettings
from tessera.projector.settings import ProjectorSettings
from tessera.segmentation.settings import ModelSettings
from tessera.settings import REPO_ROOT, Settings
from tessera.tiler.settings import TilerSettings

SERVICES = ["admission", "branch_sequencer", "gateway", "inference", "merger", "projector", "tiler"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_its_settings_class_in_its_settings_module(service: str) -> None:
    module = importlib.import_module(f"tessera.{service}.settings")
    [own] = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Settings) and v is not Settings
    ]
    prefix = own.model_config["env_prefix"]
    assert prefix.startswith("TESSERA_") and prefix.endswith("_") and prefix != "TESSERA_"


# reading the environment is a settings module's job; `tessera up` hands its environment on to
# the processes it starts, which is not reading a setting
READS = re.compile(r"\bos\.environ\b|\bgetenv\(")
LAUNCHER = {"libs/tessera/cli.py": "dict(os.environ)"}


def test_the_environment_is_read_in_settings_modules_only() -> None:
    offenders = []
    for path in [*REPO_ROOT.glob("libs/**/*.py"), *REPO_ROOT.glob("services/**/*.py")]:
        rel = path.relative_to(REPO_ROOT).as_posix()
        if path.name == "settings.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if READS.search(line) and not (rel in LAUNCHER and LAUNCHER[rel] in line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == []


def test_the_tiler_and_the_mergers_read_one_partition_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESSERA_MERGER_PARTITIONS", "4")
    monkeypatch.setenv("TESSERA_MERGER_PARTITION", "3")
    assert TilerSettings().merger_partitions == MergerSettings().merger_partitions == 4
    assert MergerSettings().partition == 3


def test_a_merger_refuses_to_start_on_a_partition_the_tiler_never_fills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESSERA_MERGER_PARTITIONS", "2")
    monkeypatch.setenv("TESSERA_MERGER_PARTITION", "2")
    with pytest.raises(ValidationError, match="TESSERA_MERGER_PARTITION=2 is not below"):
        MergerSettings()


def test_a_merger_owns_the_partition_its_replica_ordinal_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESSERA_MERGER_PARTITIONS", "4")
    monkeypatch.setenv("TESSERA_MERGER_REPLICA", "tessera-merger-3")  # a StatefulSet pod
    assert MergerSettings().partition == 3
    monkeypatch.setenv("TESSERA_MERGER_PARTITION", "1")  # said outright: that one
    assert MergerSettings().partition == 1
    monkeypatch.delenv("TESSERA_MERGER_PARTITION")
    monkeypatch.setenv("TESSERA_MERGER_REPLICA", "tessera-merger-4")
    with pytest.raises(ValidationError, match="TESSERA_MERGER_PARTITION=4 is not below"):
        MergerSettings()
    monkeypatch.setenv("TESSERA_MERGER_REPLICA", "merger")
    with pytest.raises(ValidationError, match="does not end in -<ordinal>"):
        MergerSettings()


@pytest.mark.parametrize(
    ("settings", "variable", "value", "field", "expected"),
    [
        (SequencerSettings, "TESSERA_SEQUENCER_STALL_AFTER_S", "12", "stall_after_s", 12.0),
        (SequencerSettings, "MAX_WORKERS", "7", "max_workers", 7),
        (AdmissionSettings, "MAX_ACTIVE_TENANTS", "5", "max_active_tenants", 5),
        (
            ProjectorSettings,
            "DATABASE_URL",
            "postgresql://db/x",
            "database_url",
            "postgresql://db/x",
        ),
        (TilerSettings, "TESSERA_TILER_WINDOW", "3", "window", 3),
        (InferenceSettings, "TESSERA_INFERENCE_DEVICE", "cuda:1", "device", "cuda:1"),
        (ModelSettings, "TESSERA_BUNDLED_MODEL", "/m", "bundled_dir", Path("/m")),
        (ModelSettings, "INSTANSEG_BIOIMAGEIO_PATH", "/c", "cache_dir", Path("/c")),
        (ModelSettings, "TESSERA_MODEL_DOWNLOAD_TIMEOUT", "5", "download_timeout_s", 5.0),
        (ModelSettings, "TESSERA_NUCLS_DIR", "/n", "nucls_dir", Path("/n")),
    ],
)
def test_the_documented_variable_names_keep_working(
    monkeypatch: pytest.MonkeyPatch,
    settings: type[BaseSettings],
    variable: str,
    value: str,
    field: str,
    expected: object,
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(settings(), field) == expected


@pytest.mark.parametrize(
    ("value", "offline"), [("1", True), ("yes", True), ("", False), ("0", False)]
)
def test_model_downloads_follow_tessera_model_offline(
    monkeypatch: pytest.MonkeyPatch, value: str, offline: bool
) -> None:
    from tessera.segmentation.registry import downloads_allowed

    monkeypatch.setenv("TESSERA_MODEL_OFFLINE", value)
    assert downloads_allowed() is not offline
