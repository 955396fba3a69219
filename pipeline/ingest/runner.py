"""Read one file in a worker process with a time and a memory bound.

:func:`process_file` starts a worker (multiprocessing "forkserver" where the
platform has it, else "spawn"; never plain fork, which is unsafe in a
threaded parent), which caps its own address space (``RLIMIT_AS``: what it
holds at start plus ``Limits.per_file_memory_mb``) and CPU time, reads the
file with :func:`run_file` and sends the :class:`FileResult` back through a
pipe. The parent kills the worker when ``Limits.per_file_seconds`` pass. A
worker that runs out of memory, crashes or is killed gives a failed result
with a plain reason; :func:`process_file` never raises for bad input.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import pickle
import re
import signal
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.document import SourceFormat
from pipeline.errors import DocumentLoadError, ResourceLimitError, UnsupportedFormatError
from pipeline.ingest.base import EXTENSION_FORMATS, FileResult, SourceFile, get_backend
from pipeline.ingest.detect import detect_format, name_mismatch_warning
from pipeline.limits import Limits

__all__ = ["process_file", "run_file", "peak_rss_mb", "remove_stale_scratch"]

log = logging.getLogger(__name__)

#: Modules the forkserver imports once, so each worker starts warm.
_PRELOAD = [
    "pipeline.ingest.runner",
    "pipeline.ingest.pdf",
    "pipeline.ingest.docx",
    "pipeline.ingest.xlsx",
    "pipeline.ingest.text",
    "pipeline.split",
    "pypdfium2",
    "pdfplumber",
    "docx",
    "openpyxl",
    "charset_normalizer",
]

#: Extensions of documents: unreadable content under these names is "failed", not "skipped".
_DOCUMENT_EXTS = frozenset(EXTENSION_FORMATS) | {
    ".doc", ".dot", ".xls", ".xlsb", ".ppt", ".pptx", ".rtf", ".odt", ".ods", ".odp", ".pages", ".numbers", ".key",
    ".msg", ".pptm", ".ppsx", ".pps", ".dotx", ".dotm", ".xltx", ".xltm",
}  # fmt: skip

_ctx_lock = threading.Lock()
_ctx: Any = None


_IMPORT_RE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.M)


def _main_imports() -> list[str]:
    """Modules the main script imports at its top.

    Each worker re-runs the main script (Python 3.11's forkserver does not
    preload it), so preloading what it imports keeps that re-run cheap, e.g.
    for the ``wellled`` console script, which imports the whole CLI.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or getattr(main, "__spec__", None) is not None:
        return []
    try:
        with open(path, encoding="utf-8", errors="ignore") as fh:
            head = fh.read(4000)
    except OSError:
        return []
    names = [a or b for a, b in _IMPORT_RE.findall(head)]
    return [n for n in dict.fromkeys(names) if n in sys.modules and n != "__main__"]


def _context() -> Any:
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
            ctx = mp.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload(_PRELOAD + _main_imports())
            _ctx = ctx
        return _ctx


def run_file(sf: SourceFile, limits: Limits | None = None) -> FileResult:
    """Read one file in this process: detect, load, split. Never raises for bad input."""
    from pipeline.split import split_passages

    limits = Limits.resolve(limits)
    start = time.perf_counter()

    def done(status: str, reason: str = "", **kw: Any) -> FileResult:
        return FileResult(sf, status, reason, seconds=time.perf_counter() - start, **kw)

    if sf.status is not None:
        return done(sf.status, sf.reason, fmt=sf.fmt)
    if sf.local_path is None:
        return done("failed", sf.reason or "file not available")
    fmt: SourceFormat | None = None
    try:
        size = sf.size or sf.local_path.stat().st_size
        if size > limits.max_file_bytes:
            raise ResourceLimitError(
                f"file is {size / (1 << 20):.1f} MB, over the limit of {limits.max_file_bytes / (1 << 20):.0f} MB (max_file_bytes)"
            )
        fmt = detect_format(sf.local_path, name=sf.path_in_pack)
        if fmt is SourceFormat.ZIP:
            return done("skipped", "zip archive found while reading (not unpacked here)", fmt=fmt.value)
        warning = name_mismatch_warning(sf.path_in_pack, fmt)
        backend = get_backend(fmt)
        doc = backend.load(
            sf.local_path,
            source_path=sf.path_in_pack,
            limits=limits,
            fmt=fmt,
            sha256=sf.sha256 or None,
            warnings=(warning,) if warning else (),
        )
        if not doc.text.strip():
            why = "; ".join(doc.warnings) if doc.warnings else "the file holds no text"
            return done("failed", f"no text found ({why})", document=doc, fmt=fmt.value)
        passages = split_passages(doc)
        if len(passages) > limits.max_passages_per_file:
            passages = passages[: limits.max_passages_per_file]
            doc = replace(
                doc,
                warnings=doc.warnings
                + (f"only the first {limits.max_passages_per_file} passages kept (max_passages_per_file)",),
            )
            passages = [replace(p, doc_type=doc.doc_type) for p in passages]
        return done("ingested", document=doc, passages=passages, fmt=fmt.value)
    except UnsupportedFormatError as exc:
        # A file named as a document is a failure; a picture or a program is skipped.
        status = "failed" if PurePosixPath(sf.path_in_pack).suffix.lower() in _DOCUMENT_EXTS else "skipped"
        return done(status, str(exc), fmt=fmt.value if fmt else None)
    except ResourceLimitError as exc:
        return done("failed", str(exc), fmt=fmt.value if fmt else None)
    except DocumentLoadError as exc:
        return done("failed", str(exc), fmt=fmt.value if fmt else None)
    except MemoryError:
        return done(
            "failed",
            f"ran out of memory (limit {limits.per_file_memory_mb} MB, per_file_memory_mb)",
            fmt=fmt.value if fmt else None,
        )
    except RecursionError:
        return done("failed", "file structure is nested too deeply to read", fmt=fmt.value if fmt else None)
    except Exception as exc:  # noqa: BLE001 - unexpected input must not stop the run
        log.warning("unexpected error reading %s", sf.path_in_pack, exc_info=True)
        return done("failed", f"could not read the file ({type(exc).__name__}: {exc})", fmt=fmt.value if fmt else None)


def _vm_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _set_limits(limits: Limits) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    cap = _vm_bytes() + limits.per_file_memory_mb * (1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ValueError, OSError):
        log.debug("RLIMIT_AS not set", exc_info=True)
    cpu = math.ceil(limits.per_file_seconds) + 5
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    except (ValueError, OSError):
        log.debug("RLIMIT_CPU not set", exc_info=True)


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process in MB (VmHWM; ru_maxrss where /proc is missing).

    ru_maxrss survives exec and fork from the parent, so it can report a
    parent's peak; VmHWM belongs to this process's own address space.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):  # pragma: no cover
        return None


def _usage() -> tuple[float | None, float | None]:
    """(peak resident memory in MB, CPU seconds) of this process."""
    try:
        import resource

        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu: float | None = ru.ru_utime + ru.ru_stime
    except (ImportError, OSError):  # pragma: no cover
        cpu = None
    return peak_rss_mb(), cpu


def _worker(conn: Any, sf: SourceFile, limits: Limits, out_path: str) -> None:
    """Worker body: read the file, write the result to ``out_path``, say "done".

    The result goes through a file, pickled as a stream, so the worker never
    holds a second, serialised copy of a large document in memory.
    """
    _set_limits(limits)
    try:
        result = run_file(sf, limits)
        peak, cpu = _usage()
        result = replace(result, peak_rss_mb=peak, cpu_seconds=cpu)
        with open(out_path, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        del result
        conn.send("done")
    except MemoryError:
        try:
            conn.send(FileResult(sf, "failed", f"ran out of memory (limit {limits.per_file_memory_mb} MB, per_file_memory_mb)"))
        except Exception:  # noqa: BLE001
            pass
    finally:
        conn.close()


_SIGNAL_REASONS = {
    signal.SIGKILL: "worker was killed (SIGKILL), most likely by running out of memory",
    signal.SIGSEGV: "parser crashed (SIGSEGV): the file is malformed or passed the memory limit",
    signal.SIGABRT: "parser aborted (SIGABRT): the file is malformed or passed the memory limit",
    signal.SIGBUS: "parser crashed (SIGBUS): the file is malformed",
    signal.SIGXCPU: "used more CPU time than allowed (per_file_seconds)",
}


#: Name pattern of the worker's hand-over files (see :func:`process_file`).
SCRATCH_PATTERN = "wellled-ingest-*.pkl"


def _scratch_file(scratch_dir: Path | None) -> str:
    """A new empty hand-over file: in ``scratch_dir`` when given and usable, else the system's temp folder."""
    if scratch_dir is not None:
        try:
            Path(scratch_dir).mkdir(parents=True, exist_ok=True)
            fd, path = tempfile.mkstemp(prefix="wellled-ingest-", suffix=".pkl", dir=scratch_dir)
            os.close(fd)
            return path
        except OSError as exc:  # e.g. a Dask worker on another machine without the run folder
            log.debug("scratch folder %s not usable (%s); using the system temp folder", scratch_dir, exc)
    fd, path = tempfile.mkstemp(prefix="wellled-ingest-", suffix=".pkl")
    os.close(fd)
    return path


def remove_stale_scratch(scratch_dir: Path) -> int:
    """Delete hand-over files a killed run left in ``scratch_dir`` (and the folder when empty); return how many."""
    folder = Path(scratch_dir)
    n = 0
    if folder.is_dir():
        for p in folder.glob(SCRATCH_PATTERN):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else's file) or in use
            pass
    return n


def process_file(sf: SourceFile, limits: Limits | None = None, scratch_dir: Path | None = None) -> FileResult:
    """Read one file in a separate, bounded worker process.

    The worker hands its result over in a pickle file it writes, named
    ``wellled-ingest-*.pkl``, deleted as soon as it is read. Give
    ``scratch_dir`` (a folder inside the run's output folder) so that even a
    run killed before the clean-up leaves nothing outside its output folder.

    Args:
        sf: The file (from :func:`pipeline.ingest.discover_pack`). A file whose
            status discovery already set is returned as is, without a worker.
        limits: Bounds; ``per_file_seconds`` and ``per_file_memory_mb`` apply
            to the worker.
        scratch_dir: Folder for the hand-over file (created when missing).
            Default: the system's temp folder.

    Returns:
        A :class:`FileResult`; "failed" with a plain reason for bad input,
        time-outs, memory exhaustion and crashes.
    """
    limits = Limits.resolve(limits)
    if sf.status is not None or sf.local_path is None:
        return run_file(sf, limits)
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file and not os.path.exists(main_file):  # e.g. a script read from stdin: workers cannot start
        log.warning("no worker process (main script %r is not a file); reading %s in this process", main_file, sf.path_in_pack)
        return run_file(sf, limits)
    start = time.perf_counter()
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    out_path = _scratch_file(scratch_dir)
    proc = ctx.Process(target=_worker, args=(send, sf, limits, out_path), daemon=True, name=f"ingest:{sf.path_in_pack[-40:]}")
    try:
        proc.start()
    except (AssertionError, OSError) as exc:  # e.g. inside a daemonic process
        log.warning("no worker process (%s); reading %s in this process", exc, sf.path_in_pack)
        send.close()
        recv.close()
        os.unlink(out_path)
        return run_file(sf, limits)
    send.close()
    result: FileResult | None = None
    reason = ""
    exitcode: int | None = None
    try:
        deadline = time.perf_counter() + limits.per_file_seconds  # from the worker's start (not the forkserver's)
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                reason = (
                    f"timed out after {limits.per_file_seconds:g} s (per_file_seconds): "
                    "the parser did not finish, so the worker was stopped"
                )
                break
            if recv.poll(min(remaining, 0.25)):
                try:
                    message = recv.recv()
                except (EOFError, OSError):
                    message = None
                if message == "done":
                    with open(out_path, "rb") as fh:
                        result = pickle.load(fh)  # written by our own worker, just now
                elif isinstance(message, FileResult):
                    result = message
                break
            if not proc.is_alive() and not recv.poll(0):
                break
    finally:
        if proc.is_alive() and result is None:
            proc.kill()
        proc.join(10)
        if proc.is_alive():  # pragma: no cover - should not happen after kill
            proc.kill()
            proc.join(5)
        exitcode = proc.exitcode
        recv.close()
        try:
            os.unlink(out_path)
        except OSError:
            pass
        try:
            proc.close()
        except ValueError:  # pragma: no cover
            pass
    seconds = time.perf_counter() - start
    if result is not None:
        return replace(result, seconds=seconds)
    if not reason:
        reason = _exit_reason(exitcode, limits)
    return FileResult(sf, "failed", reason, seconds=seconds)


def _exit_reason(code: int | None, limits: Limits) -> str:
    if code is None:
        return "worker stopped without a result"
    if code < 0:
        try:
            sig = signal.Signals(-code)
        except ValueError:
            return f"worker stopped by signal {-code}"
        text = _SIGNAL_REASONS.get(sig, f"worker stopped by {sig.name}")
        if sig in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT):
            text += f" (memory limit {limits.per_file_memory_mb} MB)"
        return text
    return f"worker exited with code {code} without a result"

