"""/v1/workflows/{workflow_id}/jobs/{job_id}/results/cells/*: a finished segmentation, measured.

What a viewer asks as its user points and pans, in level-0 pixels of the slide: the cell under
a point (`cells/at`) and the number of cells whose centroid lies in a box (`cells/count`). Both
are answered from the job's cell index (`tessera.gateway.cells`), built on the first request.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from tessera.errors import NotFound
from tessera.gateway.api.deps import CellIndexesDep, JobId, SucceededDep
from tessera.gateway.api.errors import CONFLICT, INVALID, NOT_FOUND
from tessera.gateway.api.models import CellCount, CellView

router = APIRouter(prefix="/workflows/{workflow_id}/jobs/{job_id}/results/cells", tags=["results"])
ERRORS = {**NOT_FOUND, **CONFLICT, **INVALID}


def _coordinate(description: str) -> object:
    return Query(ge=0, allow_inf_nan=False, description=f"{description}, level-0 pixels")


X = Annotated[float, _coordinate("x from the slide's left edge")]
Y = Annotated[float, _coordinate("y from the slide's top edge")]


@router.get("/at", response_model=CellView, responses=ERRORS)
async def get_cell_at(
    workflow_id: UUID, job_id: JobId, job: SucceededDep, indexes: CellIndexesDep, x: X, y: Y
) -> CellView:
    """The cell whose outline holds the point (x, y); 404 when no cell does."""
    cell = (await indexes.get(job.folder, job.type)).at(x, y)
    if cell is None:
        raise NotFound("cell", f"{x:g},{y:g}", f"no cell at ({x:g}, {y:g}) in job {job_id!r}")
    return CellView.model_validate(asdict(cell))


@router.get("/count", response_model=CellCount, responses=ERRORS)
async def get_cell_count(
    workflow_id: UUID,
    job_id: JobId,
    job: SucceededDep,
    indexes: CellIndexesDep,
    x0: X,
    y0: Y,
    x1: X,
    y1: Y,
) -> CellCount:
    """The number of cells whose centroid lies in the box x0 <= x < x1, y0 <= y < y1 (a box
    past the slide's edges is fine)."""
    problems = [
        {"loc": ("query", hi), "msg": f"{hi} must not be less than {lo}", "type": "value_error"}
        for lo, hi, a, b in (("x0", "x1", x0, x1), ("y0", "y1", y0, y1))
        if b < a
    ]
    if problems:
        raise RequestValidationError(problems)
    count = (await indexes.get(job.folder, job.type)).count(x0, y0, x1, y1)
    return CellCount(count=count, box=(x0, y0, x1, y1))
