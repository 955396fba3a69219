"""A whole pack: find every input, read each in a bounded worker, write outputs.

:func:`discover_pack` lists every input (files, zips, zip members, refused
members, system files) as a :class:`SourceFile`; :func:`ingest_pack` reads
them over a pool of workers (one process per file, ``workers`` at a time,
largest file first so the pool is not left waiting on a big file started last),
skips the watch flow's upload marker files (``UPLOAD_COMPLETE``,
``.complete``: status "skipped", reason "upload marker"),
marks duplicates (same bytes -> status "duplicate"; the same passage text in
two documents -> ``Passage.duplicate_of``) and writes ``passages.jsonl``,
``documents.jsonl``, ``manifest.json`` and ``manifest.csv``, each atomically.
The manifest has one row per input; nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from pipeline.errors import DocumentLoadError
from pipeline.ingest.archive import ZipBudget, is_system_file, unpack_zip
from pipeline.ingest.base import MANIFEST_FIELDS, FileResult, PackResult, SourceFile, file_sha256
from pipeline.ingest.detect import is_zip_archive
from pipeline.ingest.runner import process_file, remove_stale_scratch
from pipeline.limits import Limits
from pipeline.uploads import MARKERS

__all__ = [
    "check_pack", "discover_pack", "ingest_pack", "write_outputs", "mark_duplicate_passages", "ProgressCallback",
    "SCRATCH_DIR",
]

log = logging.getLogger(__name__)

#: Files the watch flow's uploaders drop in a pack folder to say it is complete
#: (:data:`pipeline.uploads.MARKERS`): skipped, not read as documents.
_UPLOAD_MARKERS = frozenset(m.lower() for m in MARKERS)

#: Folder inside the output folder where file workers hand their results over.
SCRATCH_DIR = ".work"

#: Called after each input is done: (result, inputs done, inputs in all).
ProgressCallback = Callable[[FileResult, int, int], None]


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def _shown_name(rel: str) -> str:
    """A path in the pack as text that can be written anywhere (UTF-8, JSON, CSV, logs).

    A name whose bytes are not UTF-8 (e.g. Latin-1 from an old Windows share)
    comes from the file system with surrogate escapes, which no UTF-8 writer
    accepts; its bad bytes are shown as ``\\xe9`` instead. The file is still
    opened by its real path.
    """
    try:
        rel.encode("utf-8")
        return rel
    except UnicodeEncodeError:
        return os.fsencode(rel).decode("utf-8", errors="backslashreplace")


def _walk(pack: Path, exclude: list[Path]) -> Iterable[tuple[Path, str, tuple[str, str] | None]]:
    """(path, path in pack, (status, reason) when not to be read), not following links.

    A folder that cannot be listed (no permission) is a failed row of its
    own, so the files it hides are not dropped silently.
    """
    errors: list[OSError] = []
    for root, dirs, files in os.walk(pack, onerror=errors.append, followlinks=False):
        yield from _unlisted(pack, errors)
        root_p = Path(root)
        keep = []
        for d in sorted(dirs):
            dp = root_p / d
            rel = _shown_name(dp.relative_to(pack).as_posix())
            if any(_inside(dp, ex) for ex in exclude):
                continue
            if dp.is_symlink():
                yield dp, rel, ("skipped", "symbolic link to a folder (not followed)")
            elif d.startswith(".") or d == "__MACOSX":
                yield dp, rel + "/", ("skipped", "hidden or system folder (not read)")
            else:
                keep.append(d)
        dirs[:] = keep
        for f in sorted(files):
            fp = root_p / f
            yield fp, _shown_name(fp.relative_to(pack).as_posix()), None
    yield from _unlisted(pack, errors)


def _unlisted(pack: Path, errors: list[OSError]) -> Iterable[tuple[Path, str, tuple[str, str] | None]]:
    """Rows for the folders os.walk could not list (its ``onerror`` collects them)."""
    while errors:
        exc = errors.pop(0)
        where = Path(exc.filename) if exc.filename else pack
        if where == pack:
            raise DocumentLoadError(f"pack folder unreadable: {pack} ({exc.strerror or exc})") from exc
        try:
            rel = _shown_name(where.relative_to(pack).as_posix()) + "/"
        except ValueError:
            rel = _shown_name(where.as_posix()) + "/"
        yield where, rel, ("failed", f"folder unreadable ({exc.strerror or exc}): the files in it were not read")


def check_pack(pack: Path, out_dir: Path | None = None) -> None:
    """Refuse a pack (and output folder) that no run can use, with a plain reason.

    Cheap checks a command line can make before it starts any work.

    Args:
        pack: A folder, a zip or one file.
        out_dir: The run's output folder (need not exist yet).

    Raises:
        DocumentLoadError: ``pack`` does not exist or is neither a folder nor
            a regular file (e.g. a named pipe); ``out_dir`` is an existing
            file, or is the pack folder itself (its outputs would be read back
            as documents); a path is not valid UTF-8 (it could not be recorded
            in the run's records).
    """
    for what, path in (("pack", pack), ("output folder", out_dir)):
        if path is not None and _shown_name(str(path)) != str(path):
            raise DocumentLoadError(
                f"the {what} path '{_shown_name(str(path))}' is not valid UTF-8 and cannot be recorded: rename it"
            )
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise DocumentLoadError(f"the output folder {out_dir} is an existing file, not a folder")
    _check_usable(Path(pack), None if out_dir is None else Path(out_dir))


def _check_usable(pack: Path, out_dir: Path | None) -> None:
    if not pack.exists():
        raise DocumentLoadError(f"pack not found: {pack}")
    if not pack.is_dir() and not pack.is_file():
        raise DocumentLoadError(f"pack is neither a folder nor a regular file (a pipe or device?): {pack}")
    if out_dir is not None and pack.is_dir() and out_dir.resolve() == pack.resolve():
        raise DocumentLoadError(
            f"the output folder is the pack folder itself ({pack}): its outputs would be read as documents; "
            "choose an output folder outside the pack or in a subfolder of it"
        )


def discover_pack(pack: Path, staging: Path, limits: Limits | None = None) -> list[SourceFile]:
    """Every input of a pack, zips unpacked safely into ``staging``.

    Args:
        pack: A folder, a zip, or a single file.
        staging: Folder for unpacked zip members (created when needed).
        limits: Bounds (zip limits apply here; file limits pre-fail big files).

    Returns:
        One SourceFile per input in pack order; refused or skipped inputs
        have ``status`` and ``reason`` set.

    Raises:
        DocumentLoadError: ``pack`` does not exist, is neither a folder nor a
            regular file (e.g. a named pipe), or is the output folder itself
            (``staging``'s parent), whose outputs would be read back as inputs.
    """
    limits = Limits.resolve(limits)
    pack = Path(pack)
    staging = Path(staging)
    _check_usable(pack, staging.parent)
    counter = itertools.count()
    if pack.is_file():
        entries: Iterable[tuple[Path, str, tuple[str, str] | None]] = [(pack, _shown_name(pack.name), None)]
    else:
        walked = _walk(pack, [staging, staging.parent] if _inside(staging, pack) else [staging])
        entries = sorted(walked, key=lambda e: (e[1].casefold(), e[1]))  # pack order: by path
    out: list[SourceFile] = []
    for path, rel, decided in entries:
        if decided:
            out.append(SourceFile(rel, None, status=decided[0], reason=decided[1]))
            continue
        if path.is_symlink():
            out.append(SourceFile(rel, None, status="skipped", reason="symbolic link (not followed)"))
            continue
        if path.name.lower() in _UPLOAD_MARKERS and not pack.is_file():
            out.append(SourceFile(rel, path, size=_size(path), status="skipped", reason="upload marker"))
            continue
        if is_system_file(rel) or path.name.startswith("."):
            out.append(SourceFile(rel, path, size=_size(path), status="skipped", reason="hidden or system file (not a trust document)"))
            continue
        if not path.is_file():
            out.append(SourceFile(rel, None, status="skipped", reason="not a regular file"))
            continue
        size = _size(path)
        if size == 0:
            out.append(SourceFile(rel, path, size=0, status="failed", reason="empty file (0 bytes)"))
            continue
        is_zip = is_zip_archive(path)
        cap = limits.max_zip_total_bytes if is_zip else limits.max_file_bytes
        if size > cap:
            name = "max_zip_total_bytes" if is_zip else "max_file_bytes"
            out.append(
                SourceFile(
                    rel, path, size=size, status="failed",
                    reason=f"file is {size / (1 << 20):.1f} MB, over the limit of {cap / (1 << 20):.0f} MB ({name})",
                )
            )  # fmt: skip
            continue
        try:
            sha = file_sha256(path)
        except OSError as exc:
            out.append(SourceFile(rel, path, size=size, status="failed", reason=f"unreadable file ({exc})"))
            continue
        if is_zip:
            out.extend(unpack_zip(path, rel, staging, limits, budget=ZipBudget(counter=counter), sha256=sha, size=size))
        else:
            out.append(SourceFile(rel, path, sha, size))
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


_NORM_RE = re.compile(r"\s+")


def mark_duplicate_passages(results: list[FileResult], min_chars: int = 20) -> list[FileResult]:
    """Set ``duplicate_of`` on passages whose text appeared in an earlier document.

    Text is compared case-folded with whitespace collapsed; passages shorter
    than ``min_chars`` are not marked. Repeats inside one document are not
    duplicates.
    """
    seen: dict[str, tuple[str, str]] = {}
    out: list[FileResult] = []
    for res in results:
        if res.status != "ingested" or not res.passages:
            out.append(res)
            continue
        changed = False
        new = []
        for p in res.passages:
            key = _NORM_RE.sub(" ", p.text).strip().casefold()
            if len(key) < min_chars:
                new.append(p)
                continue
            first = seen.get(key)
            if first is None:
                seen[key] = (p.passage_id, p.document_id)
                new.append(p)
            elif first[1] != p.document_id and p.duplicate_of != first[0]:
                new.append(replace(p, duplicate_of=first[0]))
                changed = True
            else:
                new.append(p)
        out.append(replace(res, passages=new) if changed else res)
    return out


def ingest_pack(
    pack_path: Path,
    out_dir: Path,
    limits: Limits | None = None,
    workers: int = 2,
    progress: ProgressCallback | None = None,
) -> PackResult:
    """Discover, read and split a whole pack; write its outputs to ``out_dir``.

    Args:
        pack_path: A folder, a zip or one file.
        out_dir: Output folder (created); zips are unpacked into
            ``out_dir/staging``.
        limits: Bounds for each file and for zips.
        workers: Files read at once (each in its own worker process).
        progress: Called after each input with (result, done, total).

    Returns:
        A :class:`PackResult` with one FileResult per input, in pack order.

    Raises:
        DocumentLoadError: ``pack_path`` does not exist.
    """
    limits = Limits.resolve(limits)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = discover_pack(Path(pack_path), out_dir / "staging", limits)
    total = len(files)
    results: list[FileResult | None] = [None] * total
    first_by_sha: dict[str, str] = {}
    todo: list[int] = []
    done = 0
    for i, sf in enumerate(files):
        if sf.status is not None:
            results[i] = FileResult(sf, sf.status, sf.reason, fmt=sf.fmt)
        elif sf.sha256 and sf.sha256 in first_by_sha:
            first = first_by_sha[sf.sha256]
            results[i] = FileResult(sf, "duplicate", f"same content as {first}", duplicate_of=first)
        else:
            if sf.sha256:
                first_by_sha[sf.sha256] = sf.path_in_pack
            todo.append(i)
            continue
        done += 1
        if progress:
            progress(results[i], done, total)  # type: ignore[arg-type]
    # Largest first: a big PDF started last would leave one worker reading it
    # alone while the other sits idle. Results keep pack order.
    todo.sort(key=lambda i: -(files[i].size or 0))
    scratch = out_dir / SCRATCH_DIR  # the workers' hand-over files stay inside the output folder
    remove_stale_scratch(scratch)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        futures = {pool.submit(process_file, files[i], limits, scratch): i for i in todo}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a bug must not lose the run
                log.exception("reading %s failed", files[i].path_in_pack)
                res = FileResult(files[i], "failed", f"internal error ({type(exc).__name__}: {exc})")
            results[i] = res
            done += 1
            if progress:
                progress(res, done, total)
    remove_stale_scratch(scratch)
    final = mark_duplicate_passages([r for r in results if r is not None])
    pack_result = PackResult(final, out_dir, time.perf_counter() - start)
    write_outputs(final, out_dir)
    return pack_result


def _atomic_write(path: Path, write: Callable[[io.TextIOBase], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_outputs(results: list[FileResult], out_dir: Path) -> dict[str, Path]:
    """Write passages.jsonl, documents.jsonl, manifest.json and manifest.csv.

    Each file is written to a temporary name and renamed into place, so a
    reader never sees half a file.

    Returns:
        The paths written, by name.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "passages": out_dir / "passages.jsonl",
        "documents": out_dir / "documents.jsonl",
        "manifest_json": out_dir / "manifest.json",
        "manifest_csv": out_dir / "manifest.csv",
    }
    ingested = [r for r in results if r.status == "ingested" and r.document is not None]

    def passages(fh: io.TextIOBase) -> None:
        for r in ingested:
            for p in r.passages:
                fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")

    def documents(fh: io.TextIOBase) -> None:
        for r in ingested:
            fh.write(json.dumps(r.document.to_dict(), ensure_ascii=False) + "\n")  # type: ignore[union-attr]

    rows = [r.manifest_row() for r in results]

    def manifest_json(fh: io.TextIOBase) -> None:
        json.dump(rows, fh, ensure_ascii=False, indent=1)
        fh.write("\n")

    def manifest_csv(fh: io.TextIOBase) -> None:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_FIELDS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    _atomic_write(paths["passages"], passages)
    _atomic_write(paths["documents"], documents)
    _atomic_write(paths["manifest_json"], manifest_json)
    _atomic_write(paths["manifest_csv"], manifest_csv)
    return paths
