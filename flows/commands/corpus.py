"""`wellled corpus stats` and `wellled corpus split`: the labelled passage set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from pipeline.errors import PipelineError

console = Console()
corpus_app = typer.Typer(help="Labelled passages: counts, validation, the fixed train/test split.",
                         no_args_is_help=True)


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=1)


@corpus_app.command("stats")
def stats_cmd(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="JSONL files or folders (default: "
                                                          "corpus_samples/labelled).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the figures as JSON.")] = None,
) -> None:
    """Counts per label, document type and trust type; negatives; near-duplicates; label-id validation."""
    from pipeline.corpus import SPLIT_FILE, apply_split, corpus_stats, load_labelled, load_split

    try:
        passages = load_labelled(paths, validate=False)
        stats = corpus_stats(passages)
    except (PipelineError, OSError) as exc:
        raise _fail(exc) from exc
    split = None
    if SPLIT_FILE.is_file():
        split = apply_split(passages, load_split())
    table = Table(title=f"{stats.passages} labelled passages from {stats.sources} source documents")
    table.add_column("framework")
    table.add_column("label")
    table.add_column("positives", justify="right")
    if split:
        table.add_column("train", justify="right")
        table.add_column("test", justify="right")
    for fw, counts in stats.per_label.items():
        for label, n in counts.items():
            row = [fw, label, str(n)]
            if split:
                row += [str(sum(label in getattr(p, fw) for p in part)) for part in split]
            table.add_row(*row, style="red" if n < 60 else None)
    console.print(table)
    console.print(f"negatives: {stats.negatives} ({stats.negative_share:.1%})")
    console.print("document types: " + ", ".join(f"{k} {v}" for k, v in stats.per_doc_type.items()))
    console.print("trust types: " + ", ".join(f"{k} {v}" for k, v in stats.per_trust_type.items()))
    console.print("length in words: " + ", ".join(f"{k} {v}" for k, v in stats.length_words.items()))
    console.print(f"key-evidence labels: {stats.evidence_labels}")
    if split:
        console.print(f"split: {len(split[0])} train / {len(split[1])} test passages")
    console.print(f"near-duplicate pairs (char 5-gram cosine >= 0.9): {len(stats.duplicates)}")
    for a, b, s in stats.duplicates[:15]:
        console.print(f"  {a} ~ {b} ({s})")
    if json_out:
        json_out.write_text(json.dumps(stats.to_dict(), indent=2) + "\n", encoding="utf-8")
    if stats.problems:
        for msg in stats.problems[:30]:
            console.print(f"[red]invalid:[/] {msg}")
        console.print(f"[bold red]{len(stats.problems)} label problem(s)[/]")
        raise typer.Exit(code=1)
    console.print("[green]every label id is valid against framework/[/]")


@corpus_app.command("split")
def split_cmd(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="JSONL files or folders.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Split file to write (default: corpus_samples/labelled/"
                                                "split.json).")] = None,
    test_fraction: Annotated[float, typer.Option(help="Share of passages to hold out.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed for the order of sources.")] = 13,
) -> None:
    """Make the fixed train/test split by source document and record it."""
    from pipeline.corpus import SPLIT_FILE, load_labelled, make_split

    try:
        passages = load_labelled(paths)
        split = make_split(passages, test_fraction=test_fraction, seed=seed)
    except (PipelineError, OSError, ValueError) as exc:
        raise _fail(exc) from exc
    target = out or SPLIT_FILE
    target.write_text(json.dumps(split, indent=2) + "\n", encoding="utf-8")
    console.print(f"[green]wrote[/] {target}: {len(split['test_sources'])} test sources")


def register(app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")
