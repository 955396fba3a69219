"""The review app's pages and actions (FastAPI, server-rendered with Jinja2).

Pages: runs, a run's coverage summary, an area's excerpts, a passage in
context, suggested next (uncertainty sampling), activity (who labelled what
and when), import, retrain. Actions: record a decision (form POST or fetch
with the CSRF header), export labels, import a workbook, start retraining.
Styles and script are served from ``pipeline/app/static``; nothing comes from
a CDN.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.app.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    AuthMiddleware,
    LoginThrottle,
    Session,
    SessionManager,
    require_csrf,
)
from pipeline.app.jobs import RetrainJob, current_model_summary
from pipeline.app.runs import RunCatalog, RunData
from pipeline.app.settings import AppSettings
from pipeline.errors import CorpusError
from pipeline.labels import (
    ACTIONS,
    INCLUDE,
    PASSAGE_LABEL,
    LabelStore,
    Verdict,
    read_corrections,
    suggest_passages,
    write_jsonl,
)

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
MAX_UPLOAD = 25 * 1024 * 1024
STATUS_ORDER = {"absent": 0, "thin": 1, "adequate": 2, "strong": 3}


# ------------------------------------------------------------------ helpers
def highlight(text: str, terms: Iterable[str]) -> Markup:
    """``text`` escaped, with each occurrence of a term wrapped in ``<mark>``."""
    words = sorted({t.strip() for t in terms if t and len(t.strip()) >= 3}, key=len, reverse=True)[:24]
    if not words:
        return Markup(escape(text))
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")", re.IGNORECASE)
    out, last = [], 0
    for m in pattern.finditer(text):
        out.append(escape(text[last:m.start()]))
        out.append(Markup("<mark>") + escape(m.group(0)) + Markup("</mark>"))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _safe_next(target: str | None, default: str) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _user(request: Request) -> str:
    session: Session | None = request.state.session
    assert session is not None  # the middleware lets no request without one reach a page
    return session.user


class App:
    """Everything a request needs: settings, store, runs, sessions, templates, jobs."""

    def __init__(self, settings: AppSettings, store: LabelStore | None = None) -> None:
        self.settings = settings.resolve()
        self.store = store or LabelStore(self.settings.db_url or "")
        self.library = self.store.library
        self.runs = RunCatalog(self.settings.runs_dir)
        self.sessions = SessionManager(self.settings.secret_key or "", self.settings.session_hours * 3600,
                                       secure=self.settings.secure_cookies)
        self.throttle = LoginThrottle()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(area_title=self.area_title, status_order=STATUS_ORDER)
        self.templates.env.filters["quote"] = lambda s: quote(str(s), safe="")
        self.retrain = RetrainJob(self.settings.retrain, self.settings.state_dir / "retrain" / "last.json")
        self.area_ids = self.library.area_ids()

    # -- rendering --------------------------------------------------------------
    def area_title(self, area_id: str) -> str:
        return self.library.area(area_id).title if self.library.has_area(area_id) else area_id

    def page(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        session: Session | None = getattr(request.state, "session", None)
        base = {
            "user": session.user if session else None,
            "csrf": session.csrf if session else "",
            "local": self.settings.local,
            "csrf_field": CSRF_FIELD,
        }
        return self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)

    def run_or_404(self, run_id: str) -> RunData:
        run = self.runs.get(run_id)
        if run is None:
            raise StarletteHTTPException(status_code=404, detail=f"no run {run_id!r} under the runs folder")
        return run

    # -- what a passage looks like to a user --------------------------------------
    def passage_view(self, run: RunData, pid: str, verdicts: Mapping[str, Verdict], user: str, *,
                     extra: Iterable[str] = (), focus: str | None = None) -> dict[str, Any]:
        model = run.model_labels(pid)
        scores = run.scores(pid)
        shown: list[str] = []
        for lbl in (*model, *(x for v in verdicts.values() for x in v.labels), *extra):
            if lbl in self.area_ids and lbl not in shown:
                shown.append(lbl)
        for v in verdicts.values():
            for lbl in v.decisions:
                if lbl in self.area_ids and lbl not in shown:
                    shown.append(lbl)
        mine = verdicts.get(user)
        others = {u: v for u, v in verdicts.items() if u != user}
        chips = []
        for lbl in shown:
            decision = mine.decisions.get(lbl) if mine else None
            if mine and mine.not_evidence:
                state = "excluded"
            elif decision in INCLUDE:
                state = "accepted"
            elif decision == "reject":
                state = "rejected"
            elif lbl in model:
                state = "model"
            else:
                state = "candidate"
            chips.append({
                "label": lbl,
                "framework": self.library.framework_of(lbl),
                "title": self.area_title(lbl),
                "score": scores.get(lbl),
                "model": lbl in model,
                "state": state,
                "others": [(u, lbl in v.labels) for u, v in sorted(others.items())],
            })
        order = {a: i for i, a in enumerate(self.area_ids)}
        chips.sort(key=lambda c: (not c["model"] and c["state"] == "candidate", order.get(c["label"], 99)))
        focus = focus if focus in shown else (chips[0]["label"] if chips else None)
        return {
            "run_id": run.id,
            "pid": pid,
            "chips": chips,
            "focus": focus,
            "not_evidence": bool(mine and mine.not_evidence),
            "reviewed": mine is not None,
            "updated": mine.updated_at[:16].replace("T", " ") if mine else "",
            "others": [{"user": u, "not_evidence": v.not_evidence, "when": v.updated_at[:16].replace("T", " ")}
                       for u, v in sorted(others.items())],
            "addable": [a for a in self.area_ids if a not in shown],
        }

    def excerpt_view(self, run: RunData, pid: str, verdicts: Mapping[str, Verdict], user: str, *,
                     area: str | None = None, extra: Iterable[str] = (), focus: str | None = None) -> dict[str, Any]:
        p = run.passages[pid]
        doc = run.document(pid)
        scores = run.scores(pid)
        return {
            "pid": pid,
            "text": highlight(str(p.get("text", "")), run.terms(pid)),
            "source_path": p.get("source_path", ""),
            "location": run.location(pid),
            "doc_type": p.get("doc_type", ""),
            "doc_title": doc.get("title", ""),
            "doc_date": doc.get("date") or "",
            "heading": " › ".join(p.get("heading_path") or []),
            "duplicate_of": p.get("duplicate_of"),
            "area_score": scores.get(area) if area else None,
            "review": self.passage_view(run, pid, verdicts, user, extra=extra, focus=focus or area),
        }


def create_app(settings: AppSettings, *, store: LabelStore | None = None) -> FastAPI:
    """The review app for the runs in ``settings.runs_dir``.

    Args:
        settings: where runs and labels are, login mode, session length.
        store: an open label store to use instead of opening ``settings.db_url``.
    """
    ctx = App(settings, store)
    api = FastAPI(title="wellled review", docs_url=None, redoc_url=None, openapi_url=None)
    api.state.ctx = ctx
    api.add_middleware(AuthMiddleware, sessions=ctx.sessions, local_user=ctx.settings.local_user
                       if ctx.settings.local else None)
    api.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    csrf = [Depends(require_csrf)]

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if "text/html" in request.headers.get("accept", ""):
            return ctx.page(request, "error.html", status_code=exc.status_code, code=exc.status_code,
                            detail=exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    # -- login ------------------------------------------------------------------------
    @api.get("/healthz")
    def healthz() -> Response:
        return Response("ok", media_type="text/plain")

    @api.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        if ctx.settings.local or request.state.session is not None:
            return RedirectResponse(_safe_next(next, "/"), status_code=303)
        token, cookie = ctx.sessions.login_token()
        response = ctx.page(request, "login.html", token=token, next=_safe_next(next, "/"), error=None)
        response.headers.append("set-cookie", ctx.sessions.cookie(LOGIN_COOKIE, cookie, max_age=3600))
        return response

    @api.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        name = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "/")), "/")
        if not ctx.sessions.check_login_token(request.cookies.get(LOGIN_COOKIE), str(form.get(CSRF_FIELD, ""))):
            raise StarletteHTTPException(status_code=403, detail="the login form expired: reload it and try again")
        error = None
        if ctx.throttle.blocked(name.lower()):
            error, code = "Too many failed attempts for this name: wait a few minutes.", 429
        elif not ctx.store.authenticate(name, password):
            ctx.throttle.failed(name.lower())
            error, code = "Wrong user name or password.", 401
        if error:
            token, cookie = ctx.sessions.login_token()
            response = ctx.page(request, "login.html", status_code=code, token=token, next=target, error=error)
            response.headers.append("set-cookie", ctx.sessions.cookie(LOGIN_COOKIE, cookie, max_age=3600))
            return response
        ctx.throttle.succeeded(name.lower())
        _, value = ctx.sessions.issue(name)
        logger.info("login: %s", name)
        response = RedirectResponse(target, status_code=303)
        response.headers.append("set-cookie", ctx.sessions.cookie(SESSION_COOKIE, value))
        response.headers.append("set-cookie", ctx.sessions.cookie(LOGIN_COOKIE, "", max_age=0))
        return response

    @api.post("/logout", dependencies=csrf)
    def logout(request: Request) -> Response:
        session: Session = request.state.session
        ctx.sessions.revoke(session)
        response = RedirectResponse("/" if ctx.settings.local else "/login", status_code=303)
        response.headers.append("set-cookie", ctx.sessions.cookie(SESSION_COOKIE, "", max_age=0))
        return response

    # -- pages --------------------------------------------------------------------------
    @api.get("/", response_class=HTMLResponse)
    def runs_page(request: Request) -> Response:
        counts = ctx.store.run_counts()
        runs = [{"info": r, "counts": counts.get(r.id, {"events": 0, "passages": 0, "users": 0})}
                for r in ctx.runs.list()]
        return ctx.page(request, "runs.html", runs=runs, runs_dir=str(ctx.settings.runs_dir))

    @api.get("/run/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> Response:
        run = ctx.run_or_404(run_id)
        user = _user(request)
        decided_all = ctx.store.decided(run.id)
        decided_me = ctx.store.decided(run.id, user)
        rows: dict[str, list[dict[str, Any]]] = {"kloe": [], "qs": []}
        for area in run.areas:
            pids = run.by_area.get(area["id"], [])
            rows.setdefault(area["framework"], []).append({
                **area,
                "reviewed": sum(1 for p in pids if p in decided_all),
                "mine": sum(1 for p in pids if p in decided_me),
                "excerpts": len(pids),
            })
        export = ctx.store.export(run.id)
        return ctx.page(request, "run.html", run=run, rows=rows, conflicts=export.conflicts[:200],
                        n_conflicts=len(export.conflicts), labelled=len(export.training), users=export.users,
                        decided_me=len(decided_me), excerpts=len(run.excerpts), passages=len(run.passages))

    @api.get("/run/{run_id}/area/{area_id}", response_class=HTMLResponse)
    def area_page(request: Request, run_id: str, area_id: str, page: int = 1, todo: int = 0) -> Response:
        run = ctx.run_or_404(run_id)
        if area_id not in ctx.area_ids:
            raise StarletteHTTPException(status_code=404, detail=f"no area {area_id!r}")
        user = _user(request)
        pids = run.by_area.get(area_id, [])
        if todo:
            mine = ctx.store.decided(run.id, user)
            pids = [p for p in pids if p not in mine]
        size = ctx.settings.page_size
        pages = max(1, -(-len(pids) // size))
        page = min(max(page, 1), pages)
        shown = pids[(page - 1) * size: page * size]
        verdicts = ctx.store.verdicts(run.id, shown)
        items = [ctx.excerpt_view(run, pid, verdicts.get(pid, {}), user, area=area_id) for pid in shown]
        row = next((a for a in run.areas if a["id"] == area_id), {})
        return ctx.page(request, "area.html", run=run, area_id=area_id, area=row, items=items, page=page,
                        pages=pages, total=len(pids), todo=todo, start=(page - 1) * size)

    @api.get("/run/{run_id}/passage/{pid}", response_class=HTMLResponse)
    def passage_page(request: Request, run_id: str, pid: str, area: str | None = None) -> Response:
        run = ctx.run_or_404(run_id)
        if pid not in run.passages:
            raise StarletteHTTPException(status_code=404, detail=f"no passage {pid!r} in run {run_id!r}")
        user = _user(request)
        before, after = run.context(pid, ctx.settings.context_passages)
        verdicts = ctx.store.verdicts(run.id, [pid])
        item = ctx.excerpt_view(run, pid, verdicts.get(pid, {}), user, area=area)

        def plain(x: str) -> dict[str, Any]:
            return {"pid": x, "text": run.passages[x].get("text", ""), "location": run.location(x),
                    "tagged": bool(run.model_labels(x))}

        return ctx.page(request, "passage.html", run=run, item=item, before=[plain(x) for x in before],
                        after=[plain(x) for x in after], doc=run.document(pid), area=area)

    @api.get("/run/{run_id}/suggest", response_class=HTMLResponse)
    def suggest_page(request: Request, run_id: str) -> Response:
        run = ctx.run_or_404(run_id)
        user = _user(request)
        duplicates = [pid for pid, p in run.passages.items() if p.get("duplicate_of")]
        suggestions = suggest_passages(run.tags.values(), exclude=ctx.store.decided(run.id, user),
                                       n=ctx.settings.suggest_count, skip=duplicates)
        suggestions = [s for s in suggestions if s.passage_id in run.passages]
        verdicts = ctx.store.verdicts(run.id, [s.passage_id for s in suggestions])
        items = []
        for s in suggestions:
            item = ctx.excerpt_view(run, s.passage_id, verdicts.get(s.passage_id, {}), user, extra=[s.label],
                                    focus=s.label)
            item["suggestion"] = s
            items.append(item)
        scored = sum(1 for t in run.tags.values() if t.get("scores"))
        return ctx.page(request, "suggest.html", run=run, items=items, scored=scored)

    @api.get("/run/{run_id}/activity", response_class=HTMLResponse)
    def activity_page(request: Request, run_id: str) -> Response:
        run = ctx.run_or_404(run_id)
        events = ctx.store.latest_events(run.id, limit=300)
        per_user = Counter(e.user for e in ctx.store.events(run.id))
        return ctx.page(request, "activity.html", run=run, events=events, per_user=sorted(per_user.items()))

    # -- decisions ------------------------------------------------------------------------
    @api.post("/run/{run_id}/label", dependencies=csrf)
    async def label(request: Request, run_id: str) -> Response:
        run = ctx.run_or_404(run_id)
        user = _user(request)
        form = await request.form()
        pid = str(form.get("passage_id", ""))
        if pid not in run.passages:
            raise StarletteHTTPException(status_code=404, detail=f"no passage {pid!r} in run {run_id!r}")
        do = str(form.get("do", ""))
        action, _, lbl = do.partition(":")
        if action == "add":
            lbl = lbl or str(form.get("add_label", ""))
        if action not in ACTIONS:
            raise StarletteHTTPException(status_code=400, detail=f"action must be one of {', '.join(ACTIONS)}")
        if action == "not_evidence":
            lbl = PASSAGE_LABEL
        if lbl != PASSAGE_LABEL and lbl not in ctx.area_ids:
            raise StarletteHTTPException(status_code=400, detail=f"{lbl!r} is not an area id")
        if action == "add" and lbl in run.model_labels(pid):
            action = "accept"
        event = ctx.store.record(run.ref(pid), user, action, lbl, via="app")
        wants_json = "application/json" in request.headers.get("accept", "")
        if not wants_json:
            target = _safe_next(str(form.get("next", "")), f"/run/{quote(run.id)}/passage/{quote(pid)}")
            return RedirectResponse(f"{target}#p-{quote(pid)}", status_code=303)
        verdicts = ctx.store.verdicts(run.id, [pid]).get(pid, {})
        extra = [x for x in str(form.get("extra", "")).split(",") if x]
        view = ctx.passage_view(run, pid, verdicts, user, extra=extra, focus=str(form.get("focus", "")) or lbl)
        html = ctx.templates.get_template("_review.html").render(
            review=view, csrf=request.state.session.csrf, csrf_field=CSRF_FIELD,
            next=str(form.get("next", "")), extra=",".join(extra))
        return JSONResponse({"ok": True, "event": event.to_dict(), "html": html,
                             "labels": list(verdicts[user].labels), "not_evidence": verdicts[user].not_evidence})

    # -- export / import ----------------------------------------------------------------------
    def export_response(run_id: str | None, fmt: str) -> Response:
        if fmt not in ("training", "prodigy"):
            raise StarletteHTTPException(status_code=400, detail="format must be training or prodigy")
        export = ctx.store.export(run_id)
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in export.records(fmt))
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
        name = f"{run_id or 'all-runs'}-labels-{fmt}-{stamp}.jsonl"
        return Response(body, media_type="application/x-ndjson", headers={
            "content-disposition": f'attachment; filename="{re.sub(r"[^A-Za-z0-9._-]", "_", name)}"',
            "x-wellled-passages": str(len(export.training)),
            "x-wellled-conflicts": str(len(export.conflicts)),
        })

    @api.get("/run/{run_id}/export")
    def export_run(run_id: str, format: str = "training") -> Response:
        run = ctx.run_or_404(run_id)
        return export_response(run.id, format)

    @api.get("/export")
    def export_all(format: str = "training") -> Response:
        return export_response(None, format)

    @api.post("/run/{run_id}/import", response_class=HTMLResponse, dependencies=csrf)
    async def import_xlsx(request: Request, run_id: str) -> Response:
        run = ctx.run_or_404(run_id)
        user = _user(request)
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise StarletteHTTPException(status_code=400, detail="choose a filled-in coverage.xlsx to import")
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise StarletteHTTPException(status_code=413, detail="the workbook is larger than 25 MB")
        name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(upload.filename).name) or "upload.xlsx"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            try:
                result = read_corrections(path, run_id=run.id, passages=_Refs(run), reviewer=user,
                                          library=ctx.library)
            except CorpusError as exc:
                return ctx.page(request, "import.html", status_code=400, run=run, result=None, error=str(exc),
                                recorded=0)
        recorded = ctx.store.record_many(result.events)
        return ctx.page(request, "import.html", run=run, result=result, error=None, recorded=recorded)

    # -- retrain -------------------------------------------------------------------------------
    @api.get("/retrain", response_class=HTMLResponse)
    def retrain_page(request: Request) -> Response:
        export = ctx.store.export()
        return ctx.page(request, "retrain.html", job=ctx.retrain.state(), available=ctx.retrain.available,
                        current=current_model_summary(ctx.settings.models_dir), labelled=len(export.training),
                        conflicts=len(export.conflicts), users=export.users)

    @api.post("/retrain", dependencies=csrf)
    async def retrain_start(request: Request) -> Response:
        form = await request.form()
        if not ctx.retrain.available:
            raise StarletteHTTPException(status_code=400, detail="this server was started without retraining")
        export = ctx.store.export()
        if not export.training:
            raise StarletteHTTPException(status_code=400, detail="no labelled passages yet: review some first")
        folder = ctx.settings.state_dir / "retrain"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = folder / f"labels-{stamp}.jsonl"
        write_jsonl(path, export.training)
        ctx.retrain.start(path, passages=len(export.training), force=form.get("force") == "1",
                          user=_user(request))
        return RedirectResponse("/retrain", status_code=303)

    @api.post("/retrain/promote", dependencies=csrf)
    def retrain_promote(request: Request) -> Response:
        try:
            ctx.retrain.promote(ctx.settings.models_dir, user=_user(request))
        except ValueError as exc:
            raise StarletteHTTPException(status_code=400, detail=str(exc)) from exc
        return RedirectResponse("/retrain", status_code=303)

    @api.get("/retrain/status")
    def retrain_status() -> Response:
        return JSONResponse(ctx.retrain.state())

    return api


class _Refs(Mapping[str, Any]):
    """A run's passages as :class:`~pipeline.labels.PassageRef` s, made on demand."""

    def __init__(self, run: RunData) -> None:
        self.run = run

    def __getitem__(self, pid: str) -> Any:
        if pid not in self.run.passages:
            raise KeyError(pid)
        return self.run.ref(pid)

    def __iter__(self) -> Any:
        return iter(self.run.passages)

    def __len__(self) -> int:
        return len(self.run.passages)
