"""The review_pack flow: a pack in, coverage tables and the report out.

discover files (safe unzip) -> one task per file (extract + split, cached by
content hash and code version) -> write passages and manifest -> classify in
batches -> coverage, tables, report. A file that cannot be read fails its own
task; the flow goes on and the manifest and report list it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Optional

from flows import settings  # noqa: F401  (must come before prefect)
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import TaskRunContext
from prefect.filesystems import LocalFileSystem
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.errors import PipelineError
from pipeline.ingest import FileResult, SourceFile, discover_pack, process_file, write_outputs
from pipeline.outputs import atomic_write_text, remove_stale_temp_files
from pipeline.review import finish_results, plan_sources
from pipeline.limits import Limits

__all__ = ["review_pack", "extract_file", "code_version", "set_progress", "make_task_runner"]

logger = logging.getLogger(__name__)

_PROGRESS: Optional[Callable[[str, str], None]] = None


def set_progress(callback: Optional[Callable[[str, str], None]]) -> None:
    """Register a callback ``(stage, item)`` the flow calls as work finishes (the CLI's progress bar)."""
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


def _extract_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    sf: SourceFile = parameters["source"]
    limits: Limits = parameters["limits"]
    lim = hashlib.sha256(repr(limits).encode()).hexdigest()[:8]
    return f"extract-{sf.sha256 or sf.path_in_pack}-{parameters['version']}-{lim}-{sf.path_in_pack}"


class DocumentFailed(PipelineError):
    """A file of the pack could not be read (its task fails, the flow goes on)."""


def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only when the worker itself broke, not when the file is bad."""
    try:
        state.result()
    except DocumentFailed:
        return False
    except Exception:
        return True
    return False


@task(
    name="extract-file",
    task_run_name="extract {source.path_in_pack}",
    cache_key_fn=_extract_cache_key,
    persist_result=True,
    retries=1,
    retry_delay_seconds=1,
    retry_condition_fn=_retry_transient,
)
def extract_file(source: SourceFile, limits: Limits, version: str) -> FileResult:
    """Extract and split one file in a bounded worker process."""
    result = process_file(source, limits)
    _tick("extract", source.path_in_pack)
    if result.status == "failed":
        raise DocumentFailed(f"{source.path_in_pack}: {result.reason}")
    return result


@task(name="discover")
def discover_task(pack: str, staging: str, limits: Limits) -> list[SourceFile]:
    return discover_pack(Path(pack), Path(staging), limits)


@task(name="write-passages")
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


@flow(name="review_pack", log_prints=False)
def review_pack(
    pack: str,
    out: str,
    model_dir: Optional[str] = None,
    trust_type: Optional[str] = None,
    pack_name: Optional[str] = None,
    limits: Optional[dict[str, Any]] = None,
    redact: bool = True,
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
    """
    started = time.perf_counter()
    run_logger = get_run_logger()
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = remove_stale_temp_files(out_dir)
    if stale:
        run_logger.warning("removed %d half-written file(s) from an earlier run that was stopped", len(stale))
    lim = Limits(**(limits or {}))
    version = code_version()
    files = discover_task(pack, str(out_dir / ".staging"), lim)
    # Extraction results are kept inside the run folder, so a re-run into the
    # same folder re-reads only files that changed. Prefect needs the storage
    # block saved (in its local database) before tasks may use it.
    storage_name = "wellled-cache-" + hashlib.sha256(str(out_dir).encode()).hexdigest()[:16]
    storage = LocalFileSystem(basepath=str(out_dir / ".cache"))
    storage.save(storage_name, overwrite=True)
    extract = extract_file.with_options(result_storage=storage)
    todo, decided = plan_sources(files)
    _tick("discovered", str(len(todo)))
    futures = {sf.path_in_pack: extract.submit(sf, lim, version) for sf in todo}
    results: list[FileResult] = []
    states: dict[str, str] = {}
    for sf in files:
        if sf.path_in_pack in decided:  # refused at discovery, or a byte-for-byte copy of another file
            results.append(decided[sf.path_in_pack])
            continue
        fut = futures[sf.path_in_pack]
        fut.wait()
        state = fut.state
        states[sf.path_in_pack] = state.name
        if state.is_completed():
            results.append(fut.result())
        else:
            err = fut.result(raise_on_failure=False)
            reason = str(err).split(": ", 1)[-1] if isinstance(err, BaseException) else (state.message or "failed")
            run_logger.warning("%s failed: %s", sf.path_in_pack, reason)
            results.append(FileResult(source=sf, status="failed", reason=reason))
    results = finish_results(results, redact=redact)
    written = write_passages_task(results, str(out_dir))
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
        "task_states": states,
        "seconds": round(time.perf_counter() - started, 2),
    }
    atomic_write_text(out_dir / "run.json", json.dumps(summary, indent=2) + "\n")
    return summary
