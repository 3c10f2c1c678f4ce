"""/docs (Swagger UI) and /redoc (ReDoc) served from files installed with lessor.

FastAPI's own pages load both from a CDN and are blank on a machine offline,
although /docs is the first address the README names. The fastapi-offline
package ships the files (only its static directory is used here, not its app);
every asset is then same-origin and works wherever the server runs.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
SAME_ORIGIN_ONLY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:"
)
"""The pages' Content-Security-Policy: the browser asks nothing of another host.

ReDoc's bundle shows a logo it fetches from its vendor's CDN (hidden when
that fails); with this policy it is not even requested. The inline parts
are the pages' own start-up script and the bundles' computed styles.
"""

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """The two pages and their assets; FastAPI's own docs_url and redoc_url must be None."""
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")
    app.include_router(router)


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    base = _base(request)
    page = get_swagger_ui_html(
        openapi_url=f"{base}{request.app.openapi_url}",
        title=f"{request.app.title} API",
        swagger_js_url=f"{base}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{base}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{base}{ASSETS}/favicon.png",
        # No badge from validator.swagger.io: that would be a request off the machine.
        swagger_ui_parameters={"validatorUrl": None},
    )
    page.headers["Content-Security-Policy"] = SAME_ORIGIN_ONLY
    return page


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    base = _base(request)
    page = get_redoc_html(
        openapi_url=f"{base}{request.app.openapi_url}",
        title=f"{request.app.title} API",
        redoc_js_url=f"{base}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{base}{ASSETS}/favicon.png",
        with_google_fonts=False,  # fonts from Google would be a request off the machine
    )
    page.headers["Content-Security-Policy"] = SAME_ORIGIN_ONLY
    return page
