"""Slide checks made at submission time: inside the data root, and openable."""

from __future__ import annotations

from pathlib import Path

from tessera.slides.access import read_slide_info
from tessera.workflows import WorkflowSpec


def check_slides(spec: WorkflowSpec, data_root: Path) -> None:
    """Raise `SlideError` for the first slide that escapes the data root or cannot be opened."""
    for slide in dict.fromkeys(job.slide for job in spec.jobs if job.slide is not None):
        read_slide_info(data_root, slide)
