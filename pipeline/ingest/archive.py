"""Unpack zip archives safely.

Entry names are never used as file-system paths: each member is written to
``staging/<nnnnn>/<safe name>``, so ``..``, absolute paths, drive letters and
symbolic links cannot reach outside the staging folder; such entries are
refused (and listed) all the same. Bounds from :class:`~pipeline.limits.Limits`
stop zip bombs: total expanded bytes and entry count (shared by nested zips),
per-member size and expansion ratio, and nesting depth. Bytes are counted as
they are written, so a member that lies about its size is caught too.

Every member appears in the result: unpacked (to be read), refused with a
reason (``status="failed"``), or skipped (system files such as
``__MACOSX/`` or ``.DS_Store``); entries past the entry limit are summed up
in one row.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pipeline.ingest.base import SourceFile
from pipeline.ingest.detect import is_zip_archive
from pipeline.limits import Limits

__all__ = ["ZipBudget", "unpack_zip", "safe_file_name", "is_system_file"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SYSTEM_NAMES = {".ds_store", "thumbs.db", "desktop.ini", ".localized"}
_SAFE_CHARS_RE = re.compile(r"[^A-Za-z0-9._()\- ]+")


@dataclass(slots=True)
class ZipBudget:
    """What one top-level zip (and the zips inside it) has used so far."""

    entries: int = 0
    bytes: int = 0
    counter: itertools.count = field(default_factory=itertools.count)


def safe_file_name(name: str, limit: int = 100) -> str:
    """A file name safe on any file system, keeping the extension."""
    base = PurePosixPath(name.replace("\\", "/")).name or "file"
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = _SAFE_CHARS_RE.sub("_", stem).strip(" .") or "file"
    ext = _SAFE_CHARS_RE.sub("", ext)[:10]
    stem = stem[: max(1, limit - len(ext) - 1)]
    return f"{stem}.{ext}" if ext else stem


def is_system_file(path_in_pack: str) -> bool:
    """Files made by operating systems or Office, not by the trust."""
    parts = path_in_pack.split("/")
    name = parts[-1].lower()
    return (
        "__MACOSX" in parts
        or name in _SYSTEM_NAMES
        or name.startswith("~$")
        or name.startswith("._")
    )


def _decode_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:  # not flagged UTF-8: zipfile read it as cp437
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def _check_name(name: str) -> tuple[str, str | None]:
    """(normalised member path, problem or None)."""
    if any(ord(ch) < 32 for ch in name):
        return re.sub(r"[\x00-\x1f]", "?", name), "control characters in zip entry name"
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        return n, "absolute path in zip entry (refused)"
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if ".." in parts:
        return n, "path traversal ('..') in zip entry (refused)"
    if not parts:
        return n, "empty zip entry name"
    return "/".join(parts), None


def _unique(shown: str, seen: dict[str, int]) -> str:
    """``shown``, or ``shown (2)``, ``shown (3)`` ... for later entries of the same name.

    A zip may hold two entries with one name (or names that only differ by
    ``\\`` or ``./``); each is a separate input and needs its own row.
    """
    n = seen.get(shown, 0) + 1
    seen[shown] = n
    if n == 1:
        return shown
    stem, dot, ext = shown.rpartition(".")
    if not dot or "/" in ext:
        stem, ext = shown, ""
    candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
    while candidate in seen:  # a real entry already has that name
        n += 1
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
    seen[candidate] = 1
    return candidate


def _mb(n: float) -> str:
    return f"{n / (1 << 20):.1f} MB" if n < (1 << 30) else f"{n / (1 << 30):.2f} GB"


def unpack_zip(
    zip_path: Path,
    path_in_pack: str,
    staging: Path,
    limits: Limits,
    *,
    depth: int = 1,
    budget: ZipBudget | None = None,
    sha256: str = "",
    size: int = 0,
    container: str | None = None,
) -> list[SourceFile]:
    """Unpack a zip into ``staging``: its own row first, then one per member.

    Args:
        zip_path: The zip on disk.
        path_in_pack: Its path in the pack; members are named under it.
        staging: Folder to write members into (created if needed).
        limits: Bounds to enforce.
        depth: 1 for a zip found in the pack, 2 for a zip inside it, ...
        budget: Bytes and entries already used by enclosing zips.
        sha256, size: Of the zip itself, for its row.
        container: ``path_in_pack`` of the zip holding this one.

    Returns:
        SourceFiles: the zip (``is_archive=True``, status "skipped", or
        "failed" when it could not be opened), then its members in order.
    """
    budget = budget or ZipBudget()

    def zip_row(status: str, reason: str) -> SourceFile:
        return SourceFile(
            path_in_pack, zip_path, sha256, size, status=status, reason=reason, container=container, is_archive=True, fmt="zip"
        )

    if depth > limits.max_zip_depth:
        return [zip_row("failed", f"zip nested {depth} deep, over the limit of {limits.max_zip_depth} (max_zip_depth); not opened")]
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return [zip_row("failed", f"corrupt zip archive ({exc})")]
    rows: list[SourceFile] = []
    unpacked = refused = 0
    seen: dict[str, int] = {}
    with zf:
        try:
            infos = [i for i in zf.infolist() if not i.is_dir()]
        except Exception as exc:  # noqa: BLE001
            return [zip_row("failed", f"corrupt zip archive ({exc})")]
        for k, info in enumerate(infos):
            raw_name = _decode_name(info)
            member, problem = _check_name(raw_name)
            shown = _unique(f"{path_in_pack}/{member}", seen)
            if budget.entries >= limits.max_zip_entries:
                left = len(infos) - k
                rows.append(
                    SourceFile(
                        f"{path_in_pack}/<{left} more entries>",
                        None,
                        size=sum(i.file_size for i in infos[k:]),
                        status="failed",
                        reason=f"{left} entries not unpacked: over the limit of {limits.max_zip_entries} entries (max_zip_entries)",
                        container=path_in_pack,
                    )
                )
                refused += left
                break
            budget.entries += 1

            def refuse(reason: str, status: str = "failed", _shown: str = shown, _info: zipfile.ZipInfo = info) -> None:
                nonlocal refused
                refused += 1
                rows.append(SourceFile(_shown, None, size=_info.file_size, status=status, reason=reason, container=path_in_pack))

            if problem:
                refuse(problem)
                continue
            if is_system_file(member):
                refuse("system file (not a trust document)", status="skipped")
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                refuse("symbolic link in zip (not followed)")
                continue
            if info.flag_bits & 0x1:
                refuse("encrypted zip entry (password required)")
                continue
            if info.file_size == 0:
                refuse("empty file (0 bytes)")
                continue
            if info.file_size > limits.max_file_bytes:
                refuse(f"expands to {_mb(info.file_size)}, over the limit of {_mb(limits.max_file_bytes)} (max_file_bytes)")
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > (1 << 20) and ratio > limits.max_zip_ratio:
                refuse(
                    f"compression ratio {ratio:,.0f}:1 is over the limit of {limits.max_zip_ratio:g}:1 "
                    "(max_zip_ratio): likely a zip bomb"
                )
                continue
            if budget.bytes + info.file_size > limits.max_zip_total_bytes:
                refuse(
                    f"unpacking would pass {_mb(limits.max_zip_total_bytes)} in total for this zip "
                    "(max_zip_total_bytes): likely a zip bomb"
                )
                continue
            target_dir = staging / f"{next(budget.counter):05d}"
            target_dir.mkdir(parents=True, exist_ok=True)
            target = target_dir / safe_file_name(member)
            digest = hashlib.sha256()
            written = 0
            error: str | None = None
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > info.file_size or budget.bytes + written > limits.max_zip_total_bytes:
                            error = "member expands past its declared size or the zip's total limit: likely a zip bomb"
                            break
                        digest.update(chunk)
                        dst.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
                error = f"corrupt zip entry ({type(exc).__name__}: {exc})"
            if error:
                target.unlink(missing_ok=True)
                refuse(error)
                continue
            budget.bytes += written
            unpacked += 1
            sha = digest.hexdigest()
            if is_zip_archive(target):
                rows.extend(
                    unpack_zip(
                        target,
                        shown,
                        staging,
                        limits,
                        depth=depth + 1,
                        budget=budget,
                        sha256=sha,
                        size=written,
                        container=path_in_pack,
                    )
                )
            else:
                rows.append(SourceFile(shown, target, sha, written, container=path_in_pack))
    total = unpacked + refused
    reason = f"zip archive: {unpacked} of {total} entries unpacked (listed separately)"
    return [zip_row("skipped", reason), *rows]
