"""One reader for every format: which backend opens what, the same pixels and metadata from each,
and clear errors for what none reads."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from PIL import Image

from tessera.errors import SlideError
from tessera.slides.access import read_slide_info, resolve_slide
from tessera.slides.convert import write_dicom, write_tiff
from tessera.slides.formats import Slide, detect_format, open_slide
from tessera.slides.reader import read_region, read_scaled
from tessera.slides.signatures import describe_file
from tessera.slides.synth import SyntheticSlide


@pytest.fixture(scope="module")
def converted(synthetic_slide: SyntheticSlide, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's synthetic slide as OME-TIFF, generic TIFF and a DICOM folder."""
    root = tmp_path_factory.mktemp("formats")
    shutil.copy(synthetic_slide.path, root / "small.svs")
    write_tiff(synthetic_slide.path, root / "small.ome.tiff", ome=True)
    write_tiff(synthetic_slide.path, root / "small.tif", ome=False)
    write_dicom(synthetic_slide.path, root / "small-dicom")
    return root


@pytest.mark.parametrize(
    ("name", "backend", "fmt"),
    [
        ("small.svs", "openslide", "aperio"),
        ("small.tif", "openslide", "generic-tiff"),
        ("small.ome.tiff", "tiffslide", "ome-tiff"),
        ("small-dicom", "openslide", "dicom"),
    ],
)
def test_each_format_opens_with_its_backend_and_the_same_geometry(
    converted: Path, name: str, backend: str, fmt: str
) -> None:
    with open_slide(converted / name, name) as slide:
        assert (slide.backend, slide.format) == (backend, fmt)
        assert detect_format(converted / name) == fmt
        assert slide.level_dimensions == ((1600, 1200), (400, 300))
        assert slide.level_downsamples == (1.0, 4.0)
        assert slide.mpp_x == pytest.approx(0.25) and slide.mpp_y == pytest.approx(0.25)
    info = read_slide_info(converted, name)
    assert info.format == fmt and info.width == 1600


def test_every_backend_reads_the_same_pixels(converted: Path) -> None:
    with open_slide(converted / "small.svs") as svs:
        reference = [
            read_scaled(svs, (301.5, 207.0), 1.7, (300, 200)),
            read_region(svs, 1, (0, 0), (400, 300)),
        ]
    for name, tolerance in (("small.tif", 0), ("small.ome.tiff", 0), ("small-dicom", 6)):
        with open_slide(converted / name) as slide:
            got = [
                read_scaled(slide, (301.5, 207.0), 1.7, (300, 200)),
                read_region(slide, 1, (0, 0), (400, 300)),
            ]
        for ref, other in zip(reference, got, strict=True):
            diff = np.abs(ref.astype(int) - other.astype(int))
            assert diff.mean() <= tolerance, name


def test_wsidicom_reads_a_series_openslide_refuses(
    converted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_slide(converted / "small-dicom") as by_openslide:
        expected = read_region(by_openslide, 0, (800, 600), (300, 200))
        edge = read_region(by_openslide, 1, (1500, 1100), (64, 64))

    class RefusingOpenSlide:
        """Recognises the series as DICOM, then fails to open it."""

        @staticmethod
        def detect_format(path: str) -> str:
            return "dicom"

        def __init__(self, path: str) -> None:
            raise openslide.OpenSlideError(f"unsupported DICOM in {path}")

    monkeypatch.setattr(openslide, "OpenSlide", RefusingOpenSlide)
    with open_slide(converted / "small-dicom", "small-dicom") as slide:
        assert (slide.backend, slide.format) == ("wsidicom", "dicom")
        assert slide.level_dimensions == ((1600, 1200), (400, 300))
        assert slide.mpp_x == pytest.approx(0.25)
        assert np.array_equal(read_region(slide, 0, (800, 600), (300, 200)), expected)
        # past the edge: white, as with OpenSlide
        assert np.abs(read_region(slide, 1, (1500, 1100), (64, 64)).astype(int) - edge).max() <= 1


def test_associated_images_are_named_and_read_on_demand(converted: Path) -> None:
    with open_slide(converted / "small.svs") as slide:
        assert "thumbnail" in slide.associated_images
        assert isinstance(slide.associated_images["thumbnail"], Image.Image)
    assert read_slide_info(converted, "small.svs").associated_images == ("thumbnail",)


def test_a_dicom_folder_is_one_slide_and_an_empty_folder_none(converted: Path) -> None:
    assert resolve_slide(converted, "small-dicom") == (converted / "small-dicom").resolve()
    (converted / "empty").mkdir(exist_ok=True)
    with pytest.raises(SlideError, match="folder without DICOM instances"):
        resolve_slide(converted, "empty")


@pytest.mark.parametrize(
    ("name", "content", "named"),
    [
        ("scan.png", None, "a PNG image"),
        ("scan.ndpi", b"not really an ndpi" * 10, "a Hamamatsu NDPI file"),
        ("scan.mrxs", b"[GENERAL]\nSLIDE_VERSION=1\n", "3DHistech MRXS"),
        ("scan.isyntax", b"<?xml version" + bytes(200), "a Philips iSyntax file"),
        ("scan.svs", b"", "an empty file"),
        ("scan.zip", None, "a ZIP archive"),
        ("scan.dat", b"\x00" * 128 + b"DICM" + bytes(64), "a DICOM file that is not"),
    ],
)
def test_a_file_no_backend_reads_is_refused_naming_what_it_is(
    tmp_path: Path, name: str, content: bytes | None, named: str
) -> None:
    path = tmp_path / name
    if name.endswith(".png"):
        Image.new("RGB", (8, 8)).save(path)
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("a.txt", "x")
    else:
        path.write_bytes(content or b"")
    with pytest.raises(SlideError, match="not a slide format any reader here opens") as err:
        open_slide(path, name)
    assert named in err.value.reason
    assert err.value.slide == name


def test_an_mrxs_without_its_folder_names_the_format(tmp_path: Path) -> None:
    (tmp_path / "scan.mrxs").write_text("[GENERAL]\n")
    with pytest.raises(SlideError, match="MRXS"):
        open_slide(tmp_path / "scan.mrxs", "scan.mrxs")


def test_a_stripped_tiff_openslide_refuses_opens_with_tiffslide(tmp_path: Path) -> None:
    path = tmp_path / "strips.tif"
    tifffile.imwrite(path, np.full((300, 400, 3), 200, np.uint8))
    assert openslide.OpenSlide.detect_format(str(path)) is None
    with open_slide(path) as slide:
        assert (slide.backend, slide.format) == ("tiffslide", "generic-tiff")
        assert (
            read_region(slide, 0, (390, 290), (20, 20))[:10, :10].tolist()
            == np.full((10, 10, 3), 200, np.uint8).tolist()
        )


def test_a_corrupt_tiff_is_a_slide_error_and_closes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.tif"
    path.write_bytes(b"II*\x00" + bytes(range(256)) * 64)
    with pytest.raises(SlideError, match="unreadable or corrupt"):
        open_slide(path, "cut.tif")


def test_slide_is_openslide_shaped(converted: Path) -> None:
    with open_slide(converted / "small.ome.tiff") as slide:
        assert isinstance(slide, openslide.AbstractSlide) and isinstance(slide, Slide)
        assert slide.read_region((0, 0), 1, (8, 8)).mode == "RGBA"
        assert slide.get_thumbnail((100, 100)).size == (100, 75)
        assert slide.get_best_level_for_downsample(5.0) == 1
    assert describe_file(converted / "small.tif") == "a TIFF file"
