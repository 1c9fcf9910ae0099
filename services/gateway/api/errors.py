"""The one place where Tessera's errors become HTTP answers: a JSON body a user can act on."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera.errors import BusError, Conflict, InvalidWorkflow, NotFound, SlideError


def problem(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message, **extra}}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(InvalidWorkflow)
    async def invalid_workflow(_: Request, exc: InvalidWorkflow) -> JSONResponse:
        return problem(422, "invalid workflow: " + "; ".join(exc.problems), problems=exc.problems)

    @app.exception_handler(SlideError)
    async def slide_error(_: Request, exc: SlideError) -> JSONResponse:
        return problem(422, str(exc), problems=[str(exc)])

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return problem(409, str(exc), state=exc.state)

    @app.exception_handler(BusError)
    async def bus_error(_: Request, exc: BusError) -> JSONResponse:
        response = problem(503, f"the event log is unavailable, nothing was recorded: {exc}")
        response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return problem(422, "invalid request: " + "; ".join(problems), problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response
