"""`wellled extract PACK --out DIR`: read a pack into passages and a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["register", "extract"]


def extract(
    pack: Annotated[Path, typer.Argument(help="The pack: a folder, a .zip, or a single file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for passages.jsonl, documents.jsonl and the manifest.")],
    workers: Annotated[int, typer.Option(min=1, max=64, help="Files read at once (one worker process each).")] = 2,
    per_file_seconds: Annotated[float, typer.Option(min=1, help="Time limit for one file, in seconds.")] = 180.0,
    per_file_memory_mb: Annotated[int, typer.Option(min=64, help="Memory a worker may add for one file, in MB.")] = 1024,
) -> None:
    """Extract every file of PACK into passages with provenance, and write a manifest.

    Files that cannot be read are listed in the manifest as failed, with a
    reason; the command still exits 0. It exits 1 when PACK does not exist or
    cannot be used (a pipe; ``--out`` is an existing file or the pack itself).
    """
    from pipeline.errors import PipelineError
    from pipeline.ingest import check_pack, ingest_pack
    from pipeline.limits import Limits

    console = Console(stderr=True)
    try:  # no such pack, a pipe, --out naming a file or the pack itself, non-UTF-8 paths
        check_pack(pack, out)
    except PipelineError as exc:
        console.print(f"[red]Extraction failed:[/red] {exc}")
        raise typer.Exit(code=1) from exc
    limits = Limits(per_file_seconds=per_file_seconds, per_file_memory_mb=per_file_memory_mb)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]Extracting[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}", style="dim"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("extract", total=None, current="finding files")

        def tick(result, done: int, total: int) -> None:
            name = result.source.path_in_pack
            progress.update(task, completed=done, total=total, current=name if len(name) < 60 else "..." + name[-57:])

        try:
            result = ingest_pack(pack, out, limits, workers=workers, progress=tick)
        except PipelineError as exc:
            console.print(f"[red]Extraction failed:[/red] {exc}")
            raise typer.Exit(code=1) from exc
        progress.update(task, current="done")

    summary = result.summary()
    table = Table(title=f"Extracted {pack.name}", show_header=True, header_style="bold")
    for col in ("Files", "Ingested", "Failed", "Skipped", "Duplicate", "Pages", "Passages", "Seconds"):
        table.add_column(col, justify="right")
    table.add_row(
        *(str(summary[k]) for k in ("files", "ingested", "failed", "skipped", "duplicate", "pages", "passages", "seconds"))
    )
    out_console = Console()
    out_console.print(table)
    failed = [r for r in result.results if r.status == "failed"]
    if failed:
        ft = Table(title="Failed files", show_header=True, header_style="bold red")
        ft.add_column("Path")
        ft.add_column("Reason")
        for r in failed[:30]:
            ft.add_row(r.source.path_in_pack, r.reason)
        out_console.print(ft)
        if len(failed) > 30:
            out_console.print(f"... and {len(failed) - 30} more: see {out / 'manifest.csv'}")
    out_console.print(f"Wrote {out / 'passages.jsonl'} and {out / 'manifest.csv'}")


def register(app: typer.Typer) -> None:
    """Add the `extract` command to the wellled app."""
    app.command("extract")(extract)
