"""Multi-file slides from one `.zip`: unpacked safely, then found inside.

An archive is untrusted. Every member must be a plain file or folder whose name stays inside the
destination (no absolute names, no `..`, no drive letters, no symbolic links, no encryption);
the number of members and the bytes unpacked are limited, the bytes counted as they are written
(a header's sizes can lie). A refused archive raises before or while unpacking; the caller
removes the destination, which holds nothing else.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from tessera.errors import SlideError
from tessera.slides.signatures import dicom_instance

ZIP = ".zip"
MAX_MEMBERS = 10_000  # an MRXS holds tens of files, a DICOM series a few per level
_CHUNK = 1 << 20
_IGNORED = ("__MACOSX/",)  # macOS resource forks that Finder adds to an archive


@dataclass(frozen=True)
class MultiFileSlide:
    """Where a multi-file slide lies: a DICOM folder (`data` None), or an .mrxs and its folder."""

    slide: Path
    data: Path | None


def unpack_zip(
    archive: Path, dest: Path, *, max_bytes: int, max_members: int = MAX_MEMBERS
) -> None:
    """Unpack `archive` into the new folder `dest`; SlideError when it is refused."""
    name = archive.name
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.filename.startswith(_IGNORED)]
            if len(members) > max_members:
                raise SlideError(name, f"holds {len(members)} files; at most {max_members}")
            declared = sum(m.file_size for m in members)
            if declared > max_bytes:
                raise SlideError(name, f"unpacks to {declared} bytes; at most {max_bytes}")
            dest.mkdir()
            written = 0
            for member in members:
                target = dest / _member_path(name, member)
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as source, target.open("xb") as out:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise SlideError(name, f"unpacks to more than {max_bytes} bytes")
                        out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise SlideError(name, f"not a readable zip archive ({exc})") from None
    except FileExistsError as exc:
        raise SlideError(name, f"names one file twice ({exc.filename})") from None


def _member_path(archive: str, member: zipfile.ZipInfo) -> PurePosixPath:
    """The member's relative path, or SlideError when it could land outside the destination."""
    raw = member.filename
    posix, windows = PurePosixPath(raw), PureWindowsPath(raw)
    unsafe = (
        "\x00" in raw
        or posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or ".." in posix.parts
        or ".." in windows.parts
    )
    if unsafe:
        raise SlideError(archive, f"member {raw!r} would be unpacked outside its folder")
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise SlideError(archive, f"member {raw!r} is a symbolic link; links are not unpacked")
    if member.flag_bits & 0x1:
        raise SlideError(archive, f"member {raw!r} is encrypted")
    parts = [p for p in windows.parts if p not in ("", ".")]
    if not parts:
        raise SlideError(archive, f"member {raw!r} has no name")
    return PurePosixPath(*parts)


def find_multi_file_slide(folder: Path, name: str) -> MultiFileSlide:
    """The one multi-file slide in an unpacked archive; SlideError (named `name`) otherwise."""
    mrxs: list[Path] = []
    dicom: list[Path] = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        mrxs.extend(Path(here) / f for f in sorted(files) if f.lower().endswith(".mrxs"))
        if dicom_instance(Path(here)) is not None:
            dicom.append(Path(here))
    if len(mrxs) == 1:
        data = mrxs[0].with_suffix("")
        if not data.is_dir():
            raise SlideError(name, f"{mrxs[0].name} has no folder {data.name}/ beside it")
        return MultiFileSlide(mrxs[0], data)
    if len(mrxs) > 1 or len(dicom) > 1:
        raise SlideError(name, "holds more than one slide; upload one per archive")
    if dicom:
        return MultiFileSlide(dicom[0], None)
    raise SlideError(
        name,
        "holds no multi-file slide (an .mrxs file with its folder, or a folder of DICOM "
        "instances); upload single-file slides as they are",
    )
