"""Review run folders as the app reads them.

A run folder is what ``wellled review`` writes: ``documents.jsonl``,
``passages.jsonl``, ``tags.jsonl`` (with every label's score),
``excerpts.jsonl``, ``coverage.csv``, ``coverage.xlsx``, ``run.json``. The
app serves every run folder directly under ``--runs DIR`` (and DIR itself
when it is one). A run is read once and read again when its files change.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pipeline.labels import PassageRef

__all__ = ["RunInfo", "RunData", "RunCatalog", "find_runs", "RUN_ID"]

logger = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,150}$")
WATCHED = ("passages.jsonl", "tags.jsonl", "excerpts.jsonl", "coverage.csv", "documents.jsonl", "run.json")


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run folder found under the runs directory."""

    id: str
    path: Path
    pack: str
    trust_type: str
    created: str

    @property
    def stamp(self) -> tuple[float, ...]:
        return tuple((self.path / f).stat().st_mtime if (self.path / f).exists() else 0.0 for f in WATCHED)


def _is_run(path: Path) -> bool:
    return (path / "passages.jsonl").is_file() and ((path / "tags.jsonl").is_file()
                                                   or (path / "excerpts.jsonl").is_file())


def _info(path: Path) -> RunInfo:
    meta: dict[str, Any] = {}
    if (path / "run.json").is_file():
        try:
            meta = json.loads((path / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("%s: run.json is not readable JSON", path)
    from datetime import datetime, timezone

    mtime = (path / "passages.jsonl").stat().st_mtime
    return RunInfo(
        id=path.name,
        path=path,
        pack=Path(str(meta.get("pack") or path.name)).name,
        trust_type=str(meta.get("trust_type") or "unknown"),
        created=datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def find_runs(root: str | Path) -> list[RunInfo]:
    """Run folders directly under ``root`` (and ``root`` itself if it is one), by name."""
    base = Path(root)
    found: list[RunInfo] = []
    if _is_run(base):
        found.append(_info(base))
    if base.is_dir():
        for child in sorted(base.iterdir()):
            if child.is_dir() and not child.name.startswith(".") and _is_run(child):
                if not RUN_ID.match(child.name):
                    logger.warning("%s: folder name is not usable as a run id; skipped", child)
                    continue
                found.append(_info(child))
    seen: set[str] = set()
    unique = []
    for r in found:
        if r.id not in seen:
            seen.add(r.id)
            unique.append(r)
    return unique


@dataclass
class RunData:
    """One run's passages, tags, excerpts and coverage, indexed for the pages."""

    info: RunInfo
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    passages: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_document: dict[str, list[str]] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    excerpts: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_area: dict[str, list[str]] = field(default_factory=dict)
    areas: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.info.id

    @classmethod
    def load(cls, info: RunInfo) -> RunData:
        run = cls(info)
        path = info.path
        run.documents = {d["document_id"]: d for d in _jsonl(path / "documents.jsonl")}
        for p in _jsonl(path / "passages.jsonl"):
            pid = str(p["passage_id"])
            run.passages[pid] = p
            run.by_document.setdefault(str(p.get("document_id", "")), []).append(pid)
        for pids in run.by_document.values():
            pids.sort(key=lambda x: int(run.passages[x].get("char_start") or 0))  # stable: file order on ties
            for i, pid in enumerate(pids):
                run.position[pid] = i
        run.tags = {str(t["id"]): t for t in _jsonl(path / "tags.jsonl")}
        scored: dict[str, list[tuple[float, str]]] = {}
        for e in _jsonl(path / "excerpts.jsonl"):
            pid = str(e["passage_id"])
            run.excerpts[pid] = e
            for t in (*e.get("kloe", []), *e.get("qs", [])):
                scored.setdefault(t["id"], []).append((-float(t["score"]), pid))
        if not run.excerpts:  # a run without coverage outputs: excerpts are the tagged passages
            for pid, t in run.tags.items():
                for tag in (*t.get("kloe", []), *t.get("qs", [])):
                    scored.setdefault(tag["id"], []).append((-float(tag["score"]), pid))
        run.by_area = {area: [pid for _, pid in sorted(items)] for area, items in scored.items()}
        if (path / "coverage.csv").is_file():
            with (path / "coverage.csv").open(encoding="utf-8", newline="") as fh:
                run.areas = list(csv.DictReader(fh))
        return run

    # -- per passage ----------------------------------------------------------
    def model_tags(self, pid: str) -> list[dict[str, Any]]:
        """The model's tags on a passage (``{"id", "score", "terms"}``), kloe first."""
        src = self.excerpts.get(pid) or self.tags.get(pid) or {}
        return [*src.get("kloe", []), *src.get("qs", [])]

    def model_labels(self, pid: str) -> tuple[str, ...]:
        return tuple(t["id"] for t in self.model_tags(pid))

    def scores(self, pid: str) -> dict[str, float]:
        """Every label's calibrated score (from tags.jsonl), flattened over frameworks."""
        out: dict[str, float] = {}
        for fw_scores in (self.tags.get(pid, {}).get("scores") or {}).values():
            out.update({k: float(v) for k, v in fw_scores.items()})
        for t in self.model_tags(pid):
            out.setdefault(t["id"], float(t["score"]))
        return out

    def terms(self, pid: str) -> list[str]:
        src = self.excerpts.get(pid) or self.tags.get(pid) or {}
        out: list[str] = []
        for t in self.model_tags(pid):
            out.extend(x for x in t.get("terms", []) if x not in out)
        out.extend(x for x in src.get("why", []) if x not in out)
        return out

    def document(self, pid: str) -> dict[str, Any]:
        p = self.passages.get(pid, {})
        return self.documents.get(str(p.get("document_id", "")), {})

    def ref(self, pid: str) -> PassageRef:
        """The snapshot a label event keeps of this passage."""
        p = self.passages[pid]
        return PassageRef(
            run_id=self.id,
            passage_id=pid,
            text=str(p.get("text", "")),
            doc_type=str(p.get("doc_type") or "other"),
            source=f"{self.id}/{p.get('source_path', '')}",
            trust_type=self.info.trust_type,
            model_labels=self.model_labels(pid),
        )

    def context(self, pid: str, k: int = 3) -> tuple[list[str], list[str]]:
        """Ids of up to ``k`` passages before and after ``pid`` in its document."""
        pids = self.by_document.get(str(self.passages[pid].get("document_id", "")), [])
        i = self.position.get(pid, 0)
        return pids[max(0, i - k):i], pids[i + 1:i + 1 + k]

    def location(self, pid: str) -> str:
        p = self.passages.get(pid, {})
        if p.get("sheet"):
            return f"sheet {p['sheet']}" + (f", row {p['row']}" if p.get("row") else "")
        if p.get("page"):
            end = p.get("page_end")
            return f"page {p['page']}" + (f"–{end}" if end and end != p["page"] else "")
        return str(p.get("location") or "")


class RunCatalog:
    """The runs under a folder, each loaded on first use and reloaded when its files change."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[float, ...], RunData]] = {}

    def list(self) -> list[RunInfo]:
        return find_runs(self.root)

    def get(self, run_id: str) -> RunData | None:
        info = next((r for r in self.list() if r.id == run_id), None)
        if info is None:
            return None
        stamp = info.stamp
        with self._lock:
            hit = self._cache.get(run_id)
            if hit and hit[0] == stamp:
                return hit[1]
        data = RunData.load(info)
        with self._lock:
            self._cache[run_id] = (stamp, data)
        return data
