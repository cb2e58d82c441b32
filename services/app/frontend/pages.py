"""The pages: sign-up, sign-in and out, the task list (paged), add, edit, complete, delete.

Every action is a plain HTML form posted here (POST, then a 303 redirect to a page:
reloading never repeats it). Each form carries the session's CSRF token; the add form
also an Idempotency-Key made when it was rendered, so a double click or a browser
retry creates one task. What the backend answers becomes what a person needs:
field messages beside the fields (422), sign-in again with the input kept (401),
a banner when the task service is down (503, 502, 504).
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRouter
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from app.frontend.backend_client import (
    BackendClient,
    InvalidInput,
    ServiceDown,
    SessionExpired,
    TaskGone,
    UsernameTaken,
    WrongCredentials,
)
from app.frontend.session import CSRF_FIELD, csrf_token, csrf_valid
from app.schemas import IDEMPOTENCY_KEY

log = logging.getLogger(__name__)
router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

MAX_ID = 2**31 - 1
TaskId = Annotated[int, PathParam(gt=0, le=MAX_ID)]
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY)
FORM_READ_SECONDS = 10  # a form body still arriving after this is refused (408)
BANNERS = {
    "unavailable": (
        "The task service is not available right now. Nothing you saved is lost: "
        "try again in a moment."
    ),
    "timeout": (
        "The task service took too long to answer. Submitting the same form again, "
        "unchanged, is safe: a task is never added twice."
    ),
    "key_reused": (
        "This form was already sent with other text, and that may have added a task: "
        "check your list below. Submit the form again to add this one as a new task."
    ),
    "failed": "Something went wrong on our side. Try again in a moment.",
}


class CsrfRefused(Exception):
    pass


class FormRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- rendering helpers ------------------------------------------------------------------


def backend(request: Request) -> BackendClient:
    return request.app.state.backend


def render(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
    session = request.session
    context.setdefault("banner", None)
    return templates.TemplateResponse(
        request,
        name,
        {
            "csrf_field": CSRF_FIELD,
            "csrf_token": csrf_token(request),
            "username": session.get("user") if session.get("token") else None,
            "flashes": session.pop("flash", []),
            **context,
        },
        status_code=code,
    )


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def flash(request: Request, text: str) -> None:
    request.session.setdefault("flash", []).append(text)


def list_url(page: int = 1, status: str | None = None) -> str:
    query = {k: v for k, v in (("status", status), ("page", page if page > 1 else None)) if v}
    return "/tasks" + (f"?{urlencode(query)}" if query else "")


def _status_filter(value: str | None) -> str | None:
    return value if value in ("open", "completed") else None


def _page_number(value: str | None, size: int) -> int:
    """The page asked for, at least 1 and at most the last one whose offset the backend
    takes (an offset is at most MAX_ID): past the end of the list, the last page is shown."""
    try:
        page = int(value or 1)
    except ValueError:
        return 1
    return min(max(page, 1), MAX_ID // size + 1)


async def posted_form(request: Request) -> FormData:
    """The submitted form, once its size and CSRF token are checked."""
    limit = request.app.state.settings.MAX_REQUEST_BODY_BYTES
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise FormRefused(411, "The form was sent without its length. Submit it again.")
    if int(length) > limit:
        raise FormRefused(413, "The form is too large. Shorten what you typed and submit again.")
    try:
        with anyio.fail_after(FORM_READ_SECONDS):
            form = await request.form(max_files=0, max_fields=20)
    except TimeoutError:
        raise FormRefused(408, "The form took too long to arrive. Submit it again.") from None
    except StarletteHTTPException as exc:  # 400: a file, too many fields, a broken body
        if exc.status_code != 400:
            raise
        log.warning("form refused: %s", exc.detail)
        raise FormRefused(
            400, "The form could not be read. Go back, reload the page and submit it again."
        ) from None
    if not csrf_valid(request, form.get(CSRF_FIELD)):
        raise CsrfRefused
    return form


Form = Annotated[FormData, Depends(posted_form)]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def session_expired(
    request: Request,
    *,
    return_to: str,
    draft_form: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> RedirectResponse:
    """Back to sign-in, the input kept for when the user comes back (never a password)."""
    session = request.session
    session.pop("token", None)
    session["next"] = return_to
    if draft_form and fields:
        session["draft"] = {"form": draft_form, "fields": dict(fields)}
    flash(request, "Your session has expired. Sign in again: what you typed is kept.")
    return redirect("/signin")


def take_draft(request: Request, form_name: str) -> dict[str, str] | None:
    draft = request.session.get("draft")
    if isinstance(draft, dict) and draft.get("form") == form_name:
        request.session.pop("draft")
        return {str(k): str(v) for k, v in dict(draft.get("fields", {})).items()}
    return None


def signed_in_token(request: Request) -> str | None:
    token = request.session.get("token")
    return token if isinstance(token, str) else None


def sign_in_first(request: Request, return_to: str) -> RedirectResponse:
    request.session["next"] = return_to
    return redirect("/signin")


# --- health -----------------------------------------------------------------------------


@router.get("/health", include_in_schema=False)
async def health() -> JSONResponse:
    """The process serves HTTP (liveness, startup)."""
    return JSONResponse({"status": "ok"})


@router.get("/ready", include_in_schema=False)
async def ready(request: Request) -> JSONResponse:
    """Ready whenever the process serves. The backend's state is reported, never required:
    while it is away the pages still answer, with a banner instead of a connection error."""
    reachable = await backend(request).ready()
    checks = {"backend": "ok" if reachable else "unavailable"}
    return JSONResponse({"status": "ready" if reachable else "degraded", "checks": checks})


# --- signing up, in and out ---------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> RedirectResponse:
    return redirect("/tasks" if signed_in_token(request) else "/signin")


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    if signed_in_token(request):
        return redirect("/tasks")
    return render(request, "signin.html", values={"username": request.session.get("user", "")})


@router.post("/signin")
async def signin(request: Request, form: Form) -> Response:
    username, password = text(form, "username").strip(), text(form, "password")
    values = {"username": username}
    try:
        token = await backend(request).sign_in(username, password)
    except WrongCredentials:
        return render(
            request, "signin.html", 401, values=values, form_error="Wrong username or password."
        )
    except InvalidInput as exc:
        return render(request, "signin.html", 422, values=values, errors=exc.fields)
    except ServiceDown as exc:
        return render(request, "signin.html", exc.status, values=values, banner=BANNERS[exc.reason])
    start_session(request, username, token)
    return redirect(request.session.pop("next", "/tasks"))


def start_session(request: Request, username: str, token: str) -> None:
    """Signed in: a new CSRF token (nothing from before sign-in is trusted). The input and
    the page kept when a session expired go only to the user whose session it was: on a
    shared browser, whoever signs in next is not sent to their page with their words."""
    session = request.session
    carried = ("draft", "next", "flash") if session.get("user") in (None, username) else ()
    kept = {k: session[k] for k in carried if k in session}
    session.clear()
    session.update(kept, token=token, user=username)


@router.get("/signup")
async def signup_page(request: Request) -> Response:
    if signed_in_token(request):
        return redirect("/tasks")
    return render(request, "signup.html", values={})


@router.post("/signup")
async def signup(request: Request, form: Form) -> Response:
    username, password = text(form, "username").strip(), text(form, "password")
    values = {"username": username}
    if password != text(form, "confirm"):
        errors = {"confirm": "The two passwords differ. Type the same password twice."}
        return render(request, "signup.html", 422, values=values, errors=errors)
    client = backend(request)
    try:
        await client.sign_up(username, password)
    except UsernameTaken:
        errors = {"username": "This username is taken. Choose another one."}
        return render(request, "signup.html", 409, values=values, errors=errors)
    except InvalidInput as exc:
        return render(request, "signup.html", 422, values=values, errors=exc.fields)
    except ServiceDown as exc:
        return render(request, "signup.html", exc.status, values=values, banner=BANNERS[exc.reason])
    try:
        token = await client.sign_in(username, password)
    except (ServiceDown, WrongCredentials, InvalidInput) as exc:
        # The account exists: this form sent again would only say the name is taken.
        log.warning("signed up, but the sign-in after it failed: %s", type(exc).__name__)
        flash(
            request,
            "Your account is created, but signing in failed just now. "
            f"Sign in as {username} in a moment.",
        )
        return redirect("/signin")
    start_session(request, username, token)
    flash(request, f"Welcome, {username}! Your account is ready.")
    return redirect("/tasks")


@router.post("/signout")
async def signout(request: Request, form: Form) -> Response:
    request.session.clear()
    flash(request, "You are signed out.")
    return redirect("/signin")


# --- tasks ------------------------------------------------------------------------------


@router.get("/tasks")
async def tasks_page(request: Request) -> Response:
    page = _page_number(request.query_params.get("page"), request.app.state.settings.PAGE_SIZE)
    status = _status_filter(request.query_params.get("status"))
    token = signed_in_token(request)
    if token is None:
        return sign_in_first(request, list_url(page, status))
    draft = take_draft(request, "add")
    return await task_list(request, token, page=page, status=status, add_values=draft)


async def task_list(
    request: Request,
    token: str,
    *,
    page: int,
    status: str | None,
    add_values: Mapping[str, str] | None = None,
    add_errors: Mapping[str, str] | None = None,
    banner: str | None = None,
    code: int = 200,
) -> Response:
    """The list page; the add form shows `add_values` and `add_errors` (and keeps its
    Idempotency-Key when it is shown again after a failure)."""
    size = request.app.state.settings.PAGE_SIZE
    add_values = dict(add_values or {})
    add_values.setdefault("idempotency_key", str(uuid.uuid4()))
    listed = None
    try:
        listed = await backend(request).list_tasks(
            token, limit=size, offset=(page - 1) * size, status=status
        )
    except SessionExpired:
        return session_expired(
            request, return_to=list_url(page, status), draft_form="add", fields=add_values
        )
    except ServiceDown as exc:
        banner, code = banner or BANNERS[exc.reason], max(code, exc.status)
    except InvalidInput as exc:  # a query the backend refuses is ours to fix, not the user's
        log.error("backend refused the list query: %s", exc.other or exc.fields)
        banner, code = banner or BANNERS["failed"], max(code, 502)
    pages = max(1, math.ceil(listed.total / size)) if listed else 1
    if listed and page > pages:
        return redirect(list_url(pages, status))
    return render(
        request,
        "tasks.html",
        code,
        tasks=listed.items if listed else None,
        total=listed.total if listed else 0,
        page=page,
        pages=pages,
        status=status,
        banner=banner,
        values=add_values,
        errors=add_errors or {},
        prev_url=list_url(page - 1, status) if page > 1 else None,
        next_url=list_url(page + 1, status) if page < pages else None,
        filter_urls={name: list_url(1, name) for name in (None, "open", "completed")},
        back_query={"page": page, "status": status or ""},
    )


def _list_position(request: Request, form: FormData) -> tuple[int, str | None]:
    size = request.app.state.settings.PAGE_SIZE
    return _page_number(text(form, "page"), size), _status_filter(text(form, "status"))


def _idempotency_key(submitted: str) -> str:
    """The form's key when the backend would take it (it goes into a header), else a new one."""
    return submitted if _IDEMPOTENCY_KEY.fullmatch(submitted) else str(uuid.uuid4())


@router.post("/tasks")
async def add_task(request: Request, form: Form) -> Response:
    page, status = _list_position(request, form)
    values = {
        "title": text(form, "title"),
        "description": text(form, "description"),
        "idempotency_key": _idempotency_key(text(form, "idempotency_key")),
    }
    token = signed_in_token(request)
    if token is None:
        return session_expired(
            request, return_to=list_url(page, status), draft_form="add", fields=values
        )
    body = {"title": values["title"].strip(), "description": values["description"] or None}
    try:
        task = await backend(request).create_task(token, body, key=values["idempotency_key"])
    except SessionExpired:
        return session_expired(
            request, return_to=list_url(page, status), draft_form="add", fields=values
        )
    except InvalidInput as exc:
        banner, errors = None, exc.fields or {"title": " ".join(exc.other)}
        if exc.key_refused:
            # The key went with other text before (kept after a timeout, then edited): a
            # new key makes the next send a new task, which the banner says.
            values["idempotency_key"] = str(uuid.uuid4())
            banner, errors = BANNERS["key_reused"], exc.fields
        return await task_list(request, token, page=page, status=status, add_values=values,
                               add_errors=errors, banner=banner, code=422)  # fmt: skip
    except ServiceDown as exc:
        return await task_list(
            request,
            token,
            page=page,
            status=status,
            add_values=values,
            banner=BANNERS[exc.reason],
            code=exc.status,
        )
    flash(request, f"Added “{task['title']}”.")
    return redirect(list_url(1, status if status != "completed" else None))


@router.get("/tasks/{task_id}/edit")
async def edit_page(request: Request, task_id: TaskId) -> Response:
    token = signed_in_token(request)
    if token is None:
        return sign_in_first(request, f"/tasks/{task_id}/edit")
    try:
        task = await backend(request).get_task(token, task_id)
    except SessionExpired:
        return session_expired(request, return_to=f"/tasks/{task_id}/edit")
    except TaskGone:
        flash(request, "That task no longer exists.")
        return redirect("/tasks")
    except ServiceDown as exc:
        return render(
            request,
            "edit.html",
            exc.status,
            task=None,
            task_id=task_id,
            values={},
            errors={},
            banner=BANNERS[exc.reason],
        )
    values = take_draft(request, f"edit:{task_id}") or {
        "title": task["title"],
        "description": task["description"] or "",
        "completed": "on" if task["completed"] else "",
    }
    return render(request, "edit.html", task=task, task_id=task_id, values=values, errors={})


@router.post("/tasks/{task_id}/edit")
async def edit_task(request: Request, task_id: TaskId, form: Form) -> Response:
    values = {
        "title": text(form, "title"),
        "description": text(form, "description"),
        "completed": "on" if text(form, "completed") else "",
    }
    token = signed_in_token(request)
    return_to = f"/tasks/{task_id}/edit"
    if token is None:
        return session_expired(
            request, return_to=return_to, draft_form=f"edit:{task_id}", fields=values
        )
    body = {
        "title": values["title"].strip(),
        "description": values["description"] or None,
        "completed": bool(values["completed"]),
    }
    try:
        task = await backend(request).update_task(token, task_id, body)
    except SessionExpired:
        return session_expired(
            request, return_to=return_to, draft_form=f"edit:{task_id}", fields=values
        )
    except TaskGone:
        flash(request, "That task no longer exists.")
        return redirect("/tasks")
    except InvalidInput as exc:
        errors = exc.fields or {"title": " ".join(exc.other)}
        return render(
            request,
            "edit.html",
            422,
            task={"id": task_id},
            task_id=task_id,
            values=values,
            errors=errors,
        )
    except ServiceDown as exc:
        return render(
            request,
            "edit.html",
            exc.status,
            task={"id": task_id},
            task_id=task_id,
            values=values,
            errors={},
            banner=BANNERS[exc.reason],
        )
    flash(request, f"Saved “{task['title']}”.")
    return redirect("/tasks")


@router.post("/tasks/{task_id}/complete")
async def complete_task(request: Request, task_id: TaskId, form: Form) -> Response:
    return await _task_action(request, form, task_id, "complete")


@router.post("/tasks/{task_id}/delete")
async def delete_task(request: Request, task_id: TaskId, form: Form) -> Response:
    return await _task_action(request, form, task_id, "delete")


async def _task_action(request: Request, form: FormData, task_id: int, action: str) -> Response:
    """Complete or delete, then back to the same page of the list. Both are safe to repeat:
    a second click finds the task done, or gone (and says so)."""
    page, status = _list_position(request, form)
    token = signed_in_token(request)
    if token is None:
        return session_expired(request, return_to=list_url(page, status))
    client = backend(request)
    try:
        if action == "complete":
            await client.complete_task(token, task_id)
        else:
            await client.delete_task(token, task_id)
    except SessionExpired:
        return session_expired(request, return_to=list_url(page, status))
    except TaskGone:
        flash(request, "That task was already deleted.")
    except ServiceDown as exc:
        return await task_list(
            request, token, page=page, status=status, banner=BANNERS[exc.reason], code=exc.status
        )
    else:
        title = text(form, "title")
        flash(request, f"Completed “{title}”." if action == "complete" else f"Deleted “{title}”.")
    return redirect(list_url(page, status))


# --- error pages --------------------------------------------------------------------------


def deadline_page(scope: Scope, status: int, _: str) -> Response:
    """The page sent past REQUEST_TIMEOUT_SECONDS (app.core.deadline): 408 while the form
    was still arriving, else 503."""
    request = Request(scope)
    if status == 408:
        message = "The form took too long to arrive. Submit it again."
        return render(
            request, "error.html", 408, title="The form was not accepted", message=message
        )
    return render(
        request, "error.html", status, title="No answer in time", message=BANNERS["timeout"]
    )


def install_error_pages(app: FastAPI) -> None:
    """Refusals and failures as pages a person can act on, never a stack trace or JSON."""

    async def csrf_refused(request: Request, _: Exception) -> Response:
        log.warning("form refused: CSRF token missing or not this session's")
        return render(
            request,
            "error.html",
            403,
            title="This form has expired",
            message="The form was not sent from a page of this site, or it is older than your "
            "session. Go back, reload the page and submit it again.",
        )

    async def form_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FormRefused)
        return render(
            request,
            "error.html",
            exc.status,
            title="The form was not accepted",
            message=exc.message,
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 404
        if status == 405:
            return render(
                request,
                "error.html",
                405,
                title="Not here",
                message="This address does not take that kind of request.",
            )
        return render(
            request,
            "error.html",
            404 if status < 500 else status,
            title="Page not found",
            message="There is no page at this address.",
        )

    async def failure(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return render(
            request, "error.html", 500, title="Something went wrong", message=BANNERS["failed"]
        )

    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(FormRefused, form_refused)
    app.add_exception_handler(StarletteHTTPException, not_found)
    app.add_exception_handler(RequestValidationError, not_found)  # a path id that is no id
    app.add_exception_handler(Exception, failure)
