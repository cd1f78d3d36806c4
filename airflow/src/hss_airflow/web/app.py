"""The FastAPI app the `hss_ui` plugin mounts on the api-server at /hss (airflow/plugins/hss_ui_plugin.py).

Airflow protects none of a plugin's routes by itself: every route here depends on Airflow's own
`requires_access_view(AccessView.PLUGINS)`. That dependency reads the UI's login (the `_token` cookie a
logged-in browser sends, or a Bearer token). Without a valid login a page answers 303 to the UI's login
page, which comes back here after. Routes are plain `def`: the file reads (and /operations' calls to
Prometheus) run in the threadpool.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Annotated, Literal

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_view
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from hss_airflow.settings import settings
from hss_airflow.web import operations, pages
from hss_airflow.web.library import Library

PER_PAGE = 50


def build_app(library: Library | None = None) -> FastAPI:
    lib = library or Library(settings().data_root)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Read every result file once in the background, so the first visit finds the summaries cached.
        threading.Thread(target=lib.songs, name="hss-ui-warm-up", daemon=True).start()
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="HSS song analyses",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(requires_access_view(AccessView.PLUGINS))],
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        logged_out = exc.status_code == 401 or (exc.status_code == 403 and exc.detail == "Invalid JWT token")
        if logged_out and request.method in ("GET", "HEAD"):
            next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(get_auth_manager().get_url_login(next_url=next_url), status_code=303)
        text = (
            pages.not_found(str(exc.detail))
            if exc.status_code == 404
            else pages.message_page(f"{exc.status_code}", [str(exc.detail)])
        )
        return HTMLResponse(text, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.get("/songs", response_class=HTMLResponse, summary="Every analysed song, newest analysis of each")
    def songs(
        sort: Annotated[Literal["probability", "song", "when", "model"], Query()] = "when",
        order: Annotated[Literal["asc", "desc"], Query()] = "desc",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> str:
        return pages.songs_page(lib.songs(), sort=sort, order=order, page_no=page, per_page=PER_PAGE)

    @app.get("/songs/{song_id}", response_class=HTMLResponse, summary="One song: every analysis of it")
    def song(song_id: str) -> str:
        listing = lib.song(song_id)
        if listing is None:
            raise StarletteHTTPException(404, f"No analysed song '{song_id}'.")
        return pages.song_page(song_id, listing)

    @app.get("/training", response_class=HTMLResponse, summary="Every training run")
    def trainings() -> str:
        return pages.trainings_page(lib.trainings())

    @app.get("/training/{training_id}", response_class=HTMLResponse, summary="One training run's report")
    def training(training_id: str) -> str:
        report, problem = lib.training(training_id)
        if report is None:
            if problem:  # 200: the page works, the file does not; it says which file and why
                return pages.malformed_page(f"Training {training_id}", [problem])
            raise StarletteHTTPException(404, f"No training '{training_id}'.")
        return pages.training_page(report)

    @app.get("/operations", response_class=HTMLResponse, summary="The stack's metrics from Prometheus")
    def operations_page(window: Annotated[str, Query()] = operations.DEFAULT_WINDOW) -> str:
        chosen = operations.WINDOWS.get(window)
        if chosen is None:  # only a known window reaches the PromQL
            known = ", ".join(operations.WINDOWS)
            raise StarletteHTTPException(400, f"Unknown window '{window[:40]}': choose one of {known}.")
        try:
            config = settings()  # read per visit, like every HSS_* reader (hss_airflow.settings)
        except ValueError as exc:
            raise StarletteHTTPException(500, str(exc)) from None
        url, public = config.prometheus_url, config.prometheus_browser_url
        view = None if url is None or public is None else operations.collect(url, public, chosen)
        return pages.operations_page(window, url, view)

    return app


@cache
def served_app() -> FastAPI:
    """The one app of this process (the plugin's `fastapi_apps` is read more than once: mount, /api/v2/plugins)."""
    return build_app()
