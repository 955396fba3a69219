"""`wellled app` (the review app), `wellled app adduser`, and `wellled labels export/import/retrain`."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)

RunsOption = Annotated[Optional[Path], typer.Option("--runs", help="Folder of review runs (each a `wellled review` "
                                                                    "output folder).")]
ModelsOption = Annotated[Optional[Path], typer.Option("--models", help="Models folder (default: the repo's "
                                                                        "models/; its DEFAULT is the current model).")]
DbOption = Annotated[Optional[str], typer.Option("--db", envvar="WELLLED_DB_URL",
                                                 help="Label database URL (default: SQLite in <runs>/.wellled/; "
                                                      "postgresql+psycopg://user:pw@host/db for a shared server).")]


def _fail(message: Any) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


def _db_url(runs: Optional[Path], db: Optional[str]) -> str:
    from pipeline.labels import default_db_url

    if db:
        return db
    if runs is None:
        raise _fail("give --runs DIR (labels are kept in DIR/.wellled/) or --db URL")
    if not runs.is_dir():
        raise _fail(f"--runs: {runs} is not a folder")
    return default_db_url(runs)


def _open_store(runs: Optional[Path], db: Optional[str]) -> Any:
    from pipeline.errors import PipelineError
    from pipeline.labels import LabelStore

    url = _db_url(runs, db)
    try:
        return LabelStore(url)
    except (PipelineError, OSError) as exc:
        raise _fail(exc) from exc
    except Exception as exc:  # SQLAlchemy / driver: cannot connect
        raise _fail(f"cannot open the label database ({type(exc).__name__}: {exc})") from exc


def make_retrain(models_dir: Optional[Path] = None) -> Any:
    """A function running the retrain flow on the committed corpus plus label files (the app's button)."""

    def run_retrain(label_files: list[str], force: bool) -> dict[str, Any]:
        from flows.retrain import retrain

        # the flow adds the committed corpus itself (corpus_samples/labelled)
        return retrain(labels=list(label_files), force=force,
                       models_dir=str(models_dir) if models_dir else None)

    return run_retrain


def _print_conflicts(conflicts: list[Any], limit: int = 50) -> None:
    if not conflicts:
        console.print("no disagreements between reviewers")
        return
    table = Table(title=f"{len(conflicts)} disagreement(s): the majority was exported (a tie goes to the latest)")
    for col in ("run", "passage", "label", "keep", "drop", "exported"):
        table.add_column(col)
    for c in conflicts[:limit]:
        table.add_row(c.run_id, c.passage_id, c.label, ", ".join(c.for_users), ", ".join(c.against_users),
                      "kept" if c.kept else "dropped")
    Console().print(table)
    if len(conflicts) > limit:
        console.print(f"... and {len(conflicts) - limit} more")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    review_app = typer.Typer(help="The inspector review app: read, correct and export labels.",
                             invoke_without_command=True, no_args_is_help=False)
    labels = typer.Typer(help="Inspectors' labels: export for training, import offline corrections, retrain.",
                         no_args_is_help=True)
    app.add_typer(review_app, name="app")
    app.add_typer(labels, name="labels")

    @review_app.callback()
    def serve(
        ctx: typer.Context,
        runs: RunsOption = None,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        db: DbOption = None,
        local: Annotated[bool, typer.Option("--local", help="Single-user laptop mode: no login (loopback only).")]
        = False,
        session_hours: Annotated[float, typer.Option(help="A login lasts this many hours.")] = 8.0,
        secure_cookies: Annotated[bool, typer.Option(help="Send cookies over HTTPS only (behind a TLS proxy).")]
        = False,
        retrain: Annotated[bool, typer.Option(help="Offer the Retrain button.")] = True,
        models: ModelsOption = None,
    ) -> None:
        """Serve the review runs under --runs: pick a run, read excerpts, accept or reject tags."""
        if ctx.invoked_subcommand is not None:
            return
        if runs is None:
            raise _fail("give --runs DIR: the folder holding review runs")
        if not runs.is_dir():
            raise _fail(f"--runs: {runs} is not a folder")
        if local and not _is_loopback(host):
            raise _fail(f"--local has no login, so it listens on loopback only; got --host {host}")
        import uvicorn

        from pipeline.app import AppSettings, create_app

        store = _open_store(runs, db)
        if not local and not store.users():
            raise _fail("no users yet: add one with `wellled app adduser NAME --runs DIR` (or use --local)")
        try:
            settings = AppSettings(runs_dir=runs, db_url=store.url, local=local, session_hours=session_hours,
                                   secure_cookies=secure_cookies, retrain=make_retrain(models) if retrain else None,
                                   models_dir=models)
        except ValueError as exc:
            raise _fail(exc) from exc
        api = create_app(settings, store=store)
        where = f"http://{host}:{port}/"
        console.print(f"[green]wellled review[/] serving {runs} at {where}"
                      f" ({'local mode, no login' if local else 'login required'}); labels in "
                      f"{store.url.split('@')[-1]}")
        uvicorn.run(api, host=host, port=port, log_level="warning")

    @review_app.command("adduser")
    def adduser(
        name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
        runs: RunsOption = None,
        db: DbOption = None,
        password_env: Annotated[Optional[str], typer.Option(help="Read the password from this environment "
                                                                  "variable instead of a prompt.")] = None,
        reset: Annotated[bool, typer.Option("--reset", help="Set a new password for an existing user.")] = False,
    ) -> None:
        """Create a user who can log in to the review app (password hashed with argon2)."""
        if password_env:
            password = os.environ.get(password_env, "")
            if not password:
                raise _fail(f"--password-env: environment variable {password_env} is empty or not set")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        store = _open_store(runs, db)
        try:
            store.add_user(name, password, replace_password=reset)
        except ValueError as exc:
            raise _fail(exc) from exc
        finally:
            store.close()
        console.print(f"[green]{'password set for' if reset else 'added user'}[/] {name}")

    @labels.command("export")
    def export(
        out: Annotated[Path, typer.Option(help="JSONL file to write.")],
        runs: RunsOption = None,
        db: DbOption = None,
        run: Annotated[Optional[str], typer.Option(help="Only this run's labels (default: every run).")] = None,
        fmt: Annotated[str, typer.Option("--format", help="training (our labelled JSONL) or prodigy.")] = "training",
    ) -> None:
        """Write the team's labels (majority of reviewers per passage) and list disagreements."""
        if fmt not in ("training", "prodigy"):
            raise _fail(f"--format must be training or prodigy, got {fmt!r}")
        from pipeline.labels import write_jsonl

        store = _open_store(runs, db)
        try:
            result = store.export(run)
        finally:
            store.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        n = write_jsonl(out, result.records(fmt))
        console.print(f"[green]wrote[/] {out}: {n} passages from {result.events} decisions by "
                      f"{len(result.users)} reviewer(s)")
        _print_conflicts(result.conflicts)

    @labels.command("import")
    def import_xlsx(
        workbook: Annotated[Path, typer.Argument(help="A coverage.xlsx whose Excerpts sheet has corrections.")],
        runs: RunsOption = None,
        db: DbOption = None,
        run: Annotated[Optional[str], typer.Option(help="Run the workbook belongs to (default: the folder it "
                                                        "is in, when that is a run under --runs).")] = None,
        reviewer: Annotated[Optional[str], typer.Option(help="Name recorded for rows with no reviewer.")] = None,
    ) -> None:
        """Import an offline reviewer's corrections (correction_add/remove, not_evidence, reviewer, comment)."""
        from pipeline.app.runs import RunCatalog
        from pipeline.errors import CorpusError
        from pipeline.labels import read_corrections

        if not workbook.is_file():
            raise _fail(f"{workbook}: no such file")
        run_id = run or workbook.resolve().parent.name
        refs = None
        if runs is not None:
            data = RunCatalog(runs).get(run_id)
            if data is None:
                raise _fail(f"no run {run_id!r} under {runs} (give --run)")
            refs = {pid: data.ref(pid) for pid in data.passages}
        store = _open_store(runs, db)
        try:
            result = read_corrections(workbook, run_id=run_id, passages=refs, reviewer=reviewer,
                                      library=store.library)
            recorded = store.record_many(result.events)
        except CorpusError as exc:
            raise _fail(exc) from exc
        finally:
            store.close()
        console.print(f"[green]recorded[/] {recorded} decisions from {result.rows_used} reviewed rows "
                      f"({result.rows_read} rows read) for run {run_id}")
        for p in result.problems[:50]:
            console.print(f"[yellow]skipped:[/] {p}")
        if result.problems and not recorded:
            raise typer.Exit(code=1)

    @labels.command("retrain")
    def retrain_cmd(
        runs: RunsOption = None,
        db: DbOption = None,
        force: Annotated[bool, typer.Option(help="Promote the new model even if it is worse.")] = False,
        keep: Annotated[Optional[Path], typer.Option(help="Also keep the exported labels here.")] = None,
        models: ModelsOption = None,
    ) -> None:
        """Retrain on the committed corpus plus every run's labels; show old vs new macro F1."""
        import tempfile

        from pipeline.errors import PipelineError
        from pipeline.labels import write_jsonl

        store = _open_store(runs, db)
        try:
            result = store.export()
        finally:
            store.close()
        if not result.training:
            raise _fail("no labelled passages yet")
        _print_conflicts(result.conflicts, limit=20)
        with tempfile.TemporaryDirectory() as tmp:
            path = keep or Path(tmp) / "app-labels.jsonl"
            write_jsonl(path, result.training)
            console.print(f"retraining on the corpus + {len(result.training)} labelled passages "
                          "(this takes a few minutes)...")
            try:
                summary = make_retrain(models)([str(path)], force)
            except PipelineError as exc:
                raise _fail(exc) from exc
        table = Table(title=f"retrain: {summary['version']}")
        for col in ("framework", "old macro F1", "new macro F1"):
            table.add_column(col)
        for fw in ("kloe", "qs"):
            old = summary["old"][fw] if summary.get("old") else None
            table.add_row(fw, "—" if old is None else f"{old:.4f}", f"{summary['new'][fw]:.4f}")
        Console().print(table)
        console.print(("[green]promoted[/] " if summary["promoted"] else "[yellow]not promoted[/] ") + summary["model"])
