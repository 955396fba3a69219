"""Multi-label tagging of passages against both frameworks and key evidence.

One scikit-learn :class:`~sklearn.pipeline.Pipeline` holds everything, so
training and prediction cannot drift apart:

1. ``analyse``: :class:`SpacyAnalyser` runs the offline spaCy pipeline
   (:mod:`pipeline.nlp`) and returns lemmas and matched framework terms;
2. ``features``: TF-IDF over lemma word n-grams and character n-grams, plus
   the rule features (matched term ids and the areas they signal);
3. ``tag``: :class:`ThresholdedOneVsRest`, one linear model per label (W
   areas, quality statements and the key-evidence items with enough
   labelled support), Platt-calibrated on out-of-fold scores grouped by
   source document, with per-label thresholds tuned on the same folds.

:func:`tag_passages` turns the pipeline's scores into
:class:`~pipeline.document.PassageTags` with explanations, and adds
key-evidence items found by vocabulary rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from pipeline.document import PassageTags, Tag
from pipeline.framework import Library, load_library
from pipeline.nlp import Analysis, analyse_texts

__all__ = [
    "GATE_LABEL",
    "SpacyAnalyser",
    "ThresholdedOneVsRest",
    "make_classifier",
    "label_space",
    "LabelSpace",
    "tag_passages",
    "tag_texts",
]

logger = logging.getLogger(__name__)

_AREA_PREFIX = "area:"


# ---------------------------------------------------------------- analyser
class SpacyAnalyser(BaseEstimator, TransformerMixin):
    """Turn raw texts into the columns the vectorisers read.

    Output is a DataFrame with ``lemmas`` (lower-cased lemmas, numbers as
    ``<num>``) and ``terms`` (matched vocabulary term ids, each followed by
    ``area:<id>`` for every area the term signals).

    Args:
        framework_dir: framework folder whose vocabulary builds the rule
            component (None: the repo's ``framework/``).
        batch_size: ``nlp.pipe`` batch size.
    """

    def __init__(self, framework_dir: str | None = None, batch_size: int = 256) -> None:
        self.framework_dir = framework_dir
        self.batch_size = batch_size

    def fit(self, X: Sequence[str], y: Any = None) -> SpacyAnalyser:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")
        library = load_library(self.framework_dir)
        self.framework_version_ = library.version
        self.term_areas_ = {t.id: tuple(t.areas) for t in library.vocabulary}
        return self

    def transform(self, X: Sequence[str]) -> pd.DataFrame:
        check_is_fitted(self, "term_areas_")
        analyses = list(analyse_texts(_texts(X), self.framework_dir, batch_size=self.batch_size))
        return self.frame(analyses)

    def frame(self, analyses: Sequence[Analysis]) -> pd.DataFrame:
        """The DataFrame for already-analysed texts (used by :func:`tag_passages`)."""
        terms_col = []
        for a in analyses:
            toks: list[str] = []
            for term_id in a.terms:
                toks.append(term_id)
                toks.extend(_AREA_PREFIX + area for area in self.term_areas_.get(term_id, ()))
            terms_col.append(" ".join(toks) if toks else "__none__")
        return pd.DataFrame({"lemmas": [a.lemmas for a in analyses], "terms": terms_col})

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(["lemmas", "terms"], dtype=object)


def _texts(X: Any) -> list[str]:
    if isinstance(X, pd.DataFrame):
        return [str(t) for t in X["text"]]
    return [str(t) for t in X]


# ----------------------------------------------------------------- tagger
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


class ThresholdedOneVsRest(BaseEstimator, ClassifierMixin):
    """One logistic regression per label, calibrated, with tuned thresholds.

    Scores are calibrated by Platt scaling fitted on out-of-fold decision
    values (folds grouped by source document when ``groups`` is given, so
    near-duplicates never straddle a fold); each label's threshold is the one
    that maximises F1 on those out-of-fold probabilities.

    Args:
        C: inverse regularisation strength of each logistic regression.
        class_weight: passed to LogisticRegression.
        cv: number of folds for calibration and thresholds.
        min_threshold: lowest threshold allowed (guards rare labels).
        max_threshold: highest threshold allowed.
        random_state: seed for the folds.
    """

    def __init__(
        self,
        C: float = 8.0,
        class_weight: str | None = "balanced",
        cv: int = 5,
        min_threshold: float = 0.25,
        max_threshold: float = 0.8,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.cv = cv
        self.min_threshold = min_threshold
        self.max_threshold = max_threshold
        self.random_state = random_state

    def _new_lr(self) -> LogisticRegression:
        return LogisticRegression(
            C=self.C,
            class_weight=self.class_weight,
            solver="liblinear",
            dual=True,  # n_features >> n_samples: the dual problem is ~20x faster here
            max_iter=5000,
            random_state=self.random_state,
        )

    def fit(self, X: Any, Y: np.ndarray, groups: Sequence[str] | None = None) -> ThresholdedOneVsRest:
        if self.C <= 0:
            raise ValueError(f"C must be > 0, got {self.C!r}")
        if self.cv < 2:
            raise ValueError(f"cv must be >= 2, got {self.cv!r}")
        if not 0 < self.min_threshold <= self.max_threshold < 1:
            raise ValueError(
                f"thresholds must satisfy 0 < min_threshold <= max_threshold < 1, got "
                f"{self.min_threshold!r}, {self.max_threshold!r}"
            )
        X = sparse.csr_matrix(X)
        Y = np.asarray(Y, dtype=np.int8)
        if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
            raise ValueError(f"Y must be (n_samples, n_labels) with n_samples={X.shape[0]}, got {Y.shape}")
        n, k = Y.shape
        if groups is not None:
            splitter = GroupKFold(n_splits=self.cv)
            folds = list(splitter.split(X, Y, groups=np.asarray(groups)))
        else:
            folds = list(KFold(n_splits=self.cv, shuffle=True, random_state=self.random_state).split(X))
        coef = np.zeros((k, X.shape[1]), dtype=np.float32)
        intercept = np.zeros(k, dtype=np.float64)
        platt_a = np.ones(k)
        platt_b = np.zeros(k)
        thresholds = np.full(k, 0.5)
        oof = np.zeros((n, k))
        for j in range(k):
            y = Y[:, j]
            if y.min() == y.max():  # a label with no positives (or no negatives) in training
                intercept[j] = 35.0 if y.max() == 1 else -35.0
                continue
            lr = self._new_lr().fit(X, y)
            coef[j] = lr.coef_[0]
            intercept[j] = lr.intercept_[0]
            dec = np.zeros(n)
            for train_idx, test_idx in folds:
                if Y[train_idx, j].min() == Y[train_idx, j].max():
                    dec[test_idx] = lr.decision_function(X[test_idx])
                    continue
                dec[test_idx] = self._new_lr().fit(X[train_idx], y[train_idx]).decision_function(X[test_idx])
            platt = LogisticRegression(C=1e4, solver="lbfgs").fit(dec.reshape(-1, 1), y)
            platt_a[j] = platt.coef_[0, 0]
            platt_b[j] = platt.intercept_[0]
            prob = _sigmoid(platt_a[j] * dec + platt_b[j])
            oof[:, j] = prob
            thresholds[j] = _best_threshold(y, prob, self.min_threshold, self.max_threshold)
        self.coef_ = coef
        self.intercept_ = intercept
        self.platt_a_ = platt_a
        self.platt_b_ = platt_b
        self.thresholds_ = thresholds
        self.oof_proba_ = oof.astype(np.float32)
        self.n_labels_ = k
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = sparse.csr_matrix(X)
        return np.asarray(X @ self.coef_.T.astype(np.float64)) + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probability of each label (n_samples, n_labels)."""
        return _sigmoid(self.platt_a_ * self.decision_function(X) + self.platt_b_)

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X) >= self.thresholds_).astype(np.int8)


def _best_threshold(y: np.ndarray, prob: np.ndarray, lo: float, hi: float) -> float:
    best_t, best_f = 0.5, -1.0
    for t in np.round(np.arange(lo, hi + 1e-9, 0.025), 3):
        pred = prob >= t
        tp = float(np.sum(pred & (y == 1)))
        fp = float(np.sum(pred & (y == 0)))
        fn = float(np.sum(~pred & (y == 1)))
        f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f > best_f + 1e-9:
            best_t, best_f = float(t), f
    return best_t


# ------------------------------------------------------------- the pipeline
def make_classifier(
    framework_dir: str | None = None,
    *,
    C: float = 8.0,
    word_max_features: int = 40000,
    char_max_features: int = 30000,
    random_state: int = 0,
) -> Pipeline:
    """The untrained wellled classifier: spaCy analysis, TF-IDF + rule features, tagger."""
    features = ColumnTransformer(
        [
            (
                "words",
                TfidfVectorizer(
                    token_pattern=r"(?u)[^\s]+",
                    lowercase=False,
                    ngram_range=(1, 2),
                    min_df=2,
                    max_df=0.6,
                    sublinear_tf=True,
                    max_features=word_max_features,
                    dtype=np.float32,
                ),
                "lemmas",
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(3, 5),
                    min_df=3,
                    max_df=0.6,
                    sublinear_tf=True,
                    max_features=char_max_features,
                    dtype=np.float32,
                ),
                "lemmas",
            ),
            (
                "terms",
                TfidfVectorizer(
                    token_pattern=r"[^\s]+", lowercase=False, sublinear_tf=True, norm="l2", dtype=np.float32
                ),
                "terms",
            ),
        ],
        transformer_weights={"words": 1.0, "chars": 0.7, "terms": 0.6},
        sparse_threshold=1.0,
    )
    return Pipeline(
        [
            ("analyse", SpacyAnalyser(framework_dir=framework_dir)),
            ("features", features),
            ("tag", ThresholdedOneVsRest(C=C, random_state=random_state)),
        ]
    )


@dataclass(frozen=True, slots=True)
class LabelSpace:
    """The columns of the tagger's label matrix and the framework each belongs to."""

    labels: tuple[str, ...]
    frameworks: tuple[str, ...]  # "kloe", "qs" or "evidence", one per label

    def index(self, framework: str) -> list[int]:
        return [i for i, f in enumerate(self.frameworks) if f == framework]

    def to_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for label, fw in zip(self.labels, self.frameworks):
            out.setdefault(fw, []).append(label)
        return out


GATE_LABEL = "__evidence__"


def label_space(library: Library, evidence_ids: Iterable[str] = (), *, gate: bool = True) -> LabelSpace:
    """Area labels of both frameworks (framework order), then the given evidence ids.

    With ``gate``, a first column ``__evidence__`` (framework ``gate``) learns
    whether a passage is evidence for anything at all; a passage below its
    threshold gets no tag. Procedural lines, attendance lists and passing
    mentions share this "not evidence" class, which one model learns better
    than sixteen separate ones.
    """
    labels: list[str] = [GATE_LABEL] if gate else []
    fws: list[str] = ["gate"] if gate else []
    for fw_id in ("kloe", "qs"):
        for area_id in library.area_ids(fw_id):
            labels.append(area_id)
            fws.append(fw_id)
    for ev in evidence_ids:
        labels.append(ev)
        fws.append("evidence")
    return LabelSpace(tuple(labels), tuple(fws))


# ---------------------------------------------------------------- tagging
def _explain(
    row: sparse.csr_matrix, coef: np.ndarray, names: np.ndarray, top: int = 6
) -> list[str]:
    """Readable features with the largest positive contribution to one label."""
    idx = row.indices
    if idx.size == 0:
        return []
    contrib = row.data * coef[idx]
    order = np.argsort(-contrib)
    out: list[str] = []
    for o in order:
        if contrib[o] <= 0 or len(out) >= top:
            break
        name = names[idx[o]]
        kind, _, feat = name.partition("__")
        if kind == "chars" or feat.startswith(_AREA_PREFIX) or feat == "__none__":
            continue
        if kind == "words" and " " not in feat and (feat in ENGLISH_STOP_WORDS or len(feat) < 3):
            continue
        feat = feat.replace("<num>", "#")
        if feat not in out:
            out.append(feat)
    return out


def tag_texts(
    model: Any,
    texts: Sequence[str],
    doc_types: Sequence[str | None] | None = None,
    *,
    passage_ids: Sequence[str] | None = None,
    library: Library | None = None,
    explain: bool = True,
    use_gate: bool = True,
) -> list[PassageTags]:
    """Tag a batch of texts with a trained model (see :func:`tag_passages`).

    ``use_gate=False`` ignores the model's "is this evidence at all" gate (for evaluation).
    """
    pipe: Pipeline = model.pipeline
    space: LabelSpace = model.labels
    library = library or load_library(pipe.named_steps["analyse"].framework_dir)
    analyser: SpacyAnalyser = pipe.named_steps["analyse"]
    analyses = list(analyse_texts([str(t) for t in texts], analyser.framework_dir))
    frame = analyser.frame(analyses)
    feats = sparse.csr_matrix(pipe.named_steps["features"].transform(frame))
    tagger: ThresholdedOneVsRest = pipe.named_steps["tag"]
    proba = tagger.predict_proba(feats)
    thresholds = tagger.thresholds_
    names = model.feature_names
    ids = passage_ids or [str(i) for i in range(len(texts))]
    evidence_rules = model.evidence_rules(library)
    out: list[PassageTags] = []
    labels, fws = space.labels, space.frameworks
    # Only the predicted (passage, label) pairs need Python work: find them with NumPy.
    predicted = proba >= thresholds
    gate_cols = [j for j, f in enumerate(fws) if f == "gate"]
    if gate_cols and use_gate:
        predicted &= predicted[:, gate_cols[0]][:, None]
    if gate_cols:
        predicted[:, gate_cols] = False
    score_cols = {fw: [j for j, f in enumerate(fws) if f == fw] for fw in ("kloe", "qs")}
    rounded = np.round(proba, 4)
    for i, analysis in enumerate(analyses):
        per_fw: dict[str, list[Tag]] = {"kloe": [], "qs": [], "evidence": []}
        scores = {fw: {labels[j]: float(rounded[i, j]) for j in cols} for fw, cols in score_cols.items()}
        hits = np.flatnonzero(predicted[i])
        row = feats[i] if (explain and hits.size) else None
        for j in hits:
            label, fw = labels[j], fws[j]
            p = float(proba[i, j])
            terms: list[str] = []
            if explain and fw != "evidence":
                matched = [m.text for m in analysis.matches if label in model.term_labels.get(m.term_id, ())]
                terms = list(dict.fromkeys(matched))[:4]
                terms += [t for t in _explain(row, tagger.coef_[j], names) if t not in terms]
                terms = terms[:8]
            per_fw[fw].append(Tag(fw, label, p, tuple(terms)))
        for fw in per_fw:
            per_fw[fw].sort(key=lambda t: -t.score)
        tagged_areas = {t.label for t in per_fw["kloe"]} | {t.label for t in per_fw["qs"]}
        evidence = [t.label for t in per_fw["evidence"] if _evidence_area(t.label) in tagged_areas]
        if tagged_areas:
            doc_type = doc_types[i] if doc_types else None
            for m in analysis.matches:
                ev_ids, term_doc_types = evidence_rules.get(m.term_id, ((), ()))
                for ev_id in ev_ids:
                    area = _evidence_area(ev_id)
                    if (
                        area in tagged_areas
                        or any(a in tagged_areas for a in library.linked(area))
                        or (doc_type is not None and doc_type in term_doc_types)
                    ):
                        evidence.append(ev_id)
        why: list[str] = []
        for t in per_fw["kloe"] + per_fw["qs"]:
            why.extend(x for x in t.terms if x not in why)
        out.append(
            PassageTags(
                passage_id=ids[i],
                kloe=tuple(per_fw["kloe"]),
                qs=tuple(per_fw["qs"]),
                evidence=tuple(dict.fromkeys(evidence)),
                why=tuple(why[:10]),
                scores=scores,
            )
        )
    return out


def _evidence_area(evidence_id: str) -> str:
    return evidence_id.split(".", 1)[0]


def tag_passages(
    model: Any, passages: Iterable[Any], *, batch_size: int = 2000, library: Library | None = None
) -> Iterator[PassageTags]:
    """Tag passages lazily in batches, one :class:`PassageTags` per passage, in order.

    Args:
        model: a loaded :class:`pipeline.model.TaggerModel`.
        passages: :class:`~pipeline.document.Passage` objects or dicts with
            ``passage_id``/``id`` and ``text`` (``doc_type`` optional).
        batch_size: passages per spaCy/scikit-learn batch.
    """
    batch: list[Any] = []
    for p in passages:
        batch.append(p)
        if len(batch) >= batch_size:
            yield from _tag_batch(model, batch, library)
            batch = []
    if batch:
        yield from _tag_batch(model, batch, library)


def _get(p: Any, *names: str) -> Any:
    for n in names:
        if isinstance(p, dict):
            if n in p:
                return p[n]
        elif hasattr(p, n):
            return getattr(p, n)
    return None


def _tag_batch(model: Any, batch: list[Any], library: Library | None) -> list[PassageTags]:
    texts = [str(_get(p, "text") or "") for p in batch]
    ids = [str(_get(p, "passage_id", "id")) for p in batch]
    types = [_get(p, "doc_type") for p in batch]
    return tag_texts(model, texts, types, passage_ids=ids, library=library)
