"""The well-led frameworks as data: pydantic schema and loader for ``framework/``.

Every downstream stage (classifier labels, key-evidence tagging, coverage,
report wording) reads the frameworks through :func:`load_library`. The data
lives in YAML files in one directory; each file says what it is with a
top-level ``kind``:

- ``kind: framework``: one framework (``kloe.yaml``, ``qs.yaml``; a third
  framework is one more file, no code).
- ``kind: crosswalk``: links between ``kloe`` and ``qs`` areas.
- ``kind: vocabulary``: phrases and acronyms that signal areas and key evidence.
- anything else (e.g. ``kind: coverage_rules``) is kept raw for
  :meth:`Library.extra`; kinds we do not know are logged, not fatal.

Every file is validated against the models below (``extra="forbid"``), then
cross-references are checked (ids unique, crosswalk and vocabulary ids exist).
A problem raises :class:`~pipeline.errors.FrameworkError` naming the file, the
path inside it and what is wrong, e.g.::

    framework/vocabulary.yaml: terms[12].evidence[0]: unknown key-evidence id 'W3.ftps-policy'

Example:
    >>> lib = load_library()
    >>> lib.area("W3").report_subheading
    'Culture'
    >>> lib.linked("W3")[:2]
    ['shared-direction-and-culture', 'freedom-to-speak-up']
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from pipeline.document import DocType
from pipeline.errors import FrameworkError

__all__ = [
    "Area",
    "Change",
    "Crosswalk",
    "CrosswalkLink",
    "EvidenceItem",
    "Framework",
    "GuidanceQuestion",
    "InterviewItem",
    "Interviews",
    "Library",
    "PreambleSection",
    "Prompt",
    "Reference",
    "Regulation",
    "ResourceGroup",
    "Section",
    "TextBlock",
    "VocabTerm",
    "Vocabulary",
    "CORE_KINDS",
    "KNOWN_EXTRA_KINDS",
    "ENV_FRAMEWORK_DIR",
    "default_framework_dir",
    "load_library",
    "schema_documents",
    "write_schemas",
]

logger = logging.getLogger(__name__)

ENV_FRAMEWORK_DIR = "WELLLED_FRAMEWORK_DIR"
CORE_KINDS = ("framework", "crosswalk", "vocabulary")
KNOWN_EXTRA_KINDS = ("coverage_rules",)
PRIMARY_FRAMEWORKS = ("kloe", "qs")
_SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"

Scope = Literal["acute", "mental_health", "combined", "cancer", "community", "ambulance"]
EvidenceKind = Literal["document", "interview", "data"]
Relationship = Literal["linked", "may_also_consider"]
Strength = Literal["primary", "secondary"]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
AreaId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]
ItemId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*(\.[A-Za-z0-9][A-Za-z0-9-]*)+$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- #
# Framework files
# --------------------------------------------------------------------------- #


class Prompt(_Model):
    """A prompt under an area: the seed's generic prompt (kloe) or a derived
    "what good looks like" expectation (qs, with ``derived_from`` set)."""

    id: ItemId
    text: Text
    scope: tuple[Scope, ...] = ()
    scope_note: str | None = None
    derived_from: str | None = Field(
        default=None, description="Set when the prompt is our reading of a seed section, not the seed's words."
    )
    note: str | None = None
    _area_id: str | None = PrivateAttr(default=None)

    @property
    def area_id(self) -> str | None:
        """Id of the area this prompt belongs to."""
        return self._area_id

    @property
    def derived(self) -> bool:
        """True when the prompt is our reading of the seed, not its wording."""
        return self.derived_from is not None


class GuidanceQuestion(_Model):
    """A trust-level guidance question (kloe middle column)."""

    id: ItemId
    text: Text
    items: tuple[Text, ...] = Field(default=(), description="Sub-bullets the question lists.")
    scope: tuple[Scope, ...] = ()
    scope_note: str | None = None
    note: str | None = None
    _area_id: str | None = PrivateAttr(default=None)

    @property
    def area_id(self) -> str | None:
        """Id of the area this question belongs to."""
        return self._area_id


class EvidenceItem(_Model):
    """A key-evidence item; ``children`` are the seed's nested sub-items."""

    id: ItemId
    text: Text
    kind: EvidenceKind = "document"
    scope: tuple[Scope, ...] = ()
    scope_note: str | None = None
    derived_from: str | None = Field(
        default=None, description="Set when the item is our reading of a seed section (qs), not a seed list."
    )
    note: str | None = None
    children: tuple[EvidenceItem, ...] = ()
    _area_id: str | None = PrivateAttr(default=None)
    _parent: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _children_under_parent(self) -> EvidenceItem:
        for child in self.children:
            if not child.id.startswith(self.id + "."):
                raise ValueError(f"sub-item id {child.id!r} must start with its parent's id {self.id + '.'!r}")
            child._parent = self.id
        return self

    @property
    def area_id(self) -> str | None:
        """Id of the area this item belongs to."""
        return self._area_id

    @property
    def parent(self) -> str | None:
        """Id of the parent item for a nested sub-item, else None."""
        return self._parent

    def walk(self) -> Iterator[EvidenceItem]:
        """Yield this item, then its sub-items depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


class Reference(_Model):
    """A professional standard, good practice reference or resource."""

    title: Text
    detail: str | None = None
    note: str | None = None
    children: tuple[Reference, ...] = ()


class ResourceGroup(_Model):
    """A titled group of resources (qs "best practice / guidance")."""

    title: Text
    note: str | None = None
    items: tuple[Reference, ...] = Field(min_length=1)


class TextBlock(_Model):
    """A paragraph, with the bullet list that follows it if any."""

    text: Text
    items: tuple[Text, ...] = ()


class Section(_Model):
    """A titled section of paragraphs (qs "further detail and context")."""

    title: Text
    blocks: tuple[TextBlock, ...] = Field(min_length=1)


class PreambleSection(_Model):
    """Framework-level text before the areas."""

    title: Text
    paragraphs: tuple[Text, ...] = ()


class Regulation(_Model):
    """A regulation a quality statement links to."""

    number: int = Field(ge=1)
    title: Text
    relationship: Relationship = "linked"

    @property
    def label(self) -> str:
        """``"Regulation 17: Good governance"``."""
        return f"Regulation {self.number}: {self.title}"


class InterviewItem(_Model):
    """A person or role the inspection team interviews."""

    text: Text
    scope: tuple[Scope, ...] = ()
    scope_note: str | None = None
    note: str | None = None


class Interviews(_Model):
    """Framework-level interview lists."""

    key: tuple[InterviewItem, ...] = ()
    other: tuple[InterviewItem, ...] = ()
    notes: tuple[str, ...] = ()


class Change(_Model):
    """A row of a framework's change log."""

    section: Text
    page: str | None = None
    detail: Text


class Area(_Model):
    """A key line of enquiry (kloe W1-W8) or a quality statement (qs)."""

    id: AreaId
    title: Text
    question: Text = Field(description="The KLOE question; for a quality statement, its we statement.")
    report_subheading: Text = Field(description="Heading used in reports; defaults to the title.")
    we_statement: str | None = None
    note: str | None = None
    prompts: tuple[Prompt, ...] = ()
    guidance: tuple[GuidanceQuestion, ...] = ()
    key_evidence: tuple[EvidenceItem, ...] = ()
    references: tuple[Reference, ...] = ()
    what_good_looks_like: tuple[TextBlock, ...] = ()
    further_detail: tuple[Section, ...] = ()
    resources: tuple[ResourceGroup, ...] = ()
    regulations: tuple[Regulation, ...] = ()
    _framework_id: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "question" not in data and data.get("we_statement"):
                data["question"] = data["we_statement"]
            if "report_subheading" not in data and data.get("title"):
                data["report_subheading"] = data["title"]
        return data

    @model_validator(mode="after")
    def _own_items(self) -> Area:
        prefix = self.id + "."
        for kind, items in (("prompt", self.prompts), ("guidance question", self.guidance)):
            for item in items:
                if not item.id.startswith(prefix):
                    raise ValueError(f"{kind} id {item.id!r} must start with the area id {prefix!r}")
                item._area_id = self.id
        for item in self.key_evidence:
            if not item.id.startswith(prefix):
                raise ValueError(f"key-evidence id {item.id!r} must start with the area id {prefix!r}")
            for node in item.walk():
                node._area_id = self.id
        return self

    @property
    def framework_id(self) -> str | None:
        """Id of the framework this area belongs to."""
        return self._framework_id

    def evidence_items(self) -> list[EvidenceItem]:
        """Key evidence flattened: each item followed by its sub-items."""
        return [node for item in self.key_evidence for node in item.walk()]


class Framework(_Model):
    """One framework file (``kind: framework``)."""

    kind: Literal["framework"]
    id: AreaId
    title: Text
    short_title: str | None = None
    version: Text
    source: Text = Field(description="Seed document the file was encoded from.")
    description: Text
    scopes: dict[Scope, str] = Field(default_factory=dict, description="What each scope value means here.")
    preamble: tuple[PreambleSection, ...] = ()
    changes: tuple[Change, ...] = ()
    interviews: Interviews | None = None
    areas: tuple[Area, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _own_areas(self) -> Framework:
        seen: set[str] = set()
        for area in self.areas:
            if area.id in seen:
                raise ValueError(f"area id {area.id!r} appears twice")
            seen.add(area.id)
            area._framework_id = self.id
        return self


# --------------------------------------------------------------------------- #
# Crosswalk and vocabulary files
# --------------------------------------------------------------------------- #


class CrosswalkLink(_Model):
    """One correspondence between a 2018 area and a quality statement.

    ``kloe: null`` (or ``qs: null``) says an area has no counterpart; the
    rationale says why.
    """

    kloe: AreaId | None = None
    qs: AreaId | None = None
    prompts: tuple[ItemId, ...] = Field(default=(), description="Prompt ids (either framework) the link rests on.")
    strength: Strength
    rationale: Text

    @model_validator(mode="after")
    def _one_side(self) -> CrosswalkLink:
        if self.kloe is None and self.qs is None:
            raise ValueError("a link needs at least one of 'kloe' and 'qs'")
        return self


class Crosswalk(_Model):
    """A crosswalk file (``kind: crosswalk``)."""

    kind: Literal["crosswalk"]
    description: str | None = None
    links: tuple[CrosswalkLink, ...] = Field(min_length=1)


class VocabTerm(_Model):
    """A term trust papers use that signals areas and key evidence.

    ``phrases`` match case-insensitively (on lemmas or lowercase text);
    ``acronyms`` match case-sensitively on token text.
    """

    id: Slug
    canonical: Text
    phrases: tuple[Text, ...] = ()
    acronyms: tuple[Text, ...] = ()
    areas: tuple[AreaId, ...] = Field(min_length=1)
    evidence: tuple[ItemId, ...] = ()
    doc_types: tuple[DocType, ...] = ()
    note: str | None = None

    @model_validator(mode="after")
    def _something_to_match(self) -> VocabTerm:
        if not self.phrases and not self.acronyms:
            raise ValueError("a term needs at least one phrase or acronym")
        return self


class Vocabulary(_Model):
    """A vocabulary file (``kind: vocabulary``)."""

    kind: Literal["vocabulary"]
    description: str | None = None
    terms: tuple[VocabTerm, ...] = Field(min_length=1)


_MODELS: dict[str, type[_Model]] = {"framework": Framework, "crosswalk": Crosswalk, "vocabulary": Vocabulary}


def schema_documents() -> dict[str, dict[str, Any]]:
    """JSON Schema of each file kind, keyed by the file name it is exported to."""
    docs = {}
    for kind, model in _MODELS.items():
        schema = model.model_json_schema()
        docs[f"{kind}.schema.json"] = {"$schema": _SCHEMA_URI, **schema}
    return docs


def _schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: str | Path) -> list[Path]:
    """Write the JSON Schema files into ``directory`` (created if missing).

    Args:
        directory: Where to write, normally ``framework/schema``.

    Returns:
        The paths written.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schema_documents().items():
        path = out / name
        path.write_text(_schema_text(schema), encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- #
# Error messages
# --------------------------------------------------------------------------- #


def _display(path: Path) -> str:
    """A short name for a file in messages: relative to cwd or the repo if possible."""
    resolved = path.resolve()
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        try:
            return resolved.relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def _loc_text(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _id_at(data: Any, loc: tuple[Any, ...]) -> str | None:
    """The ``id`` of the innermost mapping along ``loc`` in the raw data."""
    found = None
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            found = node["id"]
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    if isinstance(node, dict) and isinstance(node.get("id"), str):
        found = node["id"]
    return found


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reason(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "required field missing"
    if kind == "extra_forbidden":
        return "unknown field (not in the schema; check the spelling)"
    message = str(error.get("msg", "invalid value"))
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{message} (got {_short(error.get('input'))})"


def _validation_message(file_label: str, exc: ValidationError, data: Any, limit: int = 10) -> str:
    lines = []
    errors = exc.errors()
    for error in errors[:limit]:
        loc = tuple(error.get("loc", ()))
        line = f"{file_label}: {_loc_text(loc)}: {_reason(error)}"
        item_id = _id_at(data, loc)
        if item_id and item_id not in line:
            line += f" (in {item_id!r})"
        lines.append(line)
    if len(errors) > limit:
        lines.append(f"{file_label}: ... and {len(errors) - limit} more problems")
    return "\n".join(lines)


_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~20x faster


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """Safe loader that rejects a mapping with the same key twice."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path, raw: bytes) -> Any:
    label = _display(path)
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except UnicodeDecodeError as exc:
        raise FrameworkError(f"{label}: (file): not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        reason = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
        raise FrameworkError(f"{label}: {where}: {reason}") from exc


# --------------------------------------------------------------------------- #
# The library
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class Library:
    """All framework data from one directory, validated and indexed.

    Build it with :func:`load_library`. Lookups by id raise
    :class:`FrameworkError` naming the id when it is unknown.
    """

    path: Path
    version: str
    frameworks: Mapping[str, Framework]
    crosswalk: tuple[CrosswalkLink, ...]
    vocabulary: tuple[VocabTerm, ...]
    extras: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict, repr=False)
    _areas: Mapping[str, Area] = field(default_factory=dict, repr=False)
    _evidence: Mapping[str, EvidenceItem] = field(default_factory=dict, repr=False)
    _prompts: Mapping[str, Prompt] = field(default_factory=dict, repr=False)
    _guidance: Mapping[str, GuidanceQuestion] = field(default_factory=dict, repr=False)

    # -- frameworks and areas ------------------------------------------------

    def framework(self, framework_id: str) -> Framework:
        """The framework with this id."""
        try:
            return self.frameworks[framework_id]
        except KeyError:
            raise FrameworkError(
                f"unknown framework id {framework_id!r}; known: {', '.join(self.frameworks)}"
            ) from None

    def area(self, area_id: str) -> Area:
        """The area (W area or quality statement) with this id, in any framework."""
        try:
            return self._areas[area_id]
        except KeyError:
            raise FrameworkError(f"unknown area id {area_id!r}") from None

    def has_area(self, area_id: str) -> bool:
        """Whether an area with this id exists."""
        return area_id in self._areas

    def areas(self, framework_id: str | None = None) -> list[Area]:
        """Areas of one framework, or of all frameworks in order."""
        frameworks = [self.framework(framework_id)] if framework_id else list(self.frameworks.values())
        return [area for fw in frameworks for area in fw.areas]

    def area_ids(self, framework_id: str | None = None) -> list[str]:
        """Area ids of one framework (``["W1", ...]``), or of all."""
        return [area.id for area in self.areas(framework_id)]

    def framework_of(self, area_id: str) -> str:
        """Id of the framework an area belongs to."""
        fid = self.area(area_id).framework_id
        assert fid is not None  # set by Framework validation
        return fid

    # -- items -----------------------------------------------------------------

    def evidence_items(self, framework_id: str | None = None) -> list[EvidenceItem]:
        """Key evidence, flattened (each item followed by its sub-items)."""
        return [item for area in self.areas(framework_id) for item in area.evidence_items()]

    def evidence_item(self, evidence_id: str) -> EvidenceItem:
        """The key-evidence item (or sub-item) with this id."""
        try:
            return self._evidence[evidence_id]
        except KeyError:
            raise FrameworkError(f"unknown key-evidence id {evidence_id!r}") from None

    def prompts(self, framework_id: str | None = None) -> list[Prompt]:
        """Prompts of one framework, or of all, in order."""
        return [p for area in self.areas(framework_id) for p in area.prompts]

    def prompt(self, prompt_id: str) -> Prompt:
        """The prompt with this id."""
        try:
            return self._prompts[prompt_id]
        except KeyError:
            raise FrameworkError(f"unknown prompt id {prompt_id!r}") from None

    def guidance(self, framework_id: str | None = None) -> list[GuidanceQuestion]:
        """Guidance questions of one framework, or of all, in order."""
        return [g for area in self.areas(framework_id) for g in area.guidance]

    def resolve(self, any_id: str) -> tuple[str, Any]:
        """Find what an id names.

        Returns:
            ``(kind, object)`` with kind one of ``framework``, ``area``,
            ``prompt``, ``guidance``, ``evidence``, ``term``.
        """
        if any_id in self.frameworks:
            return "framework", self.frameworks[any_id]
        for kind, index in (
            ("area", self._areas),
            ("prompt", self._prompts),
            ("guidance", self._guidance),
            ("evidence", self._evidence),
        ):
            if any_id in index:
                return kind, index[any_id]
        for term in self.vocabulary:
            if term.id == any_id:
                return "term", term
        raise FrameworkError(f"unknown id {any_id!r}: not a framework, area, prompt, guidance question, key-evidence item or term")

    # -- crosswalk and vocabulary ----------------------------------------------

    def links(self, area_id: str) -> list[CrosswalkLink]:
        """Crosswalk links that mention this area (either side)."""
        self.area(area_id)
        return [link for link in self.crosswalk if area_id in (link.kloe, link.qs)]

    def linked(self, area_id: str) -> list[str]:
        """Ids of the areas in the other framework that correspond to this one.

        ``linked("W3")`` gives quality statement ids; ``linked("freedom-to-speak-up")``
        gives W ids. Primary links come first; an area with no counterpart
        gives ``[]``.
        """
        out: list[str] = []
        ordered = sorted(self.links(area_id), key=lambda link: link.strength != "primary")
        for link in ordered:
            other = link.qs if link.kloe == area_id else link.kloe
            if other is not None and other not in out:
                out.append(other)
        return out

    def terms_for(self, area_or_evidence_id: str) -> list[VocabTerm]:
        """Vocabulary terms that signal an area or a key-evidence item."""
        return [t for t in self.vocabulary if area_or_evidence_id in t.areas or area_or_evidence_id in t.evidence]

    def extra(self, kind: str) -> list[dict[str, Any]]:
        """Raw contents of the files of another kind (e.g. ``coverage_rules``)."""
        return list(self.extras.get(kind, ()))

    # -- export ----------------------------------------------------------------

    def to_export(self) -> list[dict[str, Any]]:
        """The whole library as plain data for other tools.

        A list of frameworks, each ``{id, title, version, source, description,
        interviews, areas}``; each area has ``id``, ``title``, ``question``,
        ``report_subheading``, ``prompts`` and ``guidance`` (``{id, text, ...}``),
        ``key_evidence`` (flattened, each ``{id, text, kind, scope, parent, ...}``
        with sub-items after their parent) and ``crosswalk`` links.
        """
        exported = []
        for fw in self.frameworks.values():
            areas = []
            for area in fw.areas:
                areas.append(
                    {
                        "id": area.id,
                        "framework": fw.id,
                        "title": area.title,
                        "question": area.question,
                        "report_subheading": area.report_subheading,
                        "we_statement": area.we_statement,
                        "prompts": [
                            {
                                "id": p.id,
                                "text": p.text,
                                "scope": list(p.scope),
                                "derived_from": p.derived_from,
                            }
                            for p in area.prompts
                        ],
                        "guidance": [
                            {"id": g.id, "text": g.text, "items": list(g.items), "scope": list(g.scope)}
                            for g in area.guidance
                        ],
                        "key_evidence": [
                            {
                                "id": e.id,
                                "text": e.text,
                                "kind": e.kind,
                                "scope": list(e.scope),
                                "parent": e.parent,
                                "derived_from": e.derived_from,
                            }
                            for e in area.evidence_items()
                        ],
                        "regulations": [
                            {"number": r.number, "title": r.title, "relationship": r.relationship}
                            for r in area.regulations
                        ],
                        "crosswalk": [
                            {
                                "area": link.qs if link.kloe == area.id else link.kloe,
                                "strength": link.strength,
                                "prompts": list(link.prompts),
                                "rationale": link.rationale,
                            }
                            for link in self.links(area.id)
                        ],
                    }
                )
            interviews = None
            if fw.interviews is not None:
                interviews = {
                    "key": [{"text": i.text, "scope": list(i.scope)} for i in fw.interviews.key],
                    "other": [{"text": i.text, "scope": list(i.scope)} for i in fw.interviews.other],
                }
            exported.append(
                {
                    "id": fw.id,
                    "title": fw.title,
                    "version": fw.version,
                    "source": fw.source,
                    "description": fw.description,
                    "library_version": self.version,
                    "interviews": interviews,
                    "areas": areas,
                }
            )
        return exported


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


def default_framework_dir() -> Path:
    """``$WELLLED_FRAMEWORK_DIR`` if set, else ``<repo>/framework``."""
    env = os.environ.get(ENV_FRAMEWORK_DIR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "framework"


_CACHE: dict[tuple[str, tuple[tuple[str, int, int], ...]], Library] = {}


def _framework_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def load_library(path: str | Path | None = None) -> Library:
    """Load, validate and index every framework file in a directory.

    Results are cached per directory and invalidated when a file in it changes.

    Args:
        path: The framework directory. Defaults to ``$WELLLED_FRAMEWORK_DIR`` or
            ``<repo>/framework``.

    Returns:
        The validated :class:`Library`.

    Raises:
        FrameworkError: A file is missing, unreadable, not valid YAML, does not
            match the schema, or refers to an id that does not exist. The
            message names the file, the path inside it and the problem.
    """
    directory = Path(path) if path is not None else default_framework_dir()
    if not directory.is_dir():
        raise FrameworkError(f"{directory}: framework directory not found")
    files = _framework_files(directory)
    if not files:
        raise FrameworkError(f"{_display(directory)}: no framework files (*.yaml) in the directory")
    signature = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    key = (str(directory.resolve()), signature)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    library = _build(directory, files)
    _CACHE[key] = library
    return library


load_library.cache_clear = _CACHE.clear  # type: ignore[attr-defined]


def _build(directory: Path, files: list[Path]) -> Library:
    digest = hashlib.sha256()
    frameworks: list[tuple[Path, Framework]] = []
    crosswalks: list[tuple[Path, Crosswalk]] = []
    vocabularies: list[tuple[Path, Vocabulary]] = []
    extras: dict[str, list[dict[str, Any]]] = {}

    for path in files:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw + b"\0")
        label = _display(path)
        data = _read_yaml(path, raw)
        if not isinstance(data, dict):
            raise FrameworkError(f"{label}: (top level): expected a mapping with a 'kind' key, got {type(data).__name__}")
        kind = data.get("kind")
        if kind is None:
            raise FrameworkError(
                f"{label}: kind: required field missing; expected one of "
                f"{', '.join(CORE_KINDS + KNOWN_EXTRA_KINDS)}"
            )
        model = _MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            if kind not in KNOWN_EXTRA_KINDS:
                logger.warning("%s: kind %r is not a framework file kind; kept as extra data", label, kind)
            extras.setdefault(str(kind), []).append(data)
            continue
        try:
            parsed = model.model_validate(data)
        except ValidationError as exc:
            raise FrameworkError(_validation_message(label, exc, data)) from None
        if isinstance(parsed, Framework):
            frameworks.append((path, parsed))
        elif isinstance(parsed, Crosswalk):
            crosswalks.append((path, parsed))
        else:
            assert isinstance(parsed, Vocabulary)
            vocabularies.append((path, parsed))

    ordered = _order_frameworks(frameworks)
    areas, evidence, prompts, guidance = _index(ordered)
    _check_crosswalks(crosswalks, {fid: fw for fid, (_, fw) in ordered.items()}, areas, prompts)
    _check_vocabulary(vocabularies, areas, evidence)

    return Library(
        path=directory,
        version=digest.hexdigest()[:12],
        frameworks={fid: fw for fid, (_, fw) in ordered.items()},
        crosswalk=tuple(link for _, cw in crosswalks for link in cw.links),
        vocabulary=tuple(term for _, vocab in vocabularies for term in vocab.terms),
        extras={kind: tuple(items) for kind, items in extras.items()},
        _areas=areas,
        _evidence=evidence,
        _prompts=prompts,
        _guidance=guidance,
    )


def _order_frameworks(frameworks: list[tuple[Path, Framework]]) -> dict[str, tuple[Path, Framework]]:
    by_id: dict[str, tuple[Path, Framework]] = {}
    for path, fw in frameworks:
        if fw.id in by_id:
            raise FrameworkError(
                f"{_display(path)}: id: framework id {fw.id!r} is already used by {_display(by_id[fw.id][0])}"
            )
        by_id[fw.id] = (path, fw)
    order = [fid for fid in PRIMARY_FRAMEWORKS if fid in by_id]
    order += sorted((fid for fid in by_id if fid not in PRIMARY_FRAMEWORKS), key=lambda f: by_id[f][0].name)
    return {fid: by_id[fid] for fid in order}


def _index(
    ordered: Mapping[str, tuple[Path, Framework]],
) -> tuple[dict[str, Area], dict[str, EvidenceItem], dict[str, Prompt], dict[str, GuidanceQuestion]]:
    areas: dict[str, Area] = {}
    evidence: dict[str, EvidenceItem] = {}
    prompts: dict[str, Prompt] = {}
    guidance: dict[str, GuidanceQuestion] = {}
    owner: dict[str, str] = {}  # any id -> where it was first defined (for messages)

    def claim(item_id: str, label: str, where: str) -> None:
        if item_id in owner:
            raise FrameworkError(f"{label}: {where}: id {item_id!r} is already used ({owner[item_id]})")
        owner[item_id] = f"{label}: {where}"

    for path, fw in ordered.values():
        label = _display(path)
        for a_i, area in enumerate(fw.areas):
            claim(area.id, label, f"areas[{a_i}].id")
            areas[area.id] = area
            for p_i, prompt in enumerate(area.prompts):
                claim(prompt.id, label, f"areas[{a_i}].prompts[{p_i}].id")
                prompts[prompt.id] = prompt
            for g_i, question in enumerate(area.guidance):
                claim(question.id, label, f"areas[{a_i}].guidance[{g_i}].id")
                guidance[question.id] = question
            for e_i, item in enumerate(area.key_evidence):
                for where, node in _walk_with_path(item, f"areas[{a_i}].key_evidence[{e_i}]"):
                    claim(node.id, label, f"{where}.id")
                    evidence[node.id] = node
    return areas, evidence, prompts, guidance


def _walk_with_path(item: EvidenceItem, where: str) -> Iterator[tuple[str, EvidenceItem]]:
    yield where, item
    for c_i, child in enumerate(item.children):
        yield from _walk_with_path(child, f"{where}.children[{c_i}]")


def _check_crosswalks(
    crosswalks: list[tuple[Path, Crosswalk]],
    frameworks: Mapping[str, Framework],
    areas: Mapping[str, Area],
    prompts: Mapping[str, Prompt],
) -> None:
    if not crosswalks:
        return
    mentioned: set[str] = set()
    for path, cw in crosswalks:
        label = _display(path)
        for l_i, link in enumerate(cw.links):
            sides = {"kloe": link.kloe, "qs": link.qs}
            for side, area_id in sides.items():
                if area_id is None:
                    continue
                if side not in frameworks:
                    raise FrameworkError(f"{label}: links[{l_i}].{side}: no framework with id {side!r} is loaded")
                if area_id not in areas or areas[area_id].framework_id != side:
                    known = ", ".join(a.id for a in frameworks[side].areas)
                    raise FrameworkError(
                        f"{label}: links[{l_i}].{side}: unknown {side} area id {area_id!r} (known: {known})"
                    )
                mentioned.add(area_id)
            linked_areas = {a for a in sides.values() if a is not None}
            for p_i, prompt_id in enumerate(link.prompts):
                if prompt_id not in prompts:
                    raise FrameworkError(f"{label}: links[{l_i}].prompts[{p_i}]: unknown prompt id {prompt_id!r}")
                if prompts[prompt_id].area_id not in linked_areas:
                    raise FrameworkError(
                        f"{label}: links[{l_i}].prompts[{p_i}]: prompt {prompt_id!r} belongs to "
                        f"{prompts[prompt_id].area_id!r}, not to an area of this link ({', '.join(sorted(linked_areas))})"
                    )
    label = _display(crosswalks[0][0])
    for side in PRIMARY_FRAMEWORKS:
        if side not in frameworks:
            continue
        for area in frameworks[side].areas:
            if area.id not in mentioned:
                raise FrameworkError(
                    f"{label}: links: area {area.id!r} of framework {side!r} has no crosswalk link "
                    f"(add one; use '{'qs' if side == 'kloe' else 'kloe'}: null' with a rationale if it has no counterpart)"
                )


def _check_vocabulary(
    vocabularies: list[tuple[Path, Vocabulary]],
    areas: Mapping[str, Area],
    evidence: Mapping[str, EvidenceItem],
) -> None:
    seen: dict[str, str] = {}
    for path, vocab in vocabularies:
        label = _display(path)
        for t_i, term in enumerate(vocab.terms):
            where = f"terms[{t_i}]"
            if term.id in seen:
                raise FrameworkError(f"{label}: {where}.id: term id {term.id!r} is already used ({seen[term.id]})")
            seen[term.id] = f"{label}: {where}"
            for a_i, area_id in enumerate(term.areas):
                if area_id not in areas:
                    raise FrameworkError(f"{label}: {where}.areas[{a_i}]: unknown area id {area_id!r}")
            for e_i, evidence_id in enumerate(term.evidence):
                if evidence_id not in evidence:
                    raise FrameworkError(f"{label}: {where}.evidence[{e_i}]: unknown key-evidence id {evidence_id!r}")
