"""Unpacking untrusted zips: what is refused, the limits, and finding the slide inside."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from tessera.errors import SlideError
from tessera.slides.archives import find_multi_file_slide, unpack_zip


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_zip_unpacks_with_its_folders(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "a.zip", {"s.mrxs": b"m", "s/Data0000.dat": b"d", "__MACOSX/x": b""}
    )
    unpack_zip(archive, tmp_path / "out", max_bytes=100)
    assert sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
    ) == [
        "s",
        "s.mrxs",
        "s/Data0000.dat",
    ]
    found = find_multi_file_slide(tmp_path / "out", "a.zip")
    assert (found.slide.name, found.data.name if found.data else None) == ("s.mrxs", "s")


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.dcm", "outside its folder"),
        ("a/../../evil.dcm", "outside its folder"),
        ("/etc/evil.dcm", "outside its folder"),
        ("C:/evil.dcm", "outside its folder"),
        ("..\\evil.dcm", "outside its folder"),
    ],
)
def test_members_that_would_land_outside_are_refused(
    tmp_path: Path, member: str, reason: str
) -> None:
    archive = make_zip(tmp_path / "a.zip", {"ok.dcm": b"x", member: b"x"})
    with pytest.raises(SlideError, match=reason):
        unpack_zip(archive, tmp_path / "out", max_bytes=1000)
    assert not (tmp_path / "evil.dcm").exists() and not (tmp_path.parent / "evil.dcm").exists()


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("s/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(SlideError, match="symbolic link"):
        unpack_zip(archive, tmp_path / "out", max_bytes=1000)


def test_the_size_and_file_count_limits(tmp_path: Path) -> None:
    big = make_zip(tmp_path / "big.zip", {"a.dcm": b"\0" * 5000})  # deflates to ~20 bytes
    with pytest.raises(SlideError, match="unpacks to 5000 bytes; at most 4999"):
        unpack_zip(big, tmp_path / "out1", max_bytes=4999)
    many = make_zip(tmp_path / "many.zip", {f"{i}.dcm": b"x" for i in range(11)})
    with pytest.raises(SlideError, match="holds 11 files; at most 10"):
        unpack_zip(many, tmp_path / "out2", max_bytes=1000, max_members=10)


def test_a_header_that_lies_about_the_size_is_caught_while_writing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a.dcm": b"\0" * 5000})
    data = bytearray(archive.read_bytes())
    # the declared (uncompressed) size in the central directory and the local header: 10 bytes
    for offset in _size_fields(data):
        data[offset : offset + 4] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(SlideError):
        unpack_zip(archive, tmp_path / "out", max_bytes=100)


def _size_fields(data: bytearray) -> list[int]:
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    return [local + 22, central + 24]


def test_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SlideError, match="not a readable zip archive"):
        unpack_zip(tmp_path / "a.zip", tmp_path / "out", max_bytes=1000)


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"notes.txt": b"x"}, "holds no multi-file slide"),
        ({"a.mrxs": b"x"}, "a.mrxs has no folder a/ beside it"),
        ({"a.mrxs": b"x", "a/d.dat": b"", "b.mrxs": b"", "b/d.dat": b""}, "more than one slide"),
        ({"x/1.dcm": b"x", "y/1.dcm": b"x"}, "more than one slide"),
    ],
)
def test_finding_the_slide_says_what_is_wrong(
    tmp_path: Path, members: dict[str, bytes], reason: str
) -> None:
    unpack_zip(make_zip(tmp_path / "a.zip", members), tmp_path / "out", max_bytes=1000)
    with pytest.raises(SlideError, match=reason):
        find_multi_file_slide(tmp_path / "out", "a.zip")


def test_a_dicom_folder_inside_is_found(tmp_path: Path) -> None:
    unpack_zip(
        make_zip(tmp_path / "a.zip", {"series/1.dcm": b"x", "series/2.dcm": b"x"}),
        tmp_path / "out",
        max_bytes=1000,
    )
    found = find_multi_file_slide(tmp_path / "out", "a.zip")
    assert found.slide == tmp_path / "out" / "series" and found.data is None
