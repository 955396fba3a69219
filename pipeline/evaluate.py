"""Score predicted labels against gold labels, per label and per framework.

Used by ``wellled evaluate``, the retrain flow (promote only if not worse)
and the baseline comparison in ``benchmarks/``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["score_predictions", "format_metrics", "compare_metrics"]

FRAMEWORKS = ("kloe", "qs")


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score_predictions(
    gold: Sequence[dict[str, Sequence[str]]],
    pred: Sequence[dict[str, Sequence[str]]],
    label_ids: dict[str, Sequence[str]],
) -> dict[str, Any]:
    """Precision, recall, F1 and support per label; micro and macro F1 per framework.

    Args:
        gold, pred: one dict per passage, ``{"kloe": [...], "qs": [...]}``.
        label_ids: the labels of each framework, e.g. ``{"kloe": ["W1", ...]}``.

    Returns:
        ``{"kloe": {"labels": {id: {precision, recall, f1, support}},
        "micro_f1", "macro_f1", "min_f1"}, "qs": {...}, "negatives": {...},
        "passages": n}``. ``negatives`` treats "no tag in either framework" as
        a class: precision (of passages given no tag, the share truly
        negative), recall (of true negatives, the share given no tag).
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred must have the same length, got {len(gold)} and {len(pred)}")
    out: dict[str, Any] = {"passages": len(gold)}
    for fw in FRAMEWORKS:
        labels = list(label_ids.get(fw, ()))
        per: dict[str, dict[str, float]] = {}
        TP = FP = FN = 0
        for label in labels:
            g = np.array([label in x.get(fw, ()) for x in gold])
            p = np.array([label in x.get(fw, ()) for x in pred])
            tp, fp, fn = int(np.sum(g & p)), int(np.sum(~g & p)), int(np.sum(g & ~p))
            TP, FP, FN = TP + tp, FP + fp, FN + fn
            prec, rec, f1 = _prf(tp, fp, fn)
            per[label] = {
                "precision": round(prec, 4),
                "recall": round(rec, 4),
                "f1": round(f1, 4),
                "support": int(g.sum()),
            }
        supported = [v["f1"] for v in per.values() if v["support"] > 0]
        out[fw] = {
            "labels": per,
            "micro_f1": round(_prf(TP, FP, FN)[2], 4),
            "macro_f1": round(float(np.mean(supported)) if supported else 0.0, 4),
            "min_f1": round(float(min(supported)) if supported else 0.0, 4),
        }
    g_neg = np.array([not any(x.get(fw) for fw in FRAMEWORKS) for x in gold])
    p_neg = np.array([not any(x.get(fw) for fw in FRAMEWORKS) for x in pred])
    tp, fp, fn = int(np.sum(g_neg & p_neg)), int(np.sum(~g_neg & p_neg)), int(np.sum(g_neg & ~p_neg))
    prec, rec, f1 = _prf(tp, fp, fn)
    out["negatives"] = {
        "precision": round(prec, 4),
        "recall": round(rec, 4),
        "f1": round(f1, 4),
        "support": int(g_neg.sum()),
    }
    return out


def format_metrics(metrics: dict[str, Any], title: str = "") -> str:
    """A plain-text table (Markdown) of per-label and summary figures."""
    lines = []
    if title:
        lines.append(f"### {title}\n")
    lines.append("| framework | label | precision | recall | F1 | support |")
    lines.append("|---|---|---:|---:|---:|---:|")
    for fw in FRAMEWORKS:
        if fw not in metrics:
            continue
        for label, m in metrics[fw]["labels"].items():
            lines.append(
                f"| {fw} | {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
            )
        lines.append(
            f"| {fw} | **micro F1 {metrics[fw]['micro_f1']:.3f} / macro F1 {metrics[fw]['macro_f1']:.3f}"
            f" / min F1 {metrics[fw]['min_f1']:.3f}** | | | | |"
        )
    neg = metrics.get("negatives")
    if neg:
        lines.append(
            f"| none | negatives (no tag) | {neg['precision']:.3f} | {neg['recall']:.3f} | {neg['f1']:.3f} |"
            f" {neg['support']} |"
        )
    return "\n".join(lines) + "\n"


def compare_metrics(old: dict[str, Any], new: dict[str, Any], *, tolerance: float = 0.0) -> dict[str, Any]:
    """Is ``new`` not worse than ``old`` on macro F1 for either framework?"""
    rows = {}
    ok = True
    for fw in FRAMEWORKS:
        o = float(old.get(fw, {}).get("macro_f1", 0.0))
        n = float(new.get(fw, {}).get("macro_f1", 0.0))
        rows[fw] = {"old_macro_f1": o, "new_macro_f1": n, "delta": round(n - o, 4)}
        if n + tolerance < o:
            ok = False
    return {"not_worse": ok, "frameworks": rows}


def evaluate_model(model: Any, passages: Sequence[Any], *, batch_size: int = 2000) -> dict[str, Any]:
    """Tag labelled passages with ``model`` and score against their gold labels.

    Also scores key-evidence ids (micro precision/recall/F1 over passages with
    any gold evidence label) under ``"evidence"``.
    """
    from pipeline.classify import tag_passages

    items = [{"id": p.id, "text": p.text, "doc_type": p.doc_type} for p in passages]
    tags = list(tag_passages(model, items, batch_size=batch_size))
    gold = [{"kloe": list(p.kloe), "qs": list(p.qs)} for p in passages]
    pred = [{"kloe": [t.label for t in pt.kloe], "qs": [t.label for t in pt.qs]} for pt in tags]
    space = model.labels.to_dict()
    metrics = score_predictions(gold, pred, {"kloe": space.get("kloe", []), "qs": space.get("qs", [])})
    TP = FP = FN = 0
    for p, pt in zip(passages, tags):
        if not p.evidence:
            continue
        g, q = set(p.evidence), set(pt.evidence)
        TP, FP, FN = TP + len(g & q), FP + len(q - g), FN + len(g - q)
    prec, rec, f1 = _prf(TP, FP, FN)
    metrics["evidence"] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4), "gold": TP + FN}
    return metrics
