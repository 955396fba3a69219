"""`wellled train`, `wellled evaluate`, `wellled classify`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.errors import PipelineError

console = Console(stderr=True)


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=1)


def metrics_table(metrics: dict, title: str) -> Table:
    table = Table(title=title)
    for col in ("framework", "label", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="right" if col in {"precision", "recall", "F1", "support"} else "left")
    for fw in ("kloe", "qs"):
        for label, m in metrics[fw]["labels"].items():
            style = "red" if m["support"] and m["f1"] < 0.65 else None
            table.add_row(fw, label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}",
                          str(m["support"]), style=style)
        table.add_row(fw, "[b]micro / macro F1[/]", "", "", f"[b]{metrics[fw]['micro_f1']:.3f} / "
                      f"{metrics[fw]['macro_f1']:.3f}[/]", "", end_section=True)
    neg = metrics["negatives"]
    table.add_row("none", "negatives (no tag)", f"{neg['precision']:.3f}", f"{neg['recall']:.3f}",
                  f"{neg['f1']:.3f}", str(neg["support"]))
    if "evidence" in metrics:
        ev = metrics["evidence"]
        table.add_row("evidence", "key-evidence ids (micro)", f"{ev['precision']:.3f}", f"{ev['recall']:.3f}",
                      f"{ev['f1']:.3f}", str(ev["gold"]))
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        labels: Annotated[list[Path], typer.Argument(help="Labelled JSONL files or folders (ours or Prodigy-style).")],
        out: Annotated[Path, typer.Option(help="Model folder to write, e.g. models/wellled-tagger-1.1.")],
        version: Annotated[str, typer.Option(help="Version written to the card.")] = "1.0",
        name: Annotated[str, typer.Option(help="Model name written to the card.")] = "wellled-tagger",
        seed: Annotated[int, typer.Option(help="Random seed (same seed and data: same model).")] = 0,
        split: Annotated[Optional[Path], typer.Option(help="Split file; its test sources are held out and "
                                                      "used for the card's metrics.")] = None,
        hold_out: Annotated[bool, typer.Option(help="Hold out the split's test sources.")] = True,
        make_default: Annotated[bool, typer.Option("--default", help="Make this the default model.")] = False,
    ) -> None:
        """Train the classifier on labelled passages and write model.skops + card.json."""
        from pipeline.corpus import SPLIT_FILE, apply_split, load_labelled, load_split
        from pipeline.evaluate import evaluate_model
        from pipeline.model import save_model, set_default_model, train_model

        try:
            passages = load_labelled(labels)
            split_data = load_split(split or SPLIT_FILE) if hold_out else {"test_sources": []}
            train_set, test_set = apply_split(passages, split_data)
            console.print(f"training on {len(train_set)} passages, holding out {len(test_set)}")
            with console.status("training (spaCy analysis, TF-IDF, per-label models, calibration folds)..."):
                model = train_model(train_set, name=name, version=version, seed=seed,
                                    sources=[str(p) for p in labels])
            if test_set:
                with console.status("evaluating on the held-out split..."):
                    metrics = evaluate_model(model, test_set)
                model.card["metrics"] = {"split": "test", "passages": len(test_set), **metrics}
                console.print(metrics_table(metrics, f"held-out test split ({len(test_set)} passages)"))
            save_model(model, out)
            if make_default:
                set_default_model(out)
        except (PipelineError, OSError) as exc:
            raise _fail(exc) from exc
        console.print(f"[green]wrote[/] {out}/model.skops and card.json")

    @app.command()
    def evaluate(
        labels: Annotated[list[Path], typer.Argument(help="Labelled JSONL files or folders.")],
        model: Annotated[Optional[Path], typer.Option(help="Model folder (default: models/DEFAULT).")] = None,
        subset: Annotated[str, typer.Option(help="all, test or train (by the split file).")] = "all",
        split: Annotated[Optional[Path], typer.Option(help="Split file (default: the corpus's split.json).")] = None,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the metrics as JSON here.")] = None,
        table_out: Annotated[Optional[Path], typer.Option("--table", help="Write a Markdown table here.")] = None,
    ) -> None:
        """Per-label precision, recall, F1 and support; micro and macro F1 per framework."""
        from pipeline.corpus import SPLIT_FILE, apply_split, load_labelled, load_split
        from pipeline.evaluate import evaluate_model, format_metrics
        from pipeline.model import load_model

        if subset not in {"all", "test", "train"}:
            raise _fail(ValueError(f"--subset must be all, test or train, got {subset!r}"))
        try:
            passages = load_labelled(labels)
            if subset != "all":
                train_set, test_set = apply_split(passages, load_split(split or SPLIT_FILE))
                passages = test_set if subset == "test" else train_set
            m = load_model(model)
            with console.status(f"tagging {len(passages)} passages..."):
                metrics = evaluate_model(m, passages)
        except (PipelineError, OSError) as exc:
            raise _fail(exc) from exc
        console.print(metrics_table(metrics, f"{m.name} {m.version} on {len(passages)} passages ({subset})"))
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        if table_out:
            table_out.parent.mkdir(parents=True, exist_ok=True)
            table_out.write_text(format_metrics(metrics, f"{m.name} {m.version}"), encoding="utf-8")

    @app.command()
    def classify(
        infile: Annotated[Path, typer.Argument(metavar="IN.jsonl", help="One {\"id\", \"text\"} per line.")],
        out: Annotated[Path, typer.Option(help="Output JSONL, one line per input line.")],
        model: Annotated[Optional[Path], typer.Option(help="Model folder (default: models/DEFAULT).")] = None,
        batch_size: Annotated[int, typer.Option(help="Passages per batch.")] = 2000,
    ) -> None:
        """Tag passages: writes id, kloe, qs (labels with scores, best first), evidence, why."""
        from pipeline.classify import tag_passages
        from pipeline.model import load_model

        try:
            m = load_model(model)
        except PipelineError as exc:
            raise _fail(exc) from exc
        if not infile.is_file():
            raise _fail(FileNotFoundError(f"{infile}: no such file"))
        bad: list[str] = []

        def rows() -> Iterator[dict]:
            with infile.open(encoding="utf-8") as fh:
                for n, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                            raise ValueError("each line needs a JSON object with a string 'text'")
                    except ValueError as exc:
                        bad.append(f"{infile}:{n}: {exc}")
                        obj = {"id": f"line-{n}", "text": "", "_error": str(exc)}
                    obj.setdefault("id", f"line-{n}")
                    yield obj

        total = sum(1 for line in infile.open(encoding="utf-8") if line.strip())
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh, Progress(
            TextColumn("classify"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("classify", total=total)
            source = rows()
            buffer: list[dict] = []

            def flush() -> None:
                for obj, tags in zip(buffer, tag_passages(m, buffer, batch_size=batch_size)):
                    record = {k: v for k, v in obj.items() if k not in {"kloe", "qs", "evidence", "why"}}
                    record.update(tags.to_dict())
                    record["id"] = obj["id"]
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                progress.advance(task, len(buffer))
                buffer.clear()

            for obj in source:
                buffer.append(obj)
                if len(buffer) >= batch_size:
                    flush()
            if buffer:
                flush()
        os.replace(tmp, out)
        for msg in bad[:20]:
            console.print(f"[yellow]skipped:[/] {msg}")
        console.print(f"[green]wrote[/] {out} ({total} lines, {len(bad)} unreadable)")
