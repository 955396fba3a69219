"""The retrain flow: learn from new labels, compare with the current model, promote if not worse.

Trains on the committed corpus plus new labels (inspectors' corrections),
evaluates old and new models on the fixed test split, writes the new model
version with its card, and makes it the default only if macro F1 is not
worse for either framework (``force`` overrides). The flow's artifact shows
old vs new metrics.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from flows import settings  # noqa: F401  (must come before prefect)
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

__all__ = ["retrain", "next_version"]

logger = logging.getLogger(__name__)


def next_version(models_dir: Path, name: str) -> str:
    """The next free ``<major>.<minor>`` version for ``name`` in ``models_dir``."""
    best = (1, -1)
    for p in models_dir.glob(f"{name}-*"):
        tail = p.name[len(name) + 1 :]
        try:
            major, minor = (int(x) for x in tail.split(".", 1))
        except ValueError:
            continue
        best = max(best, (major, minor))
    return f"{best[0]}.{best[1] + 1}"


@task(name="load-labels")
def load_labels_task(labels: list[str], corpus: Optional[str], split_file: Optional[str]) -> dict[str, Any]:
    """Train on the corpus's train split plus new labels; test on the corpus's fixed test split only.

    New labels (inspectors' corrections) never enter the test set, so old and
    new models are compared on the same gold passages; new labels from a
    test-split source document are left out of training to avoid leakage.
    """
    from pipeline.corpus import LABELLED_DIR, SPLIT_FILE, apply_split, load_labelled, load_split

    split = load_split(split_file or SPLIT_FILE)
    committed = load_labelled([corpus or LABELLED_DIR])
    train, test = apply_split(committed, split)
    extra = load_labelled(labels) if labels else []
    seen = {p.id for p in committed}
    clashes = sorted(p.id for p in extra if p.id in seen)
    if clashes:
        raise ValueError(f"new labels reuse ids of the committed corpus: {', '.join(clashes[:10])}")
    test_sources = set(split["test_sources"])
    added = [p for p in extra if (p.source or p.id) not in test_sources]
    return {"train": train + added, "test": test, "added": len(added), "left_out": len(extra) - len(added)}


@task(name="train")
def train_task(train: list[Any], name: str, version: str, seed: int, sources: list[str]) -> Any:
    from pipeline.model import train_model

    return train_model(train, name=name, version=version, seed=seed, sources=sources)


@task(name="evaluate")
def evaluate_task(model: Any, test: list[Any]) -> dict[str, Any]:
    from pipeline.evaluate import evaluate_model

    return evaluate_model(model, test)


@flow(name="retrain")
def retrain(
    labels: list[str],
    corpus: Optional[str] = None,
    current_model: Optional[str] = None,
    models_dir: Optional[str] = None,
    name: str = "wellled-tagger",
    force: bool = False,
    seed: int = 0,
    split_file: Optional[str] = None,
) -> dict[str, Any]:
    """Train a new model version; promote it only if it is not worse (or ``force``).

    Args:
        labels: new labelled JSONL files (e.g. exported from the review app).
        corpus: the committed labelled corpus (default: corpus_samples/labelled).
        current_model: model to compare with (default: models/DEFAULT).
        models_dir: where model versions live (default: models/).
        name: model name; versions are numbered ``<name>-<major>.<minor>``.
        force: promote even if worse.
        seed: training seed.
        split_file: the fixed split (default: corpus_samples/labelled/split.json).
    """
    from pipeline.evaluate import compare_metrics
    from pipeline.model import MODELS_DIR, default_model_dir, load_model, save_model, set_default_model

    log = get_run_logger()
    root = Path(models_dir) if models_dir else MODELS_DIR
    data = load_labels_task(labels, corpus, split_file)
    old_model = None
    try:
        old_model = load_model(current_model or default_model_dir(root))
    except Exception as exc:  # no current model: the new one is promoted
        log.warning("no current model to compare with (%s)", exc)
    version = next_version(root, name)
    new_model = train_task(data["train"], name, version, seed, [corpus or "corpus_samples/labelled", *labels])
    new_metrics = evaluate_task(new_model, data["test"])
    new_model.card["metrics"] = {"split": "test", "passages": len(data["test"]), **new_metrics}
    out = save_model(new_model, root / f"{name}-{version}")
    old_metrics = evaluate_task(old_model, data["test"]) if old_model is not None else {}
    comparison = compare_metrics(old_metrics, new_metrics) if old_metrics else {"not_worse": True, "frameworks": {}}
    promoted = bool(comparison["not_worse"] or force)
    if promoted:
        set_default_model(out, root)
    lines = [f"# Retrain: {name} {version}", "", "| framework | old macro F1 | new macro F1 | change |", "|---|---:|---:|---:|"]
    for fw in ("kloe", "qs"):
        o = old_metrics.get(fw, {}).get("macro_f1") if old_metrics else None
        n = new_metrics[fw]["macro_f1"]
        lines.append(f"| {fw} | {o if o is not None else '—'} | {n} | {round(n - o, 4) if o is not None else '—'} |")
    lines += ["", f"Promoted to default: **{'yes' if promoted else 'no'}**" + (" (forced)" if force and not
                                                                            comparison['not_worse'] else "")]
    try:
        create_markdown_artifact(key="retrain-metrics", markdown="\n".join(lines), description="old vs new")
    except Exception:
        log.warning("could not publish the metrics artifact", exc_info=True)
    return {
        "model": str(out),
        "version": version,
        "promoted": promoted,
        "comparison": comparison,
        "old": {fw: old_metrics.get(fw, {}).get("macro_f1") for fw in ("kloe", "qs")} if old_metrics else None,
        "new": {fw: new_metrics[fw]["macro_f1"] for fw in ("kloe", "qs")},
        "train": len(data["train"]),
        "new_labels": data["added"],
        "new_labels_left_out": data["left_out"],
        "test": len(data["test"]),
        "markdown": "\n".join(lines),
    }
