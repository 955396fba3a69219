"""Uploads waiting in an inbox, and the ledger of what was done with them.

Trusts upload packs into ``inbox/<trust>/<upload>/`` (loose files or a zip,
possibly still being written). An upload is *complete* when it holds a
marker file (``UPLOAD_COMPLETE`` or ``.complete``) or when nothing in it has
changed for ``settle_seconds`` and no file has a partial-download name. Its
*fingerprint* (paths, sizes, modification times) tells a new or changed
upload from one already reviewed.

The ledger (``outbox/.wellled-uploads.json``) is written atomically before a
review starts (``running``) and after it ends (``done`` or ``failed``), so a
crash or restart never loses an upload (a ``running`` entry is picked up
again) and never repeats one (a ``done`` entry with the same fingerprint is
skipped).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["Upload", "find_uploads", "Ledger", "MARKERS", "PARTIAL_SUFFIXES"]

MARKERS = ("UPLOAD_COMPLETE", ".complete")
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".uploading", ".filepart")
LEDGER_NAME = ".wellled-uploads.json"


@dataclass(frozen=True, slots=True)
class Upload:
    """One upload folder found in the inbox."""

    trust: str
    name: str
    path: Path
    fingerprint: str
    complete: bool
    reason: str  # why it is (in)complete
    files: int

    @property
    def key(self) -> str:
        return f"{self.trust}/{self.name}"


def _scan(folder: Path) -> tuple[list[tuple[str, int, int]], bool, float]:
    entries: list[tuple[str, int, int]] = []
    partial = False
    newest = 0.0
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            try:
                st = p.lstat()
            except FileNotFoundError:  # removed while we looked: still being written
                partial = True
                continue
            rel = p.relative_to(folder).as_posix()
            if name in MARKERS:
                continue
            if name.lower().endswith(PARTIAL_SUFFIXES) or name.startswith("~$"):
                partial = True
            entries.append((rel, st.st_size, st.st_mtime_ns))
            newest = max(newest, st.st_mtime)
    return entries, partial, newest


def find_uploads(inbox: str | Path, *, settle_seconds: float = 60.0, now: float | None = None) -> list[Upload]:
    """Every ``<trust>/<upload>`` folder in the inbox, with its fingerprint and completeness."""
    root = Path(inbox)
    now = time.time() if now is None else now
    uploads: list[Upload] = []
    if not root.is_dir():
        return uploads
    for trust in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for up in sorted(p for p in trust.iterdir() if p.is_dir() and not p.name.startswith(".")):
            entries, partial, newest = _scan(up)
            fp = hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:20]
            marker = any((up / m).exists() for m in MARKERS)
            if not entries:
                complete, reason = False, "empty"
            elif partial:
                complete, reason = False, "a file is still being written (partial name)"
            elif marker:
                complete, reason = True, "marker file"
            elif now - newest >= settle_seconds:
                complete, reason = True, f"unchanged for {int(now - newest)} s"
            else:
                complete, reason = False, f"changed {int(now - newest)} s ago (waiting {int(settle_seconds)} s)"
            uploads.append(Upload(trust.name, up.name, up, fp, complete, reason, len(entries)))
    return uploads


class Ledger:
    """What was done with each upload, kept in the outbox."""

    def __init__(self, outbox: str | Path) -> None:
        self.path = Path(outbox) / LEDGER_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                # a torn ledger cannot happen with atomic writes; if edited by hand, start again safely
                self.entries = {}

    def needs_review(self, upload: Upload) -> bool:
        e = self.entries.get(upload.key)
        if e is None:
            return True
        if e.get("fingerprint") != upload.fingerprint:
            return True  # changed since
        return e.get("status") != "done"  # running (crashed) or failed: try again

    def mark(self, upload: Upload, status: str, **extra: Any) -> None:
        self.entries[upload.key] = {
            "fingerprint": upload.fingerprint,
            "status": status,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **extra,
        }
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.entries, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.entries)


def upload_summary(upload: Upload) -> dict[str, Any]:
    d = asdict(upload)
    d["path"] = str(upload.path)
    return d
