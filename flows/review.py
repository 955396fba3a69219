"""The review_pack flow: a pack in, coverage tables and the report out.

discover files (safe unzip) -> extract + split (one task per large file, small
files in batches; cached by content hash and code version) -> write passages
and manifest -> classify in batches -> coverage, tables, report. A file that
cannot be read fails alone: its task (or the batch it is in) ends Failed, the
other files go on, and the manifest and report list it.

Caching: every extract task's result is kept in ``<out>/.cache`` (Prefect
result records; a plain path, so no storage block is saved in Prefect's
database) with its cache key's small metadata record in ``<out>/.cache-keys``,
so a look-up reads a few hundred bytes, not the whole result. A batch task is
cached as a whole, and each file in it also has its own record under the
file's own key: when one file of a batch changes, the batch runs again, reads
that file and takes the others from their records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from flows import settings  # noqa: F401  (must come before prefect)
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE, CacheKeyFnPolicy
from prefect.context import FlowRunContext, TaskRunContext
from prefect.futures import as_completed
from prefect.serializers import Serializer
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.transactions import get_transaction
from prefect.utilities.annotations import quote
from pydantic import Field

from pipeline.errors import PipelineError
from pipeline.ingest import (
    SCRATCH_DIR,
    FileResult,
    SourceFile,
    discover_pack,
    process_file,
    remove_stale_scratch,
    write_outputs,
)
from pipeline.outputs import atomic_write_text, remove_stale_temp_files
from pipeline.review import finish_results, plan_sources
from pipeline.limits import Limits

__all__ = [
    "review_pack",
    "extract_files",
    "ExtractBatch",
    "Batching",
    "plan_batches",
    "code_version",
    "set_progress",
    "make_task_runner",
]

logger = logging.getLogger(__name__)

# Bump when what an extract task returns, or how its keys are made, changes: old records are then not read.
CACHE_FORMAT = 2

_PROGRESS: Optional[Callable[[str, str], None]] = None


def set_progress(callback: Optional[Callable[[str, str], None]]) -> None:
    """Register a callback ``(stage, item)`` the flow calls as work finishes (the CLI's progress bar).

    Stages: ``discovered`` (item: number of files to read), ``extract`` (a file's
    extraction is done or was found in the cache; called in the flow's own
    thread, whatever the task runner), ``extracted`` (called in the task
    runner's thread right after a file was read or taken from its record; only
    seen when tasks run in this process), ``classify``, ``report``.
    """
    global _PROGRESS
    _PROGRESS = callback


def _tick(stage: str, item: str) -> None:
    if _PROGRESS is not None:
        try:
            _PROGRESS(stage, item)
        except Exception:  # a progress display must never break a run
            logger.debug("progress callback failed", exc_info=True)


def _source_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def code_version() -> str:
    """Hash of the code that turns a file into passages (ingest, split, records)."""
    root = Path(__file__).resolve().parent.parent / "pipeline"
    files = list((root / "ingest").glob("*.py")) + [root / "split.py", root / "document.py", root / "limits.py"]
    return _source_hash([f for f in files if f.is_file()])


def _short(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def file_cache_key(source: SourceFile, limits: Limits, version: str) -> str:
    """One file's cache key: its bytes, its place in the pack, the code version and the limits."""
    return (f"file-v{CACHE_FORMAT}-{source.sha256 or _short(source.path_in_pack, 64)}-{version}"
            f"-{_short(repr(limits), 8)}-{_short(source.path_in_pack)}")


def _batch_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    sources: list[SourceFile] = parameters["sources"]
    keys = [file_cache_key(sf, parameters["limits"], parameters["version"]) for sf in sources]
    if len(keys) == 1:
        return "task-" + keys[0]
    return f"batch-v{CACHE_FORMAT}-{len(keys)}-" + _short("\n".join(keys), 40)


class RawPickleSerializer(Serializer):
    """Extract results as plain pickles (protocol 5), for result files kept apart from their key records.

    Prefect's default (``pickle``) runs cloudpickle, then base64: on the
    1,000-page pack's FileResults that took 0.16 CPU s and 20.8 MB against
    0.06 CPU s and 15.4 MB for ``pickle.dumps``. FileResults are plain
    dataclasses of our own, so cloudpickle adds nothing. Only for result
    storage with separate key storage (``key_storage``): a result record
    without it is JSON, which cannot hold raw bytes.
    """

    type: str = Field(default="wellled/raw-pickle", frozen=True)

    def dumps(self, obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, blob: bytes) -> Any:
        return pickle.loads(blob)  # our own records, in the run folder, like Prefect's pickle serializer


# --------------------------------------------------------------------------- batching


@dataclass(frozen=True, slots=True)
class Batching:
    """How files are grouped into extract tasks.

    Each task run has a fixed cost: the run created, its states sent to
    Prefect's API server, its result written: about 25 ms of CPU per task
    here, against 50-150 ms to read a small file, and on two cores that CPU
    is taken from the file workers. So small files share a task; large
    files keep a task each. In ``benchmarks/bench_flows.py`` (session 3) the
    sample pack's 11 files took 12% more CPU than the library in these 4
    tasks and 16% in 11 tasks of one file; on the 1,000-page pack these
    defaults (8 tasks) took 5% more.

    Attributes:
        small_file_bytes: Files up to this size are batched. Default 512 KB
            (about 100 PDF pages of the generated pack, or a long DOCX).
        batch_bytes: A batch is planned to hold about this many bytes.
            Default 1 MB.
        batch_files: Most files in one batch. Default 8; 1 turns batching off.
        tasks_per_lane: Small files are split into at least this many batches
            per lane of the task runner (threads or Dask worker threads), so
            lanes that finish early can take more. Default 2.
        per_file_bytes: What a file's fixed cost (its worker process) is worth
            in bytes when batches are balanced. Default 64 KB.
    """

    small_file_bytes: int = 512 * 1024
    batch_bytes: int = 1024 * 1024
    batch_files: int = 8
    tasks_per_lane: int = 2
    per_file_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("small_file_bytes", "batch_bytes", "batch_files", "tasks_per_lane", "per_file_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name in ("small_file_bytes", "per_file_bytes") else 1):
                raise ValueError(f"Batching.{name} must be a positive integer, got {value!r}")


def _weight(sf: SourceFile, batching: Batching) -> int:
    return (sf.size or 0) + batching.per_file_bytes


def plan_batches(files: list[SourceFile], lanes: int, batching: Batching = Batching()) -> list[list[SourceFile]]:
    """Group files into extract tasks, heaviest first.

    Files above ``small_file_bytes`` get a task each. The rest are dealt into
    ``n`` batches, heaviest file first to the lightest batch (so batches weigh
    about the same), where ``n`` is the most of: enough batches for
    ``batch_bytes`` and ``batch_files`` each, and ``tasks_per_lane * lanes``
    (but never more batches than files). Tasks come back heaviest first, the
    order the runner should start them in.
    """
    lanes = max(1, lanes)
    if batching.batch_files <= 1:
        return [[sf] for sf in sorted(files, key=lambda s: (-_weight(s, batching), s.path_in_pack))]
    big = [sf for sf in files if (sf.size or 0) > batching.small_file_bytes]
    small = [sf for sf in files if (sf.size or 0) <= batching.small_file_bytes]
    groups: list[list[SourceFile]] = [[sf] for sf in big]
    if small:
        total = sum(_weight(sf, batching) for sf in small)
        n = max(math.ceil(total / batching.batch_bytes), math.ceil(len(small) / batching.batch_files),
                batching.tasks_per_lane * lanes)
        n = min(n, len(small))
        batches: list[list[SourceFile]] = [[] for _ in range(n)]
        loads = [0] * n
        for sf in sorted(small, key=lambda s: (-_weight(s, batching), s.path_in_pack)):
            open_ = [i for i in range(n) if len(batches[i]) < batching.batch_files] or list(range(n))
            i = min(open_, key=lambda j: (loads[j], j))
            batches[i].append(sf)
            loads[i] += _weight(sf, batching)
        groups += [sorted(b, key=lambda s: s.path_in_pack) for b in batches if b]
    return sorted(groups, key=lambda g: (-sum(_weight(s, batching) for s in g), g[0].path_in_pack))


def _lanes() -> int:
    """How many extract tasks the flow's task runner runs at once (its threads, or its Dask worker threads)."""
    ctx = FlowRunContext.get()
    runner = getattr(ctx, "task_runner", None)
    cpus = os.cpu_count() or 2
    threads = getattr(runner, "_max_workers", None)  # ThreadPoolTaskRunner (sys.maxsize when unbounded)
    if threads is not None:
        return max(1, min(int(threads), cpus))  # each thread drives one worker process
    if hasattr(runner, "cluster_kwargs"):  # prefect_dask.DaskTaskRunner
        try:
            return max(1, sum(runner.client.nthreads().values()))  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - an estimate is enough
            kw = runner.cluster_kwargs or {}  # type: ignore[union-attr]
            return max(1, int(kw.get("n_workers") or cpus) * int(kw.get("threads_per_worker") or 1))
    return 2


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True, slots=True)
class ExtractBatch:
    """What an extract task returns: one result per file, in the order given.

    Attributes:
        results: One :class:`FileResult` per file (``failed`` ones included).
        read: ``path_in_pack`` of the files this task run read; the others came
            from their own cache records (a batch run again because one of
            its files changed). For a task that ended ``Cached`` this is what
            the run that wrote the record read, not the current run.
    """

    results: tuple[FileResult, ...]
    read: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]


def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only when the task itself broke, not when a file is bad.

    A task whose files could not be read still returns their results (a
    Failed state carrying an :class:`ExtractBatch`); that is never retried.
    """
    try:
        value = state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001 - no result at all: something broke around the files
        return True
    return not isinstance(value, ExtractBatch)


def _read_file(sf: SourceFile, limits: Limits, retry: bool, scratch: Optional[str]) -> FileResult:
    """``process_file``, which reports bad input as a failed result and raises only when something broke
    around the file (e.g. no worker process could start). In a batch such an error is tried once more and
    then fails that file alone; a one-file task lets it propagate, and Prefect retries the task."""
    scratch_dir = Path(scratch) if scratch else None
    try:
        return process_file(sf, limits, scratch_dir)
    except Exception as exc:  # noqa: BLE001
        if not retry:
            raise
        logger.warning("reading %s broke (%s: %s); trying once more", sf.path_in_pack, type(exc).__name__, exc)
    try:
        return process_file(sf, limits, scratch_dir)
    except Exception as exc:  # noqa: BLE001 - one file's trouble must not take its batch mates with it
        logger.exception("reading %s failed", sf.path_in_pack)
        return FileResult(sf, "failed", f"internal error ({type(exc).__name__}: {exc})")


@task(
    name="extract-files",
    task_run_name="extract {label}",
    persist_result=True,
    retries=1,
    retry_delay_seconds=1,
    retry_condition_fn=_retry_transient,
)
def extract_files(sources: list[SourceFile], limits: Limits, version: str, label: str = "",
                  scratch: Optional[str] = None) -> Any:
    """Extract and split each file in its own bounded worker process, one after another.

    In a batch (more than one file), each file's result is also kept under
    the file's own cache key, and a file whose record exists is not read
    again. A file that cannot be read does not stop the others: the task
    returns every result, but ends ``Failed`` (message naming the files) and
    is not cached, so the next run tries those files again.

    Args:
        sources: The files, from :func:`pipeline.ingest.discover_pack`.
        limits: Bounds for each worker.
        version: :func:`code_version` (part of the cache keys).
        label: The task run's name (the file, or the batch's first file and count).
        scratch: Folder for the file workers' hand-over files (inside the run folder).

    Returns:
        An :class:`ExtractBatch`, or a Failed state carrying one.
    """
    ctx = TaskRunContext.get()
    store = ctx.result_store if (ctx is not None and len(sources) > 1) else None
    results: list[FileResult] = []
    read: list[str] = []
    for sf in sources:
        res: FileResult | None = None
        key = file_cache_key(sf, limits, version)
        if store is not None and store.exists(key):
            try:
                res = store.read(key).result
            except Exception:  # noqa: BLE001 - a damaged record is read again from the file
                logger.warning("cache record of %s unreadable; reading the file again", sf.path_in_pack, exc_info=True)
                res = None
        if res is None:
            res = _read_file(sf, limits, retry=len(sources) > 1, scratch=scratch)
            read.append(sf.path_in_pack)
            if store is not None and res.status != "failed":
                store.write(res, key=key)
        results.append(res)
        _tick("extracted", sf.path_in_pack)
    out = ExtractBatch(tuple(results), tuple(read))
    bad = out.failed
    if bad:
        txn = get_transaction()
        if txn is not None:  # a failed file is tried again next run: keep this task's result out of the cache
            txn.write_on_commit = False
        names = "; ".join(f"{r.source.path_in_pack}: {r.reason}" for r in bad)
        return Failed(message=f"{len(bad)} of {len(sources)} file(s) could not be read: {names}", data=out)
    return out


@task(name="discover")
def discover_task(pack: str, staging: str, limits: Limits) -> list[SourceFile]:
    return discover_pack(Path(pack), Path(staging), limits)


# Not cached (its outputs are files), and the flow passes the results inside quote(): otherwise the engine
# walks every FileResult and passage twice to find upstream futures, and hashes them all for a cache key.
@task(name="write-passages", cache_policy=NO_CACHE)
def write_passages_task(results: list[FileResult], out: str) -> dict[str, Any]:
    write_outputs(results, Path(out))
    return {"files": len(results), "passages": sum(len(r.passages) for r in results if r.status == "ingested")}


@task(name="classify")
def classify_task(out: str, model_dir: Optional[str]) -> dict[str, Any]:
    from pipeline.model import load_model
    from pipeline.review import classify_run

    model = load_model(model_dir)
    n = classify_run(Path(out), model)
    _tick("classify", str(n))
    return {"passages": n, "model": f"{model.name} {model.version}"}


@task(name="coverage-and-report")
def report_task(out: str, pack_name: str, model_label: str, trust_type: Optional[str]) -> dict[str, Any]:
    from pipeline.review import write_review_outputs

    cov = write_review_outputs(Path(out), pack_name=pack_name, model_label=model_label, trust_type=trust_type)
    rows = [
        {"framework": r.framework, "id": r.id, "title": r.title, "passages": r.passages, "documents": r.documents,
         "status": r.status}
        for r in cov.areas
    ]
    thin = [r for r in cov.areas if r.status in ("thin", "absent")]
    try:
        create_table_artifact(key="coverage", table=rows, description=f"Coverage of {pack_name}")
        md = [f"# Thin and absent areas: {pack_name}", ""]
        md += [f"- **{r.id}** {r.title}: {r.status} ({r.reason})" for r in thin] or ["None."]
        md += ["", f"{len(cov.requests)} documents to request from the trust."]
        create_markdown_artifact(key="thin-areas", markdown="\n".join(md), description="Where the pack is thin")
    except Exception:  # artifacts are a convenience for the Prefect UI; never fail a review for them
        logger.warning("could not publish Prefect artifacts", exc_info=True)
    _tick("report", "report.html")
    return {"areas": rows, "thin": [r.id for r in thin], "requests": len(cov.requests)}


def make_task_runner(workers: Optional[int] = None, dask_address: Optional[str] = None) -> Any:
    """The task runner for per-file work.

    Default: two threads (each file is parsed in its own worker process, so
    both cores are used). ``workers=N``: a local Dask cluster of N worker
    processes. ``dask_address``: an existing Dask scheduler.
    """
    if dask_address or workers:
        import dask
        from prefect_dask import DaskTaskRunner

        # our per-file worker processes must be allowed inside Dask's worker processes
        dask.config.set({"distributed.worker.daemon": False})
        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": workers, "processes": True, "threads_per_worker": 1,
                            "dashboard_address": None}
        )
    return ThreadPoolTaskRunner(max_workers=2)


def _label(group: list[SourceFile]) -> str:
    if len(group) == 1:
        return group[0].path_in_pack
    return f"{group[0].path_in_pack} and {len(group) - 1} more"


@flow(name="review_pack", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=2))
def review_pack(
    pack: str,
    out: str,
    model_dir: Optional[str] = None,
    trust_type: Optional[str] = None,
    pack_name: Optional[str] = None,
    limits: Optional[dict[str, Any]] = None,
    redact: bool = True,
    batching: Optional[dict[str, int]] = None,
) -> dict[str, Any]:
    """Review one pack: every output in ``out``; returns a summary.

    Args:
        pack: a folder, a zip or a single file.
        out: the run's output folder (created). Nothing is written outside it.
        model_dir: model folder (default: models/DEFAULT).
        trust_type: acute, mental_health, community or ambulance (filters scoped requests).
        pack_name: name shown in the report (default: the pack's file name).
        limits: overrides of :class:`pipeline.limits.Limits` fields.
        redact: mask personal data (NHS numbers, dates of birth, emails, phones,
            postcodes) in passages, excerpts, reports and exports.
        batching: overrides of :class:`Batching` fields (``{"batch_files": 1}``
            gives every file its own task).

    Returns:
        The summary also written to ``run.json``. ``task_states`` maps each
        file read to how its extraction ended: the state of its task
        (``Completed``, ``Cached``), ``Cached`` for a file that a batch run
        again took from its own record, or ``Failed`` for a file that could
        not be read. ``extract_tasks`` lists each extract task run: its name,
        state, files, and the files it read.
    """
    started = time.perf_counter()
    run_logger = get_run_logger()
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = remove_stale_temp_files(out_dir)
    if stale:
        run_logger.warning("removed %d half-written file(s) from an earlier run that was stopped", len(stale))
    scratch = out_dir / SCRATCH_DIR  # file workers hand results over here, never outside the run folder
    remove_stale_scratch(scratch)
    lim = Limits(**(limits or {}))
    plan = Batching(**(batching or {}))
    version = code_version()
    files = discover_task(pack, str(out_dir / ".staging"), lim)
    # Results are kept inside the run folder, so a re-run into the same folder re-reads only files that
    # changed. Both are plain paths: Prefect writes there with no storage block saved in its database.
    extract = extract_files.with_options(
        result_storage=out_dir / ".cache",
        result_serializer=RawPickleSerializer(),
        cache_policy=CacheKeyFnPolicy(cache_key_fn=_batch_cache_key).configure(key_storage=out_dir / ".cache-keys"),
    )
    todo, decided = plan_sources(files)
    _tick("discovered", str(len(todo)))
    groups = plan_batches(todo, _lanes(), plan)
    futures = {extract.submit(group, lim, version, _label(group), str(scratch)): group for group in groups}
    by_path: dict[str, FileResult] = {}
    states: dict[str, str] = {}
    tasks: list[dict[str, Any]] = []
    for fut in as_completed(list(futures)):
        group = futures[fut]
        fut.wait()  # sets the future's final state (otherwise .state may ask the API, which can lag behind)
        state = fut.state
        value = fut.result(raise_on_failure=False)
        if isinstance(value, ExtractBatch):
            read = set(value.read) if not state.name == "Cached" else set()
            for res in value.results:
                path = res.source.path_in_pack
                by_path[path] = res
                if res.status == "failed":
                    states[path] = "Failed"
                    run_logger.warning("%s failed: %s", path, res.reason)
                else:
                    states[path] = "Completed" if path in read else "Cached"
                _tick("extract", path)
        else:  # the task broke around the files (retries used up): each of its files fails with its reason
            reason = str(value).split(": ", 1)[-1] if isinstance(value, BaseException) else (state.message or "failed")
            read = set()
            for sf in group:
                by_path[sf.path_in_pack] = FileResult(source=sf, status="failed", reason=reason)
                states[sf.path_in_pack] = "Failed"
                run_logger.warning("%s failed: %s", sf.path_in_pack, reason)
                _tick("extract", sf.path_in_pack)
        tasks.append({"task": _label(group), "state": state.name, "files": [sf.path_in_pack for sf in group],
                      "read": sorted(read)})
    remove_stale_scratch(scratch)
    results: list[FileResult] = []
    for sf in files:
        if sf.path_in_pack in decided:  # refused at discovery, or a byte-for-byte copy of another file
            results.append(decided[sf.path_in_pack])
        else:
            results.append(by_path[sf.path_in_pack])
    results = finish_results(results, redact=redact)
    written = write_passages_task(quote(results), str(out_dir))
    classified = classify_task(str(out_dir), model_dir)
    name = pack_name or Path(pack).name
    report = report_task(str(out_dir), name, classified["model"], trust_type)
    summary = {
        "pack": str(pack),
        "pack_name": name,
        "trust_type": trust_type,
        "out": str(out_dir),
        "files": len(results),
        "ingested": sum(1 for r in results if r.status == "ingested"),
        "failed": [{"path": r.source.path_in_pack, "reason": r.reason} for r in results if r.status == "failed"],
        "passages": written["passages"],
        "model": classified["model"],
        "thin": report["thin"],
        "requests": report["requests"],
        "task_states": {sf.path_in_pack: states[sf.path_in_pack] for sf in files if sf.path_in_pack in states},
        "extract_tasks": sorted(tasks, key=lambda t: t["files"][0]),
        "seconds": round(time.perf_counter() - started, 2),
    }
    atomic_write_text(out_dir / "run.json", json.dumps(summary, indent=2) + "\n")
    return summary
