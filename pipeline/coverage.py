"""Coverage: how much evidence a pack holds for each area, prompt and key-evidence item.

Input is what earlier stages made: the pack's documents, its passages and
each passage's tags. Output is a :class:`Coverage` with four tables (areas,
prompts, key evidence, crosswalk), a document request list and lines of
enquiry. The rules that turn counts into a status (absent, thin, adequate,
strong) are data: ``framework/coverage-rules.yaml``.

Prompts: the classifier tags areas; a passage tagged with an area is placed
under that area's prompts by lemma TF-IDF similarity to each prompt's text
(and its guidance questions), keeping the best prompt and any within a set
share of it. Key evidence: an item is found when a passage shows it (the
classifier's evidence ids) or when a document *is* it (its type and title
match the item's vocabulary, e.g. a risk register file for "Corporate and
service level risk registers").
"""

from __future__ import annotations

import logging
import re
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import FrameworkError
from pipeline.framework import Library, load_library

__all__ = [
    "CoverageRules",
    "load_rules",
    "Excerpt",
    "AreaRow",
    "PromptRow",
    "EvidenceRow",
    "CrosswalkRow",
    "Coverage",
    "build_excerpts",
    "compute_coverage",
    "STATUSES",
]

logger = logging.getLogger(__name__)

STATUSES = ("absent", "thin", "adequate", "strong")

# Which trust types a scoped key-evidence item applies to (cancer services are
# provided by acute trusts). A scope not listed here applies to every trust type.
SCOPE_TRUST_TYPES = {
    "acute": {"acute"},
    "mental_health": {"mental_health"},
    "community": {"community"},
    "ambulance": {"ambulance"},
    "cancer": {"acute"},
}


# ------------------------------------------------------------------ rules
class Level(BaseModel):
    """Minimum counts for a status."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    passages: int = Field(ge=1)
    documents: int = Field(ge=1)
    doc_types: int = Field(default=1, ge=1)


class LevelRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    strong: Level
    adequate: Level


class PromptRules(LevelRules):
    min_similarity: float = Field(ge=0, le=1)
    relative_similarity: float = Field(gt=0, le=1)
    max_prompts_per_passage: int = Field(ge=1)


class CoverageRules(BaseModel):
    """``framework/coverage-rules.yaml`` (see that file for what each number means)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    description: str = ""
    min_score: float = Field(ge=0, le=1)
    area: LevelRules
    prompt: PromptRules
    stale_after_months: int = Field(ge=1)
    excerpts_per_area_in_report: int = Field(default=200, ge=1)


def load_rules(path: str | Path | None = None, library: Library | None = None) -> CoverageRules:
    """Read and validate the coverage rules (default: ``framework/coverage-rules.yaml``)."""
    if path is None:
        library = library or load_library()
        raw = library.extra("coverage_rules")
        if not raw:
            raise FrameworkError("framework/: no file with `kind: coverage_rules` (coverage-rules.yaml is missing)")
        data, where = raw[0], "framework/coverage-rules.yaml"
    else:
        where = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise FrameworkError(f"{where}: cannot read coverage rules ({exc})") from exc
    try:
        return CoverageRules.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise FrameworkError(f"{where}: {loc}: {first['msg']}") from exc


# -------------------------------------------------------------- excerpts
@dataclass(frozen=True, slots=True)
class Excerpt:
    """A tagged passage as inspectors read it: text, provenance, tags."""

    passage_id: str
    document_id: str
    source_path: str
    doc_type: str
    text: str
    page: int | None
    sheet: str | None
    row: int | None
    heading_path: tuple[str, ...]
    kloe: tuple[dict[str, Any], ...]
    qs: tuple[dict[str, Any], ...]
    evidence: tuple[str, ...]
    why: tuple[str, ...]
    prompts: tuple[str, ...] = ()
    document_title: str = ""
    document_date: str | None = None
    duplicate_of: str | None = None
    char_start: int = 0
    char_end: int = 0

    @property
    def location(self) -> str:
        if self.sheet:
            return f"sheet {self.sheet}, row {self.row}" if self.row else f"sheet {self.sheet}"
        if self.page:
            return f"page {self.page}"
        return ""

    def labels(self) -> list[str]:
        return [t["id"] for t in self.kloe] + [t["id"] for t in self.qs]

    def score(self, label: str) -> float:
        for t in (*self.kloe, *self.qs):
            if t["id"] == label:
                return float(t["score"])
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        d["kloe"] = list(self.kloe)
        d["qs"] = list(self.qs)
        d["evidence"] = list(self.evidence)
        d["why"] = list(self.why)
        d["prompts"] = list(self.prompts)
        d["location"] = self.location
        return d


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def build_excerpts(
    passages: Iterable[Any], tags: Iterable[Any], documents: Iterable[Any], *, min_score: float = 0.0
) -> list[Excerpt]:
    """Join passages with their tags and documents; keep passages with at least one tag.

    ``tags`` are :class:`~pipeline.document.PassageTags` or their dicts
    (``{"id", "kloe", "qs", "evidence", "why"}``), matched to passages by id.
    """
    docs = {_get(d, "document_id"): d for d in documents}
    by_id: dict[str, Any] = {}
    for t in tags:
        d = t.to_dict() if hasattr(t, "to_dict") else dict(t)
        by_id[str(d["id"])] = d
    out: list[Excerpt] = []
    for p in passages:
        pid = str(_get(p, "passage_id"))
        t = by_id.get(pid)
        if not t:
            continue
        kloe = tuple(x for x in t.get("kloe", []) if float(x["score"]) >= min_score)
        qs = tuple(x for x in t.get("qs", []) if float(x["score"]) >= min_score)
        if not kloe and not qs:
            continue
        doc = docs.get(_get(p, "document_id"), {})
        out.append(
            Excerpt(
                passage_id=pid,
                document_id=str(_get(p, "document_id")),
                source_path=str(_get(p, "source_path", "")),
                doc_type=str(_get(p, "doc_type", "other")),
                text=str(_get(p, "text", "")),
                page=_get(p, "page"),
                sheet=_get(p, "sheet"),
                row=_get(p, "row"),
                heading_path=tuple(_get(p, "heading_path", ()) or ()),
                kloe=kloe,
                qs=qs,
                evidence=tuple(t.get("evidence", [])),
                why=tuple(t.get("why", [])),
                document_title=str(_get(doc, "title", "") or ""),
                document_date=_get(doc, "date"),
                duplicate_of=_get(p, "duplicate_of"),
                char_start=int(_get(p, "char_start", 0) or 0),
                char_end=int(_get(p, "char_end", 0) or 0),
            )
        )
    return out


# ------------------------------------------------------------------ rows
@dataclass
class AreaRow:
    framework: str
    id: str
    title: str
    passages: int
    documents: int
    doc_types: int
    best_score: float
    median_score: float
    latest_date: str | None
    evidence_found: int
    evidence_expected: int
    status: str
    reason: str
    document_names: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    stale: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["document_names"] = "; ".join(self.document_names)
        d["linked"] = ", ".join(self.linked)
        return d


@dataclass
class PromptRow:
    framework: str
    area: str
    id: str
    text: str
    passages: int
    documents: int
    status: str
    best_passage: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvidenceRow:
    framework: str
    area: str
    id: str
    text: str
    kind: str
    scope: str
    parent: str
    found: bool
    found_by: str  # "passages", "document", "passages+document" or ""
    documents: list[str] = field(default_factory=list)
    passages: int = 0
    request: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["documents"] = "; ".join(self.documents)
        return d


@dataclass
class CrosswalkRow:
    kloe: str
    kloe_status: str
    qs: str
    qs_status: str
    strength: str
    rationale: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Coverage:
    """Everything the coverage stage computes for one pack."""

    areas: list[AreaRow]
    prompts: list[PromptRow]
    evidence: list[EvidenceRow]
    crosswalk: list[CrosswalkRow]
    requests: list[dict[str, str]]
    enquiries: list[dict[str, str]]
    excerpts: list[Excerpt]
    heatmap: dict[str, dict[str, int]]  # area id -> document source_path -> passages
    documents: list[dict[str, Any]]
    framework_version: str = ""

    def area(self, area_id: str) -> AreaRow:
        for row in self.areas:
            if row.id == area_id:
                return row
        raise KeyError(area_id)

    def excerpts_for(self, area_id: str) -> list[Excerpt]:
        """Excerpts tagged with an area, best score first."""
        return sorted(
            (e for e in self.excerpts if area_id in e.labels()), key=lambda e: (-e.score(area_id), e.passage_id)
        )


# ------------------------------------------------------------- statuses
def _status(passages: int, documents: int, doc_types: int, rules: LevelRules) -> tuple[str, str]:
    if passages == 0:
        return "absent", "no passage in the pack is evidence for this"
    counts = f"{passages} passage{'s' if passages != 1 else ''} from {documents} document{'s' if documents != 1 else ''}"
    s, a = rules.strong, rules.adequate
    if passages >= s.passages and documents >= s.documents and doc_types >= s.doc_types:
        return "strong", f"{counts} of {doc_types} types"
    if passages >= a.passages and documents >= a.documents and doc_types >= a.doc_types:
        return "adequate", counts
    why = []
    if passages < a.passages:
        why.append(f"fewer than {a.passages} passages")
    if documents < a.documents:
        why.append("all from one document" if documents == 1 else f"fewer than {a.documents} documents")
    if doc_types < a.doc_types:
        why.append(f"fewer than {a.doc_types} document types")
    return "thin", f"{counts}: " + ", ".join(why)


def _months_between(iso_old: str, iso_new: str) -> int:
    y1, m1 = int(iso_old[:4]), int(iso_old[5:7] or 1)
    y2, m2 = int(iso_new[:4]), int(iso_new[5:7] or 1)
    return (y2 - y1) * 12 + (m2 - m1)


# --------------------------------------------------------------- prompts
def _assign_prompts(
    excerpts: list[Excerpt], library: Library, rules: PromptRules
) -> dict[str, list[str]]:
    """passage_id -> prompt ids, by lemma TF-IDF similarity within each tagged area."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from pipeline.nlp import analyse_texts

    prompts = [p for fw in library.frameworks for p in library.prompts(fw)]
    if not prompts or not excerpts:
        return {}
    by_area: dict[str, list[Any]] = defaultdict(list)
    for p in prompts:
        by_area[p.area_id].append(p)
    prompt_texts = []
    for p in prompts:
        guidance = " ".join(g.text for g in getattr(library.area(p.area_id), "guidance", []) or [])
        # the prompt's own words count double; the area's guidance adds context vocabulary
        prompt_texts.append(f"{p.text} {p.text} {guidance[:600]}")
    lemmas = [a.lemmas for a in analyse_texts(prompt_texts + [e.text for e in excerpts])]
    vec = TfidfVectorizer(token_pattern=r"(?u)[^\s]+", stop_words="english", sublinear_tf=True, min_df=1)
    X = vec.fit_transform(lemmas)
    P, E = X[: len(prompts)], X[len(prompts) :]
    prompt_index = {p.id: i for i, p in enumerate(prompts)}
    out: dict[str, list[str]] = {}
    for k, e in enumerate(excerpts):
        chosen: list[str] = []
        for area in e.labels():
            cands = by_area.get(area, [])
            if not cands:
                continue
            idx = [prompt_index[c.id] for c in cands]
            sims = (P[idx] @ E[k].T).toarray().ravel()
            best = float(sims.max()) if sims.size else 0.0
            if best < rules.min_similarity:
                continue
            order = np.argsort(-sims)[: rules.max_prompts_per_passage]
            chosen.extend(cands[i].id for i in order if sims[i] >= max(rules.min_similarity,
                                                                          rules.relative_similarity * best))
        out[e.passage_id] = chosen
    return out


# ---------------------------------------------------------- key evidence
def _document_evidence(documents: Sequence[Any], library: Library) -> dict[str, list[str]]:
    """evidence id -> source paths of documents that are that item (by type and title)."""
    found: dict[str, list[str]] = defaultdict(list)
    for doc in documents:
        if _get(doc, "status", "ingested") not in (None, "ingested"):
            continue
        doc_type = _get(doc, "doc_type")
        name = f"{_get(doc, 'title', '') or ''} {_get(doc, 'file_name', '') or _get(doc, 'source_path', '')}".lower()
        name = name.replace("_", " ").replace("-", " ")
        for term in library.vocabulary:
            if not term.evidence:
                continue
            hit = any(p.lower() in name for p in term.phrases) or any(
                f" {a.lower()} " in f" {name} " for a in term.acronyms
            )
            if not hit:
                continue
            if term.doc_types and doc_type not in term.doc_types:
                continue
            for ev in term.evidence:
                path = str(_get(doc, "source_path"))
                if path not in found[ev]:
                    found[ev].append(path)
    return found


_REQUEST_VERB_RE = re.compile(r"^(?:review|see|check)\s+(?=\w)", re.I)
_REQUEST_QUESTION_RE = re.compile(r"^(?P<item>[^–?]+?)\s+[–-]\s+(?P<question>[^?]+\?)$")


def _applies(scopes: Iterable[str], trust_type: str | None) -> bool:
    """Whether an item scoped to ``scopes`` ("cancer", "acute", ...) applies to ``trust_type``.

    No trust type, or no scope, means it applies; a scope not in
    :data:`SCOPE_TRUST_TYPES` ("combined") applies to every trust type.
    """
    scopes = [str(s).strip() for s in scopes if str(s).strip()]
    if not trust_type or not scopes:
        return True
    return any(trust_type in SCOPE_TRUST_TYPES.get(s, {trust_type}) for s in scopes)


def _prompt_scope(library: Any, prompt_id: str) -> tuple[str, ...]:
    """The scope of a framework prompt (empty when it has none or is not a framework prompt)."""
    try:
        return tuple(getattr(library.prompt(prompt_id), "scope", ()) or ())
    except FrameworkError:
        return ()


def _request_wording(text: str) -> str:
    """A key-evidence item as a request to the trust.

    The framework words items as notes to inspectors ("Review balance score
    cards", "Staff surveys – what do they say about the leadership?"): the
    inspector's verb is dropped, a question becomes a bracketed note, and a
    name in capitals ("Duty of Candour policy", "Quality Strategy") keeps its
    case; only a plain first word is lower-cased.
    """
    t = " ".join(text.split()).rstrip(".:")
    t = _REQUEST_VERB_RE.sub("", t)
    if t.startswith("(") and t.endswith(")"):
        t = t[1:-1]
    m = _REQUEST_QUESTION_RE.match(t)
    if m:
        t = f"{m.group('item')} ({m.group('question')})"
    words = t.split()
    first = words[0] if words else ""
    proper = any(w[:1].isupper() for w in words[1:4] if w.lower() not in {"and", "or", "of"})
    if first[:1].isupper() and not first[:2].isupper() and not proper:
        t = t[0].lower() + t[1:]
    if re.match(r"(?:number|progress|learning) (?:of|made|with|from)\b", t, re.I):
        t = "the " + t[0].lower() + t[1:]
    return f"Please provide {t}, or tell us where to find it in the pack."


# ------------------------------------------------------------------ main
def compute_coverage(
    documents: Sequence[Any],
    passages: Sequence[Any],
    tags: Sequence[Any],
    *,
    library: Library | None = None,
    rules: CoverageRules | None = None,
    trust_type: str | None = None,
) -> Coverage:
    """Coverage of one pack at area, prompt and key-evidence level, for every framework.

    Args:
        documents: ingested documents (``Document`` or dicts from documents.jsonl).
        passages: the pack's passages (``Passage`` or dicts).
        tags: one ``PassageTags`` (or dict) per tagged passage.
        library: framework library (default: the repo's).
        rules: status rules (default: ``framework/coverage-rules.yaml``).
        trust_type: acute, mental_health, community or ambulance; key-evidence
            items, guidance questions and prompts scoped to another trust type
            (cancer, acute only, mental health only) are left out of the request
            list and the lines of enquiry.
    """
    library = library or load_library()
    rules = rules or load_rules(library=library)
    doc_list = [d.to_dict() if hasattr(d, "to_dict") else dict(d) for d in documents]
    excerpts = build_excerpts(passages, tags, doc_list, min_score=rules.min_score)
    counted = [e for e in excerpts if not e.duplicate_of]  # a repeated passage counts once
    prompt_map = _assign_prompts(counted, library, rules.prompt)
    excerpts = [
        Excerpt(**{**{f: getattr(e, f) for f in e.__dataclass_fields__}, "prompts": tuple(prompt_map.get(e.passage_id, ()))})
        for e in excerpts
    ]
    counted = [e for e in excerpts if not e.duplicate_of]
    doc_by_id = {d["document_id"]: d for d in doc_list}
    latest_pack_date = max((d.get("date") for d in doc_list if d.get("date")), default=None)

    passage_evidence: dict[str, set[str]] = defaultdict(set)
    for e in counted:
        for ev in e.evidence:
            passage_evidence[ev].add(e.source_path)
    doc_evidence = _document_evidence(doc_list, library)

    # key evidence rows
    ev_rows: list[EvidenceRow] = []
    for item in library.evidence_items():
        fw = library.framework_of(item.area_id) if hasattr(library, "framework_of") else (
            "kloe" if item.area_id in library.area_ids("kloe") else "qs")
        by_p = sorted(passage_evidence.get(item.id, set()))
        by_d = doc_evidence.get(item.id, [])
        docs = list(dict.fromkeys([*by_d, *by_p]))
        found_by = "+".join(x for x, ok in (("passages", bool(by_p)), ("document", bool(by_d))) if ok)
        scope = list(getattr(item, "scope", []) or [])
        ev_rows.append(
            EvidenceRow(
                framework=fw,
                area=item.area_id,
                id=item.id,
                text=item.text,
                kind=str(getattr(item, "kind", "document") or "document"),
                scope=", ".join(scope),
                parent=str(getattr(item, "parent", "") or ""),
                found=bool(docs),
                found_by=found_by,
                documents=docs,
                passages=sum(1 for e in counted if item.id in e.evidence),
                request="" if docs else _request_wording(item.text),
            )
        )
    # a parent item counts as found when any of its sub-items is
    children: dict[str, list[EvidenceRow]] = defaultdict(list)
    for r in ev_rows:
        if r.parent:
            children[r.parent].append(r)
    for r in ev_rows:
        if not r.found and any(c.found for c in children.get(r.id, [])):
            r.found, r.found_by, r.request = True, "sub-items", ""
            r.documents = list(dict.fromkeys(d for c in children[r.id] for d in c.documents))

    # area rows
    area_rows: list[AreaRow] = []
    heatmap: dict[str, dict[str, int]] = {}
    for fw_id in library.frameworks:
        for area in library.framework(fw_id).areas:
            ex = [e for e in counted if area.id in e.labels()]
            docs = sorted({e.source_path for e in ex})
            types = {e.doc_type for e in ex}
            scores = [e.score(area.id) for e in ex]
            dates = [doc_by_id.get(e.document_id, {}).get("date") for e in ex]
            dates = [d for d in dates if d]
            status, reason = _status(len(ex), len(docs), len(types), rules.area)
            items = [r for r in ev_rows if r.area == area.id and not r.parent and r.kind != "interview"]
            latest = max(dates) if dates else None
            stale = bool(latest and latest_pack_date and _months_between(latest, latest_pack_date)
                         > rules.stale_after_months)
            area_rows.append(
                AreaRow(
                    framework=fw_id,
                    id=area.id,
                    title=area.title,
                    passages=len(ex),
                    documents=len(docs),
                    doc_types=len(types),
                    best_score=round(max(scores), 3) if scores else 0.0,
                    median_score=round(statistics.median(scores), 3) if scores else 0.0,
                    latest_date=latest,
                    evidence_found=sum(1 for r in items if r.found),
                    evidence_expected=len(items),
                    status=status,
                    reason=reason,
                    document_names=docs,
                    linked=list(library.linked(area.id)),
                    stale=stale,
                )
            )
            counts: dict[str, int] = defaultdict(int)
            for e in ex:
                counts[e.source_path] += 1
            heatmap[area.id] = dict(counts)

    # prompt rows
    prompt_rows: list[PromptRow] = []
    for fw_id in library.frameworks:
        for prompt in library.prompts(fw_id):
            ex = [e for e in counted if prompt.id in e.prompts]
            docs = {e.source_path for e in ex}
            types = {e.doc_type for e in ex}
            status, _ = _status(len(ex), len(docs), len(types), rules.prompt)
            best = max(ex, key=lambda e: e.score(prompt.area_id), default=None)
            prompt_rows.append(
                PromptRow(fw_id, prompt.area_id, prompt.id, prompt.text, len(ex), len(docs), status,
                          best.passage_id if best else "")
            )

    status_of = {r.id: r.status for r in area_rows}
    cross_rows = [
        CrosswalkRow(
            kloe=link.kloe or "",
            kloe_status=status_of.get(link.kloe, "") if link.kloe else "",
            qs=link.qs,
            qs_status=status_of.get(link.qs, ""),
            strength=str(getattr(link, "strength", "") or ""),
            rationale=link.rationale,
        )
        for link in library.crosswalk
    ]

    requests = []
    for r in ev_rows:
        if r.found or r.kind == "interview" or r.parent and any(
            x.found for x in ev_rows if x.id == r.parent
        ):
            continue
        if not _applies(r.scope.split(","), trust_type):
            continue
        requests.append(
            {"framework": r.framework, "area": r.area, "id": r.id, "item": r.text,
             "request": r.request, "scope": r.scope, "area_status": status_of.get(r.area, "")}
        )

    enquiries = []
    for row in area_rows:
        if row.status not in ("absent", "thin"):
            continue
        area = library.area(row.id)
        for g in getattr(area, "guidance", []) or []:
            if not _applies(getattr(g, "scope", ()) or (), trust_type):
                continue  # a cancer, acute-only or mental-health-only question for another trust type
            enquiries.append({"framework": row.framework, "area": row.id, "status": row.status,
                              "kind": "question", "id": g.id, "text": g.text})
        for p in prompt_rows:
            if p.area == row.id and p.status in ("absent", "thin") and row.framework == "kloe":
                if not _applies(_prompt_scope(library, p.id), trust_type):
                    continue
                enquiries.append({"framework": row.framework, "area": row.id, "status": row.status,
                                  "kind": "prompt", "id": p.id, "text": p.text})
        for r in ev_rows:
            if r.area == row.id and r.kind == "interview":
                enquiries.append({"framework": row.framework, "area": row.id, "status": row.status,
                                  "kind": "interview", "id": r.id, "text": r.text})

    return Coverage(
        areas=area_rows,
        prompts=prompt_rows,
        evidence=ev_rows,
        crosswalk=cross_rows,
        requests=requests,
        enquiries=enquiries,
        excerpts=excerpts,
        heatmap=heatmap,
        documents=doc_list,
        framework_version=library.version,
    )
