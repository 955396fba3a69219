"""Labelled passages: read, validate against framework/, split, describe.

Two input formats are read:

* ours, one JSON object a line: ``{"id", "text", "doc_type", "trust_type",
  "kloe": [...], "qs": [...], "evidence": [...], "source"}``;
* Prodigy-style textcat lines: ``{"text", "accept": [...], "answer":
  "accept"|"reject"|"ignore", "meta": {...}}``. Accepted ids are sorted
  into frameworks by looking them up in ``framework/``; ``reject`` lines and
  lines whose answer is ``accept`` with an empty list are negatives; ``ignore``
  lines are skipped.

The train/test split is by source document and recorded in
``corpus_samples/labelled/split.json`` so it never moves.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from pipeline.errors import CorpusError
from pipeline.framework import Library, load_library

__all__ = [
    "LabelledPassage",
    "load_labelled",
    "validate_passages",
    "make_split",
    "load_split",
    "apply_split",
    "near_duplicates",
    "corpus_stats",
    "LABELLED_DIR",
    "SPLIT_FILE",
]

logger = logging.getLogger(__name__)

LABELLED_DIR = Path(__file__).resolve().parent.parent / "corpus_samples" / "labelled"
SPLIT_FILE = LABELLED_DIR / "split.json"
DOC_TYPES = ("board_minutes", "annual_report", "risk_register", "strategy", "committee_report", "policy", "other")
TRUST_TYPES = ("acute", "mental_health", "community", "ambulance", "unknown")


@dataclass(frozen=True, slots=True)
class LabelledPassage:
    """One passage with its gold labels."""

    id: str
    text: str
    kloe: tuple[str, ...] = ()
    qs: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    doc_type: str = "other"
    trust_type: str = "unknown"
    source: str = ""
    origin: str = ""  # file and line it was read from

    @property
    def is_negative(self) -> bool:
        return not self.kloe and not self.qs

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("origin")
        for k in ("kloe", "qs", "evidence"):
            d[k] = list(d[k])
        return d


def _as_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CorpusError(f"{where}: '{key}' must be a list of strings, got {value!r}")
    return tuple(value)


def _from_ours(obj: dict[str, Any], where: str) -> LabelledPassage:
    for key in ("id", "text"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise CorpusError(f"{where}: '{key}' must be a non-empty string")
    return LabelledPassage(
        id=obj["id"],
        text=obj["text"],
        kloe=_as_list(obj.get("kloe"), where, "kloe"),
        qs=_as_list(obj.get("qs"), where, "qs"),
        evidence=_as_list(obj.get("evidence"), where, "evidence"),
        doc_type=str(obj.get("doc_type") or "other"),
        trust_type=str(obj.get("trust_type") or "unknown"),
        source=str(obj.get("source") or ""),
        origin=where,
    )


def _from_prodigy(obj: dict[str, Any], where: str, library: Library) -> LabelledPassage | None:
    answer = obj.get("answer", "accept")
    if answer == "ignore":
        return None
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CorpusError(f"{where}: 'text' must be a non-empty string")
    accepted = _as_list(obj.get("accept"), where, "accept") if answer == "accept" else ()
    if answer == "accept" and not accepted and obj.get("label"):
        accepted = (str(obj["label"]),)  # single-label textcat: {"label": ..., "answer": "accept"}
    kloe, qs, evidence = [], [], []
    kloe_ids = set(library.area_ids("kloe"))
    qs_ids = set(library.area_ids("qs"))
    evidence_ids = {e.id for e in library.evidence_items()}
    for label in accepted:
        if label in kloe_ids:
            kloe.append(label)
        elif label in qs_ids:
            qs.append(label)
        elif label in evidence_ids:
            evidence.append(label)
        else:
            raise CorpusError(f"{where}: accepted label {label!r} is not an area or key-evidence id in framework/")
    meta = obj.get("meta") or {}
    pid = obj.get("id") or meta.get("id") or "p-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
    return LabelledPassage(
        id=str(pid),
        text=text,
        kloe=tuple(kloe),
        qs=tuple(qs),
        evidence=tuple(evidence),
        doc_type=str(meta.get("doc_type") or obj.get("doc_type") or "other"),
        trust_type=str(meta.get("trust_type") or obj.get("trust_type") or "unknown"),
        source=str(meta.get("source") or obj.get("source") or ""),
        origin=where,
    )


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(path.glob("*.jsonl")))
        elif path.is_file():
            out.append(path)
        else:
            raise CorpusError(f"{path}: no such file or folder of labelled passages")
    return out


def load_labelled(
    paths: Iterable[str | Path] | None = None, *, library: Library | None = None, validate: bool = True
) -> list[LabelledPassage]:
    """Read labelled passages from JSONL files or folders of them.

    Args:
        paths: files or folders (default: ``corpus_samples/labelled``).
        library: framework library for validation and Prodigy label lookup.
        validate: check every label id against framework/ (raises on the first
            file with problems, naming file, line and id).

    Raises:
        CorpusError: a line is not JSON, lacks text, has an unknown label id,
            or two passages share an id.
    """
    library = library or load_library()
    files = _expand(paths or [LABELLED_DIR])
    passages: list[LabelledPassage] = []
    for file in files:
        with file.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"{file}:{n}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(f"{where}: not valid JSON ({exc.msg})") from exc
                if not isinstance(obj, dict):
                    raise CorpusError(f"{where}: each line must be a JSON object")
                if "accept" in obj or "answer" in obj:
                    item = _from_prodigy(obj, where, library)
                    if item is not None:
                        passages.append(item)
                else:
                    passages.append(_from_ours(obj, where))
    if validate:
        problems = validate_passages(passages, library)
        if problems:
            shown = "\n".join(problems[:20])
            more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise CorpusError(f"{len(problems)} problem(s) in labelled passages:\n{shown}{more}")
    return passages


def validate_passages(passages: Sequence[LabelledPassage], library: Library | None = None) -> list[str]:
    """Every problem found, one message each (empty list: all good)."""
    library = library or load_library()
    kloe_ids = set(library.area_ids("kloe"))
    qs_ids = set(library.area_ids("qs"))
    evidence_ids = {e.id for e in library.evidence_items()}
    problems: list[str] = []
    seen: dict[str, str] = {}
    for p in passages:
        where = p.origin or p.id
        if p.id in seen:
            problems.append(f"{where}: id {p.id!r} already used at {seen[p.id]}")
        seen[p.id] = where
        for label in p.kloe:
            if label not in kloe_ids:
                problems.append(f"{where}: kloe label {label!r} is not a W area in framework/")
        for label in p.qs:
            if label not in qs_ids:
                problems.append(f"{where}: qs label {label!r} is not a quality statement in framework/")
        for label in p.evidence:
            if label not in evidence_ids:
                problems.append(f"{where}: evidence id {label!r} is not a key-evidence item in framework/")
        if p.doc_type not in DOC_TYPES:
            problems.append(f"{where}: doc_type {p.doc_type!r} is not one of {', '.join(DOC_TYPES)}")
        if p.trust_type not in TRUST_TYPES:
            problems.append(f"{where}: trust_type {p.trust_type!r} is not one of {', '.join(TRUST_TYPES)}")
        if len(set(p.kloe)) != len(p.kloe) or len(set(p.qs)) != len(p.qs):
            problems.append(f"{where}: a label is repeated")
    return problems


# ------------------------------------------------------------------ split
def make_split(
    passages: Sequence[LabelledPassage], *, test_fraction: float = 0.2, seed: int = 13
) -> dict[str, Any]:
    """Choose test sources so near-duplicates never straddle train and test.

    Sources are ordered by a seeded hash, then taken greedily for the test
    side while they keep each label's test share closest to ``test_fraction``.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    by_source: dict[str, list[LabelledPassage]] = {}
    for p in passages:
        by_source.setdefault(p.source or p.id, []).append(p)
    order = sorted(by_source, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    totals: Counter[str] = Counter()
    for p in passages:
        totals.update((*p.kloe, *p.qs, "__negative__" if p.is_negative else "__positive__"))
    taken: Counter[str] = Counter()
    test_sources: list[str] = []
    n_test = 0
    target = test_fraction * len(passages)
    for source in order:
        if n_test >= target:
            break
        labels: Counter[str] = Counter()
        for p in by_source[source]:
            labels.update((*p.kloe, *p.qs, "__negative__" if p.is_negative else "__positive__"))
        # skip a source that would push any label's test share far past the target
        if any(taken[k] + v > test_fraction * totals[k] * 1.6 + 2 for k, v in labels.items()):
            continue
        test_sources.append(source)
        taken.update(labels)
        n_test += len(by_source[source])
    return {"seed": seed, "test_fraction": test_fraction, "test_sources": sorted(test_sources)}


def load_split(path: str | Path = SPLIT_FILE) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise CorpusError(f"{file}: no split file (make one with `wellled corpus split`)")
    return json.loads(file.read_text(encoding="utf-8"))


def apply_split(
    passages: Sequence[LabelledPassage], split: dict[str, Any]
) -> tuple[list[LabelledPassage], list[LabelledPassage]]:
    """(train, test): passages whose source is a test source go to test; all others to train."""
    test_sources = set(split["test_sources"])
    train = [p for p in passages if (p.source or p.id) not in test_sources]
    test = [p for p in passages if (p.source or p.id) in test_sources]
    return train, test


# ------------------------------------------------------------ duplicates
def near_duplicates(
    passages: Sequence[LabelledPassage], *, threshold: float = 0.9
) -> list[tuple[str, str, float]]:
    """Pairs of passages whose character 5-gram TF-IDF cosine is >= threshold."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(passages) < 2:
        return []
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(5, 5), lowercase=True, min_df=1)
    X = vec.fit_transform([" ".join(p.text.split()) for p in passages])
    pairs: list[tuple[str, str, float]] = []
    step = 1000
    for start in range(0, X.shape[0], step):
        block = (X[start : start + step] @ X.T).tocoo()
        for i, j, v in zip(block.row, block.col, block.data):
            gi = start + int(i)
            if j > gi and v >= threshold:
                pairs.append((passages[gi].id, passages[int(j)].id, round(float(v), 3)))
    return sorted(pairs)


# ----------------------------------------------------------------- stats
@dataclass
class CorpusStats:
    """Counts that show whether a labelled set is fit to learn from."""

    passages: int = 0
    negatives: int = 0
    per_label: dict[str, dict[str, int]] = field(default_factory=dict)
    per_doc_type: dict[str, int] = field(default_factory=dict)
    per_trust_type: dict[str, int] = field(default_factory=dict)
    evidence_labels: int = 0
    sources: int = 0
    duplicates: list[tuple[str, str, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    length_words: dict[str, float] = field(default_factory=dict)

    @property
    def negative_share(self) -> float:
        return self.negatives / self.passages if self.passages else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["negative_share"] = round(self.negative_share, 4)
        return d


def corpus_stats(
    passages: Sequence[LabelledPassage], library: Library | None = None, *, duplicate_threshold: float = 0.9
) -> CorpusStats:
    """Counts per label, document type and trust type; negatives; duplicates; problems."""
    library = library or load_library()
    stats = CorpusStats(passages=len(passages))
    stats.negatives = sum(1 for p in passages if p.is_negative)
    for fw in ("kloe", "qs"):
        counts = Counter(label for p in passages for label in getattr(p, fw))
        stats.per_label[fw] = {a: counts.get(a, 0) for a in library.area_ids(fw)}
    stats.per_doc_type = dict(Counter(p.doc_type for p in passages).most_common())
    stats.per_trust_type = dict(Counter(p.trust_type for p in passages).most_common())
    stats.evidence_labels = sum(len(p.evidence) for p in passages)
    stats.sources = len({p.source or p.id for p in passages})
    lengths = np.array([len(p.text.split()) for p in passages]) if passages else np.zeros(1)
    stats.length_words = {
        "min": float(lengths.min()),
        "median": float(np.median(lengths)),
        "max": float(lengths.max()),
        "share_under_30": round(float(np.mean(lengths < 30)), 3),
        "share_over_90": round(float(np.mean(lengths > 90)), 3),
    }
    stats.duplicates = near_duplicates(passages, threshold=duplicate_threshold)
    stats.problems = validate_passages(passages, library)
    return stats
