"""`wellled review PACK --out DIR`: run the review_pack flow with a progress bar."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)
TRUST_TYPES = ("acute", "mental_health", "community", "ambulance")


class _ListedInSummary(logging.Filter):
    """Drop Prefect's console line for each file that could not be read: the summary lists each once.

    The records still reach Prefect's API (a server's UI shows them); only the
    terminal is spared a second and third copy of the same reason.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "prefect.task_runs" and "could not be read" in record.getMessage():
            return False
        if record.name == "prefect.flow_runs" and record.levelno == logging.WARNING and " failed: " in record.getMessage():
            return False
        return True


@contextmanager
def _quiet_file_failures() -> Iterator[None]:
    handlers = list(logging.getLogger().handlers)
    filt = _ListedInSummary()
    for h in handlers:
        h.addFilter(filt)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(filt)


def register(app: typer.Typer) -> None:
    @app.command()
    def review(
        pack: Annotated[Path, typer.Argument(help="The trust's pack: a folder, a zip or one file.")],
        out: Annotated[Path, typer.Option(help="Output folder for this run (created).")],
        model: Annotated[Optional[Path], typer.Option(help="Model folder (default: models/DEFAULT).")] = None,
        trust_type: Annotated[Optional[str], typer.Option(help="acute, mental_health, community or ambulance.")] = None,
        name: Annotated[Optional[str], typer.Option(help="Name shown in the report (default: the pack's).")] = None,
        workers: Annotated[Optional[int], typer.Option(help="Run per-file work on a local Dask cluster of N "
                                                       "worker processes (default: 2 threads, no Dask).")] = None,
        dask: Annotated[Optional[str], typer.Option(help="Address of a Dask scheduler to run per-file work on.")] = None,
        no_redact: Annotated[bool, typer.Option("--no-redact", help="Keep personal data (NHS numbers, dates of "
                                                 "birth, emails, phones, postcodes) for an authorised user.")] = False,
    ) -> None:
        """Review a pack: coverage tables, request list, lines of enquiry and report.html."""
        if trust_type and trust_type not in TRUST_TYPES:
            console.print(f"[bold red]error:[/] --trust-type must be one of {', '.join(TRUST_TYPES)}, got {trust_type!r}")
            raise typer.Exit(code=1)
        from flows import review as review_flow
        from pipeline.errors import PipelineError
        from pipeline.ingest import check_pack

        try:  # before Prefect starts: no such pack, a pipe, --out naming a file or the pack itself, non-UTF-8 paths
            check_pack(pack, out)
        except PipelineError as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=1) from exc

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress, _quiet_file_failures():
            start = progress.add_task("starting Prefect (local, no server)", total=None)
            files = progress.add_task("reading files", total=None, visible=False)

            def tick(stage: str, item: str) -> None:
                if stage == "discovered":
                    progress.update(start, visible=False)
                    progress.update(files, total=int(item), visible=True)
                elif stage == "extract":
                    progress.update(start, visible=False)
                    progress.update(files, visible=True, description=f"read {Path(item).name[:40]}")
                    progress.advance(files)
                elif stage == "classify":
                    progress.update(files, description=f"tagged {item} passages")
                elif stage == "report":
                    progress.update(files, description="wrote coverage tables and report")

            review_flow.set_progress(tick)
            try:
                runner = review_flow.make_task_runner(workers, dask)
                flow_fn = review_flow.review_pack.with_options(task_runner=runner)
                summary = flow_fn(pack=str(pack), out=str(out), model_dir=str(model) if model else None,
                                  trust_type=trust_type, pack_name=name, redact=not no_redact)
            except PipelineError as exc:
                console.print(f"[bold red]error:[/] {exc}")
                raise typer.Exit(code=1) from exc
            finally:
                review_flow.set_progress(None)
        table = Table(title=f"Review of {name or pack.name}")
        table.add_column("what")
        table.add_column("result")
        table.add_row("files", f"{summary['files']} ({summary['ingested']} read, {len(summary['failed'])} failed)")
        table.add_row("passages", str(summary["passages"]))
        table.add_row("thin or absent areas", ", ".join(summary["thin"]) or "none")
        table.add_row("documents to request", str(summary["requests"]))
        table.add_row("report", str(Path(summary["out"]) / "report.html"))
        table.add_row("time", f"{summary['seconds']} s")
        Console().print(table)
        for f in summary["failed"]:
            console.print(f"[yellow]could not read[/] {f['path']}: {f['reason']}")
