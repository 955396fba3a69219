"""Trained tagger models: train, save with skops (never pickle), load safely.

A model lives in ``models/<name>-<version>/`` as ``model.skops`` plus
``card.json`` (version, labels, framework version, training-data hash,
metrics, date, library versions). ``models/DEFAULT`` names the directory
that ``wellled review`` uses when no ``--model`` is given.

Loading checks every type in the file against an allow-list (scikit-learn,
NumPy, SciPy and our own estimators) with skops' trusted-types check; a file
holding anything else is refused with :class:`~pipeline.errors.ModelError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException
from sklearn.pipeline import Pipeline

from pipeline.classify import GATE_LABEL, LabelSpace, explainable_features, label_space, make_classifier
from pipeline.errors import ModelError
from pipeline.framework import Library, load_library

__all__ = [
    "TaggerModel",
    "train_model",
    "save_model",
    "load_model",
    "default_model_dir",
    "set_default_model",
    "MODELS_DIR",
    "TRUSTED_TYPES",
]

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
DEFAULT_POINTER = "DEFAULT"

# Types a model file may contain beyond those skops trusts by default (NumPy,
# SciPy and scikit-learn's own estimators): wellled's estimators, by exact
# name. Nothing else is trusted - not by module prefix, because a prefix such
# as "builtins." would admit functions like builtins.eval as, say, a
# vectorizer's analyzer, to be called on every passage.
TRUSTED_TYPES = frozenset(
    {
        "pipeline.classify.SpacyAnalyser",
        "pipeline.classify.ThresholdedOneVsRest",
        "pipeline.classify.WhitespaceTfidfVectorizer",
        "pipeline.classify.WordCharTfidfVectorizer",
    }
)

LIBRARIES = ("wellled", "scikit-learn", "spacy", "spacy-lookups-data", "skops", "numpy", "scipy", "pandas")


@dataclass
class TaggerModel:
    """A trained classifier with what is needed to read its output.

    Attributes:
        pipeline: the fitted scikit-learn Pipeline (analyse, features, tag).
        labels: the label columns and their frameworks.
        card: the model card (see module docstring).
        path: folder it was loaded from, if any.
    """

    pipeline: Pipeline
    labels: LabelSpace
    card: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    _feature_names: np.ndarray | None = field(default=None, repr=False)
    _term_labels: dict[str, set[str]] | None = field(default=None, repr=False)
    _evidence_rules: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None = field(default=None, repr=False)
    _explainable: tuple[np.ndarray, list[str]] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.card.get("name", "unsaved"))

    @property
    def version(self) -> str:
        return str(self.card.get("version", "0"))

    @property
    def framework_dir(self) -> str | None:
        return self.pipeline.named_steps["analyse"].framework_dir

    @property
    def feature_names(self) -> np.ndarray:
        if self._feature_names is None:
            self._feature_names = np.asarray(self.pipeline.named_steps["features"].get_feature_names_out())
        return self._feature_names

    @property
    def explainable(self) -> tuple[np.ndarray, list[str]]:
        """Which features may be shown as the reason for a tag, and how each reads (see ``explainable_features``)."""
        if self._explainable is None:
            self._explainable = explainable_features(self.feature_names)
        return self._explainable

    @property
    def term_labels(self) -> dict[str, set[str]]:
        """For each vocabulary term, the labels (areas and their crosswalk links) it signals."""
        if self._term_labels is None:
            library = load_library(self.framework_dir)
            out: dict[str, set[str]] = {}
            for term in library.vocabulary:
                labels = set(term.areas)
                for area in term.areas:
                    labels.update(library.linked(area))
                labels.update(term.evidence)
                out[term.id] = labels
            self._term_labels = out
        return self._term_labels

    def evidence_rules(self, library: Library) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """term id -> (key-evidence ids it signals, document types that make it likely)."""
        if self._evidence_rules is None:
            self._evidence_rules = {
                t.id: (tuple(t.evidence), tuple(t.doc_types or ())) for t in library.vocabulary if t.evidence
            }
        return self._evidence_rules


def _hash_texts(items: Sequence[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def train_model(
    passages: Sequence[Any],
    *,
    framework_dir: str | None = None,
    name: str = "wellled-tagger",
    version: str = "1.0",
    evidence_min_support: int = 12,
    seed: int = 0,
    sources: Sequence[str] | None = None,
    C: float = 8.0,
) -> TaggerModel:
    """Train a tagger on labelled passages.

    Args:
        passages: :class:`pipeline.corpus.LabelledPassage` objects.
        framework_dir: framework folder (None: the repo's).
        name, version: written to the card.
        evidence_min_support: key-evidence items with at least this many
            labelled passages get a learned model; the rest rely on rules.
        seed: random seed (folds); the same seed and data give the same model.
        sources: training file names, for the card.
        C: regularisation of the per-label logistic regressions.

    Returns:
        The trained model (not yet saved).
    """
    if not passages:
        raise ValueError("passages must not be empty: nothing to train on")
    library = load_library(framework_dir)
    counts: dict[str, int] = {}
    for p in passages:
        for ev in p.evidence:
            counts[ev] = counts.get(ev, 0) + 1
    evidence_ids = sorted(ev for ev, c in counts.items() if c >= evidence_min_support)
    space = label_space(library, evidence_ids)
    index = {label: i for i, label in enumerate(space.labels)}
    Y = np.zeros((len(passages), len(space.labels)), dtype=np.int8)
    for r, p in enumerate(passages):
        for label in (*p.kloe, *p.qs, *p.evidence):
            if label in index:
                Y[r, index[label]] = 1
        if GATE_LABEL in index and (p.kloe or p.qs):
            Y[r, index[GATE_LABEL]] = 1
    texts = [p.text for p in passages]
    groups = [p.source or p.id for p in passages]
    pipe = make_classifier(framework_dir, C=C, random_state=seed)
    pipe.fit(texts, Y, tag__groups=groups)
    card = {
        "name": name,
        "version": version,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "framework_version": library.version,
        "labels": space.to_dict(),
        "thresholds": {label: float(t) for label, t in zip(space.labels, pipe.named_steps["tag"].thresholds_)},
        "training": {
            "passages": len(passages),
            "negatives": int(sum(1 for p in passages if not p.kloe and not p.qs)),
            "data_sha256": _hash_texts([p.to_dict() for p in passages]),
            "sources": list(sources or []),
            "seed": seed,
            "C": C,
            "evidence_min_support": evidence_min_support,
        },
        "libraries": library_versions(),
        "metrics": {},
    }
    return TaggerModel(pipeline=pipe, labels=space, card=card)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def save_model(model: TaggerModel, out_dir: str | Path) -> Path:
    """Write ``model.skops`` and ``card.json`` into ``out_dir`` (created), atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pipe = model.pipeline
    tagger = pipe.named_steps["tag"]
    oof = getattr(tagger, "oof_proba_", None)
    if oof is not None:  # training-time diagnostics, not needed to predict
        del tagger.oof_proba_
    # TfidfVectorizer keeps every term it dropped in `stop_words_`: only needed for
    # introspection, and most of the file's size. Safe to remove (scikit-learn docs).
    for _, vec, _ in pipe.named_steps["features"].transformers_:
        if hasattr(vec, "stop_words_"):
            vec.stop_words_ = None
    try:
        payload = {"pipeline": pipe, "labels": list(model.labels.labels), "frameworks": list(model.labels.frameworks)}
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".model.", suffix=".tmp")
        os.close(fd)
        sio.dump(payload, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out / MODEL_FILE)
    finally:
        if oof is not None:
            tagger.oof_proba_ = oof
    card = dict(model.card)
    card["skops_types"] = sorted(sio.get_untrusted_types(file=out / MODEL_FILE))
    card["model_sha256"] = hashlib.sha256((out / MODEL_FILE).read_bytes()).hexdigest()
    _atomic_write_text(out / CARD_FILE, json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    model.card = card
    model.path = out
    return out


def _check_trusted(path: Path) -> list[str]:
    """The file's non-default types, all on the allow-list (else ModelError)."""
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a corrupt or non-skops file
        raise ModelError(f"{path}: not a readable skops model file ({exc})") from exc
    refused = [t for t in untrusted if t not in TRUSTED_TYPES]
    if refused:
        raise ModelError(
            f"{path}: refusing to load a model that contains types outside the allow-list: "
            f"{', '.join(sorted(refused))}. Only models trained by wellled can be loaded."
        )
    return list(untrusted)


def _load_payload(file: Path, card: dict[str, Any]) -> Any:
    """Load the skops payload, trusting only allow-listed types.

    The card lists the file's non-default types (written by
    :func:`save_model`); passing those that are on the allow-list straight
    to ``skops.io.load`` makes skops audit the file once while loading, not
    once more beforehand. A file with any other type fails that audit and is
    then examined by :func:`_check_trusted`, which names what it refuses.
    """
    listed = card.get("skops_types")
    if isinstance(listed, list) and all(isinstance(t, str) for t in listed):
        trusted = [t for t in listed if t in TRUSTED_TYPES]
        try:
            return sio.load(file, trusted=trusted)
        except UntrustedTypesFoundException:
            pass  # the card is out of date or the file holds more: the full check says which
        except Exception as exc:
            raise ModelError(f"{file}: not a readable skops model file ({exc})") from exc
    trusted = _check_trusted(file)
    return sio.load(file, trusted=trusted)


def load_model(model_dir: str | Path | None = None) -> TaggerModel:
    """Load a model folder (default: the one ``models/DEFAULT`` names).

    Raises:
        ModelError: the folder, the model file or the card is missing, the
            file is not skops, or it contains untrusted types.
    """
    path = Path(model_dir) if model_dir is not None else default_model_dir()
    file = path / MODEL_FILE
    if not file.is_file():
        raise ModelError(f"{path}: no {MODEL_FILE} in this folder (train one with `wellled train`)")
    card_path = path / CARD_FILE
    if not card_path.is_file():
        raise ModelError(f"{path}: no {CARD_FILE}: a model without its card cannot be trusted or described")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{card_path}: not valid JSON ({exc})") from exc
    expected = card.get("model_sha256")
    if expected and hashlib.sha256(file.read_bytes()).hexdigest() != expected:
        raise ModelError(f"{file}: the file does not match the sha256 in its card (changed or corrupt)")
    payload = _load_payload(file, card)
    try:
        space = LabelSpace(tuple(payload["labels"]), tuple(payload["frameworks"]))
        pipe = payload["pipeline"]
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{file}: not a wellled model (missing {exc})") from exc
    if not isinstance(pipe, Pipeline):
        raise ModelError(f"{file}: not a wellled model (expected a Pipeline, found {type(pipe).__name__})")
    library = load_library(pipe.named_steps["analyse"].framework_dir)
    if card.get("framework_version") and card["framework_version"] != library.version:
        logger.warning(
            "%s was trained on framework version %s; the framework is now %s: retrain to pick up changes",
            path,
            card["framework_version"],
            library.version,
        )
    return TaggerModel(pipeline=pipe, labels=space, card=card, path=path)


def default_model_dir(models_dir: str | Path | None = None) -> Path:
    """The folder ``models/DEFAULT`` names (or the env ``WELLLED_MODEL``)."""
    env = os.environ.get("WELLLED_MODEL")
    if env:
        return Path(env)
    root = Path(models_dir) if models_dir else MODELS_DIR
    pointer = root / DEFAULT_POINTER
    if not pointer.is_file():
        raise ModelError(f"{pointer}: no default model is set (train one and promote it, or pass --model)")
    name = pointer.read_text(encoding="utf-8").strip()
    return root / name


def set_default_model(model_dir: str | Path, models_dir: str | Path | None = None) -> None:
    """Make ``model_dir`` (a folder inside the models folder) the default."""
    root = Path(models_dir) if models_dir else MODELS_DIR
    target = Path(model_dir)
    rel = target.name if target.parent.resolve() == root.resolve() else str(target.resolve())
    _atomic_write_text(root / DEFAULT_POINTER, rel + "\n")
