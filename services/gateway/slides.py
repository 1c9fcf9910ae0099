"""Slide checks made at submission time: inside the data root, and openable."""

from __future__ import annotations

from pathlib import Path

from tessera.slides.access import describe_slide, resolve_slide
from tessera.workflows import WorkflowSpec


def check_slides(spec: WorkflowSpec, data_root: Path) -> None:
    """Raise `SlideError` for the first slide that escapes the data root or cannot be opened."""
    seen: set[str] = set()
    for job in spec.jobs:
        if job.slide is None or job.slide in seen:
            continue
        seen.add(job.slide)
        describe_slide(resolve_slide(data_root, job.slide))
