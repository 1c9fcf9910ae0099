"""The data root as tenants see it: which slides a tenant may name, list and view.

Slides anywhere in the data root are shared lab data, visible to every tenant, except under
`uploads/`: `uploads/<tenant>/` holds what that tenant uploaded and is visible to it alone.
Another tenant's upload reads exactly like a missing file, so its existence does not leak. The
rule is applied to the resolved path, so a symlink cannot lead into another tenant's folder.

The data plane resolves references with `tessera.slides.access.resolve_slide` alone: a workflow
reaches it only after `check_slides` accepted every slide for the submitting tenant.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from uuid import UUID

from tessera.errors import NotFound, SlideError
from tessera.slides.access import SlideInfo, open_slide, resolve_slide, slide_info
from tessera.workflows import WorkflowSpec

UPLOADS = "uploads"
MISSING = "no such file under the data root"
# What OpenSlide reads, by the name of the file it is opened by; a listing opens only these (a
# lab mount holds much else). DICOM is left out: every file of a series would list as a slide.
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


def check_slides(spec: WorkflowSpec, data_root: Path, tenant: UUID) -> None:
    """Raise `SlideError` for the first slide that escapes the data root, is not the tenant's
    to use or cannot be opened."""
    for slide in dict.fromkeys(job.slide for job in spec.jobs if job.slide is not None):
        handle = open_slide(resolve_for(data_root, slide, tenant), slide)
        try:
            slide_info(handle, slide)
        finally:
            handle.close()


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
        """Sorted references of every candidate file: shared ones and the tenant's uploads."""
        root = self.data_root.resolve()
        found: list[str] = []
        for folder, dirs, files in os.walk(root):
            here = Path(folder).relative_to(root)
            dirs[:] = sorted(
                d for d in dirs if not d.startswith(".") and (here.parts or d != UPLOADS)
            )
            found.extend((here / f).as_posix() for f in files if _candidate(f))
        own = upload_folder(root, tenant)
        if own.is_dir():
            found.extend(
                upload_reference(tenant, e.name)
                for e in os.scandir(own)
                if _candidate(e.name) and e.is_file()
            )
        return sorted(found)

    def _entry(self, path: Path, slide: str) -> SlideEntry:
        try:
            stat = path.stat()
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


def _read(path: Path, slide: str, stat: os.stat_result) -> _Cached:
    try:
        handle = open_slide(path, slide)
    except SlideError as exc:
        return _Cached(stat.st_mtime_ns, stat.st_size, None, exc.reason)
    try:
        info = slide_info(handle, slide)
    except SlideError as exc:
        return _Cached(stat.st_mtime_ns, stat.st_size, None, exc.reason)
    finally:
        handle.close()
    return _Cached(stat.st_mtime_ns, stat.st_size, info, "")
