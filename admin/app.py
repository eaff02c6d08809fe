"""The admin application: FastAPI with the JSON API, the staff pages and the codec endpoint;
security headers, and one answer per kind of error (no stack trace ever reaches a user)."""

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from admin import i18n
from admin.deps import PASSWORD_PAGE, LoginRequired, PasswordChangeRequired, optional_user
from admin.errors import STORE_UNAVAILABLE, UNAVAILABLE, ServiceError
from admin.limits import UPLOAD_OVERHEAD, FormBodyLimit
from admin.public_guards import FormStamps, SubmitLimiter
from admin.rendering import language, render
from admin.routes import (
    administration,
    api,
    attachments,
    auth,
    canned_replies,
    complaints,
    dashboard,
    intake,
    lists,
    mails,
    public,
    work,
)
from admin.routes import codec as codec_routes
from admin.security import LoginThrottle, SessionSigner
from admin.users import User
from config.settings import Settings
from store.attachments import AttachmentStore
from store.engine import make_engine, make_sessionmaker
from temporal_client.connection import codec, connect

log = logging.getLogger("admin")
# Swagger UI's files, shipped by the fastapi-offline package (the registries are all we reach).
SWAGGER_STATIC = Path(importlib.util.find_spec("fastapi_offline").origin or "").parent / "static"  # type: ignore[union-attr]
SECURITY_HEADERS = {
    # No inline script or style anywhere: what a stored <script> in a complaint could not run.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _lazy_client(settings: Settings, given: Client | None) -> Callable[[], Awaitable[Client]]:
    """Connect on first use and keep the connection; a Temporal outage gives a 503, not a crash."""
    lock = asyncio.Lock()
    client: list[Client] = [given] if given else []

    async def get() -> Client:
        async with lock:
            if not client:
                try:
                    client.append(await connect(settings))
                except RuntimeError as exc:
                    log.warning("Temporal unavailable: %s", exc)
                    raise UNAVAILABLE from exc
            return client[0]

    return get


def _connection_problem(exc: DBAPIError) -> bool:
    """The database is unreachable, shutting down or starting up (asyncpg's errors arrive as a
    plain DBAPIError), as opposed to a query the database refused."""
    text = str(exc.orig).lower()
    return (
        isinstance(exc, (OperationalError, InterfaceError))
        or exc.connection_invalidated
        or any(s in text for s in ("shutting down", "starting up", "connection", "terminat"))
    )


def create_app(settings: Settings, temporal: Client | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.effective_database_url)
        app.state.sessions = make_sessionmaker(engine)
        app.state.attachments = AttachmentStore.of(settings, app.state.sessions)
        yield
        await engine.dispose()

    app = FastAPI(
        title="Lửa Rồng complaints",
        description="Complaint handling on Temporal: file, list, read, decide, audit.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served below from the fastapi-offline package's files: no CDN, no inline script
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.signer = SessionSigner(settings.effective_secret_key())
    app.state.throttle = LoginThrottle()
    # The public form's guards (one admin process: an address's posts are counted here).
    app.state.public_stamps = FormStamps(settings.effective_secret_key())
    app.state.public_limiter = SubmitLimiter(settings.public_form_limit, settings.public_form_window.total_seconds())
    # ... and the status page's messages, counted apart (writing back is not filing a complaint).
    app.state.public_message_limiter = SubmitLimiter(
        settings.public_form_limit, settings.public_form_window.total_seconds()
    )
    # ... and the link lookup, counted apart again (its own limit per complaint is the worker's).
    app.state.public_lookup_limiter = SubmitLimiter(
        settings.public_form_limit, settings.public_form_window.total_seconds()
    )
    app.state.temporal = _lazy_client(settings, temporal)
    app.state.codec = codec(settings)
    app.add_middleware(FormBodyLimit, upload_limit=settings.message_max_bytes + UPLOAD_OVERHEAD)
    features = (
        api,
        auth,
        work,
        lists,
        complaints,
        attachments,
        dashboard,
        mails,
        administration,
        canned_replies,
        public,
        intake,
    )
    for routes in (*features, codec_routes):
        app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=i18n.STATIC_DIR), name="static")
    app.mount("/docs-static", StaticFiles(directory=SWAGGER_STATIC), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>API · Lửa Rồng complaints</title>'
            '<link rel="stylesheet" href="/docs-static/swagger-ui.css"></head><body><div id="swagger-ui"></div>'
            '<script src="/docs-static/swagger-ui-bundle.js"></script><script src="/static/docs.js"></script>'
            "</body></html>"
        )
        # Swagger UI sets style attributes; scripts stay 'self' only.
        csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
        return HTMLResponse(page, headers={"Content-Security-Policy": csp})

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)  # a route may set a stricter or specific one
        if settings.secure_cookies:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        # Back to the page asked for once signed in (GET only: a form posted without a session is lost anyway).
        asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = "/login" if request.method != "GET" or asked == "/" else f"/login?next={quote(asked, safe='')}"
        return RedirectResponse(target, 303)

    @app.exception_handler(PasswordChangeRequired)
    async def password_change_required(request: Request, exc: PasswordChangeRequired) -> Response:
        return RedirectResponse(PASSWORD_PAGE, 303)

    async def signed_in(request: Request) -> User | None:
        """The user of the request, for an error page that keeps the menu; None when unknown."""
        try:
            async with app.state.sessions() as session:
                return await optional_user(request, session)
        except Exception:  # the store down, a bad token: the error page still shows
            return None

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        if request.url.path.startswith("/codec/"):  # the Temporal UI must be able to read the refusal
            body = {"error": exc.code, "message": exc.message}
            return JSONResponse(body, status_code=exc.status, headers=codec_routes.cors_headers(request))
        if not request.url.path.startswith("/api/"):
            user = await signed_in(request)
            titles = {401: "Log in", 403: "You do not have access", 404: "Not found"}
            title = titles.get(exc.status, "Something went wrong")
            message: str = exc.message
            if exc.page is not None:
                message = i18n.gettext(language(request, user), exc.page[0], **exc.page[1])
            return render(request, user, "error.html", exc.status, title=title, message=message)
        body = {"error": exc.code, "message": exc.message} | ({"field": exc.field} if exc.field else {})
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's own refusals (an unparseable body, a wrong method) in our error shape."""
        if exc.status_code == 400 and request.url.path.startswith("/api/"):
            return JSONResponse({"error": "invalid", "message": "body: not valid JSON", "field": "body"}, 422)
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "refused")
        return await service_error(request, ServiceError(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = exc.errors()[0]
        if error.get("type") == "json_invalid":
            return JSONResponse({"error": "invalid", "message": "body: not valid JSON", "field": "body"}, 422)
        field = ".".join(str(p) for p in error["loc"] if p not in ("body", "query", "path", "header"))
        return JSONResponse(
            {"error": "invalid", "message": f"{field or 'body'}: {error['msg']}", "field": field or None},
            status_code=422,
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(ConnectionError)  # refused or reset before SQLAlchemy wraps it
    async def store_down(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DBAPIError) and not _connection_problem(exc):
            return await unexpected(request, exc)
        # The database restarting or unreachable: a clear 503, like Temporal's, not a 500.
        log.warning("Store unavailable on %s %s: %s", request.method, request.url.path, exc)
        return await service_error(request, STORE_UNAVAILABLE)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("Unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal", "message": "unexpected error; it has been logged"}, status_code=500)

    return app
