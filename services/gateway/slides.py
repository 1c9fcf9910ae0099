"""The data root as tenants see it: which slides a tenant may name, list and view.

Slides anywhere in the data root are shared lab data, visible to every tenant, except under
`uploads/`: `uploads/<tenant>/` holds what that tenant uploaded and is visible to it alone.
Another tenant's upload reads exactly like a missing file, so its existence does not leak. The
rule is applied to the resolved path, so a symlink cannot lead into another tenant's folder.

A slide is a file, or a folder of DICOM instances (a series); a listing shows such a folder as
one slide and not its files. The data plane resolves references with
`tessera.slides.access.resolve_slide` alone: a workflow reaches it only after `check_slides`
accepted every slide for the submitting tenant (it refuses them all at once, not the first).
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from uuid import UUID

from tessera.errors import NotFound, SlideError, SlidesRefused
from tessera.slides.access import SlideInfo, open_slide, resolve_slide, slide_info
from tessera.slides.signatures import dicom_instance
from tessera.workflows import WorkflowSpec

UPLOADS = "uploads"
MISSING = "no such file under the data root"
# Slide files by the name they are opened by; a listing opens only these (a lab mount holds much
# else). DICOM instances are not listed one by one: their folder is the slide.
SLIDE_SUFFIXES = frozenset(
    {".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".svslide", ".bif"}
)


def upload_folder(data_root: str | os.PathLike[str], tenant: UUID) -> Path:
    """Where `tenant`'s uploads live."""
    return Path(data_root) / UPLOADS / str(tenant)


def upload_reference(tenant: UUID, name: str) -> str:
    """The slide reference of an upload, as a workflow names it."""
    return f"{UPLOADS}/{tenant}/{name}"


def resolve_for(data_root: str | os.PathLike[str], slide: str, tenant: UUID) -> Path:
    """`resolve_slide`, plus the uploads rule: SlideError (as for a missing file) when the file
    lies in another tenant's upload folder, or directly in `uploads/`."""
    path = resolve_slide(data_root, slide)
    parts = path.relative_to(Path(data_root).resolve()).parts
    if parts[0] == UPLOADS and (len(parts) < 3 or parts[1] != str(tenant)):
        raise SlideError(slide, MISSING)
    return path


def check_slides(spec: WorkflowSpec, data_root: Path, tenant: UUID) -> dict[str, SlideInfo]:
    """Each slide's metadata, by reference; `SlidesRefused` naming every slide that escapes the
    data root, is not the tenant's to use or cannot be opened, with the jobs that name it."""
    jobs: dict[str, list[str]] = {}
    for job in spec.jobs:
        if job.slide is not None:
            jobs.setdefault(job.slide, []).append(job.id)
    infos: dict[str, SlideInfo] = {}
    refused: list[tuple[SlideError, list[str]]] = []
    for slide, naming in jobs.items():
        try:
            with open_slide(resolve_for(data_root, slide, tenant), slide) as handle:
                infos[slide] = slide_info(handle, slide)
        except SlideError as exc:
            refused.append((exc, naming))
    if refused:
        raise SlidesRefused(refused)
    return infos


@dataclass(frozen=True)
class SlideEntry:
    """A slide as the catalogue lists it: its metadata and the file it was read from."""

    info: SlideInfo
    path: Path
    size_bytes: int
    mtime_ns: int

    @property
    def uploaded(self) -> bool:
        return PurePosixPath(self.info.slide).parts[0] == UPLOADS


@dataclass(frozen=True)
class _Cached:
    mtime_ns: int
    size: int
    info: SlideInfo | None
    reason: str


class SlideCatalog:
    """Metadata of the slides under a data root, each read once per (path, mtime, size).

    Thread-safe: the gateway calls it from worker threads. Files OpenSlide cannot open are
    remembered too, so a listing does not retry them until they change.
    """

    def __init__(self, data_root: str | os.PathLike[str], max_entries: int = 10_000) -> None:
        self.data_root = Path(data_root)
        self._max = max_entries
        self._lock = threading.Lock()
        self._cache: OrderedDict[Path, _Cached] = OrderedDict()

    def describe(self, slide: str, tenant: UUID) -> SlideEntry:
        """One slide the tenant may see; NotFound (with the reason) otherwise."""
        try:
            path = resolve_for(self.data_root, slide, tenant)
            return self._entry(path, slide)
        except SlideError as exc:
            raise NotFound("slide", slide, str(exc)) from None

    def page(
        self, tenant: UUID, *, limit: int, after: str | None = None
    ) -> tuple[list[SlideEntry], str | None]:
        """The slides the tenant sees, by reference, `limit` at a time after reference `after`;
        the next page's cursor, or None at the end."""
        references = self.references(tenant)
        start = bisect.bisect_right(references, after) if after is not None else 0
        items: list[SlideEntry] = []
        for slide in references[start:]:
            try:
                entry = self.describe(slide, tenant)
            except NotFound:
                continue
            if len(items) == limit:
                return items, items[-1].info.slide
            items.append(entry)
        return items, None

    def references(self, tenant: UUID) -> list[str]:
        """Sorted references of every candidate: shared ones and the tenant's uploads."""
        root = self.data_root.resolve()
        found = _candidates(root, root, skip=root / UPLOADS)
        own = upload_folder(root, tenant)
        if own.is_dir():
            found.extend(_candidates(root, own))
        return sorted(found)

    def _entry(self, path: Path, slide: str) -> SlideEntry:
        try:
            stat = _version(path)
        except OSError:
            raise SlideError(slide, MISSING) from None
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None:
                self._cache.move_to_end(path)
        if cached is None or (cached.mtime_ns, cached.size) != (stat.st_mtime_ns, stat.st_size):
            cached = _read(path, slide, stat)
            with self._lock:
                self._cache[path] = cached
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        if cached.info is None:
            raise SlideError(slide, cached.reason)
        info = cached.info.model_copy(update={"slide": slide})
        return SlideEntry(info, path, cached.size, cached.mtime_ns)


def _candidate(name: str) -> bool:
    return not name.startswith(".") and PurePosixPath(name).suffix.lower() in SLIDE_SUFFIXES


def _candidates(root: Path, top: Path, skip: Path | None = None) -> list[str]:
    """References under `top` (relative to `root`): slide files, and DICOM folders as one each."""
    found: list[str] = []
    for folder, dirs, files in os.walk(top):
        here = Path(folder)
        if here != top and dicom_instance(here) is not None:
            found.append(here.relative_to(root).as_posix())
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and here / d != skip)
        found.extend((here / f).relative_to(root).as_posix() for f in files if _candidate(f))
    return found


@dataclass(frozen=True)
class _Version:
    st_mtime_ns: int
    st_size: int


def _version(path: Path) -> _Version | os.stat_result:
    """A file's stat; for a DICOM folder its newest mtime and total size (a changed series
    is read again)."""
    if not path.is_dir():
        return path.stat()
    stats = [e.stat() for e in os.scandir(path) if e.is_file()]
    return _Version(max((s.st_mtime_ns for s in stats), default=0), sum(s.st_size for s in stats))


def _read(path: Path, slide: str, stat: _Version | os.stat_result) -> _Cached:
    try:
        with open_slide(path, slide) as handle:
            info = slide_info(handle, slide)
    except SlideError as exc:
        return _Cached(stat.st_mtime_ns, stat.st_size, None, exc.reason)
    return _Cached(stat.st_mtime_ns, stat.st_size, info, "")
