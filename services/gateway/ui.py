"""The web UI (`ui/`, built into `ui/dist` by `make ui`) served by the gateway at `/`.

Files come from the build folder; any other GET answers `index.html`, so that a client route
(`/workflows/<id>`) loads the app on a reload or a shared link. The mount never answers the
API's paths (`/v1`, `/docs`, `/openapi.json`, the ops endpoints) nor anything but GET and HEAD,
so a wrong API path or method keeps its JSON 404/405. Nothing is mounted when the folder has no
`index.html` (the UI was not built): the API runs without it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from tessera.gateway.api.errors import problem

# paths the UI must never shadow, with everything under them
RESERVED = ("/v1", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics")
# Vite names what it builds under assets/ by content hash: those may be cached for good, while
# index.html must be revalidated so a new build is picked up.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def reserved(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED)


class SinglePageApp(StaticFiles):
    """Static files with `index.html` for every path that is not a file (client routes)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, check_dir=True)
        self.index = directory / "index.html"

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            if path.startswith("assets/"):  # a missing bundle is an error, not a page
                return problem(404, f"no such UI file: /{path}")
            return FileResponse(self.index, headers={"Cache-Control": REVALIDATE})
        immutable = path.startswith("assets/") and response.status_code in (200, 304)
        response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
        return response


class UiMount(Mount):
    """Mounted at `/` behind every API route; steps aside for reserved paths and methods."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or reserved(scope["path"])
        ):
            return Match.NONE, {}
        return super().matches(scope)


def mount_ui(app: Starlette, folder: Path | None) -> bool:
    """Serve the built UI in `folder` at `/` when it holds an `index.html`; True if mounted.

    Call it after every other route is added: the mount matches whatever they leave.
    """
    if folder is None or not (folder / "index.html").is_file():
        return False
    app.router.routes.append(UiMount("/", app=SinglePageApp(folder), name="ui"))
    return True
