"""Flow benchmark (issue 7): what Prefect costs around wellled's per-file work.

Measures, each in a fresh subprocess (so start-up is real and every process
tree's CPU time is its own):

1. Prefect's fixed start-up: process start -> first task running, for a
   trivial flow in local ephemeral mode (no ``PREFECT_API_URL``: Prefect
   starts a temporary API server) and against an already running
   ``prefect server start``.
2. ``review_pack`` on the largest sample pack and on a generated ~1,000-page
   pack (``make_large_pack.py``), COLD (fresh output folder) and WARM (same
   folder again, unchanged pack: every extract task should be Cached), split
   into start-up, discover, per-document work (extract + split), finish +
   write (duplicates, redaction, passages.jsonl), classification, coverage +
   report, and the end of the run. Phases come from the flow's own log
   records ("Beginning flow run", each task's "Finished in state ...") and
   its progress hook, timestamped in the flow process; nothing is added to
   the library.
3. Prefect's overhead per document: the same files through
   ``pipeline.ingest.ingest_pack`` (no Prefect, 2 workers) and through the
   flow's extract tasks (2 threads, the CLI's task runner), plus the library
   calls of the later stages (``finish_results`` + ``write_outputs``,
   ``classify_run``, ``write_review_outputs``) for comparison.

The machine is shared, so every row has CPU time beside wall time: the CPU
seconds of the whole process tree (the process, its worker processes and, in
ephemeral mode, Prefect's temporary server, which is a child process).

Usage::

    .venv/bin/python benchmarks/bench_flows.py                 # everything (about 15-20 min)
    .venv/bin/python benchmarks/bench_flows.py --repeat 1 --startup-runs 3
    .venv/bin/python benchmarks/bench_flows.py --skip-large    # sample pack only
    .venv/bin/python benchmarks/bench_flows.py --profile       # + cProfile of one cold and one warm flow run

Writes ``benchmarks/RESULTS-flows.md`` and ``benchmarks/results/flows.json``
(``--out``/``--json`` to change). PREFECT_HOME is a temp folder; ~/.prefect is
not touched.
"""

from __future__ import annotations

# Keep the top of this file light: worker processes (forkserver) re-run it as __mp_main__.
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent  # in a child: the snapshot the parent made
PY = sys.executable
SRC = REPO  # the tree the children run (the parent sets it to a snapshot of HEAD)
CLK = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------
# CPU time of a process tree
# --------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                    out.extend(int(x) for x in fh.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def _proc_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of a live process (its own and its reaped children's), seconds."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / CLK
    except (OSError, IndexError, ValueError):
        return 0.0


def _role(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    if "uvicorn" in cmd or "prefect" in cmd:
        return "server"
    if "multiprocessing" in cmd:  # the forkserver (with its per-file workers) and the resource tracker
        return "workers"
    return "other"


def tree_cpu_detail() -> dict[str, float]:
    """CPU seconds of this process tree by role.

    ``self``: this process and the children it has reaped; ``server``:
    Prefect's temporary API server; ``workers``: multiprocessing's
    forkserver with the per-file workers it has reaped and those alive, and
    its resource tracker; ``other``: anything else alive below us.
    """
    import resource

    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"self": s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime, "server": 0.0, "workers": 0.0, "other": 0.0}
    stack = [(pid, _role(pid)) for pid in _children(os.getpid())]
    seen: set[int] = set()
    while stack:
        pid, role = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        out[role] += _proc_cpu(pid)
        stack.extend((c, role) for c in _children(pid))
    return out


def tree_cpu() -> float:
    """CPU seconds of this process, its reaped children and every live descendant."""
    return sum(tree_cpu_detail().values())


# --------------------------------------------------------------------------
# Child processes (run as `bench_flows.py --child KIND ...`)
# --------------------------------------------------------------------------


def _t0() -> float:
    return float(os.environ.get("BENCH_T0") or time.time())


def child_startup(result_path: str) -> None:
    """A trivial flow with one task: when does the task run?"""
    t_imp0 = time.time()
    sys.path.insert(0, str(REPO))
    from flows import settings  # noqa: F401  (analytics off, start-up timeout)
    from prefect import flow, task

    t_imported = time.time()
    cpu_imported = tree_cpu()
    mark: dict[str, float] = {}

    @task
    def first() -> int:
        mark["task"] = time.time()
        mark["task_cpu"] = tree_cpu()
        return 1

    @flow
    def trivial() -> int:
        mark["flow"] = time.time()
        return first()

    trivial()
    mark["returned"] = time.time()
    T0 = _t0()
    Path(result_path).write_text(json.dumps({
        "import_s": t_imported - T0, "prefect_import_s": t_imported - t_imp0, "import_cpu_s": cpu_imported,
        "flow_s": mark["flow"] - T0, "task_s": mark["task"] - T0, "task_cpu_s": mark["task_cpu"],
        "returned_s": mark["returned"] - T0,
    }))


def child_flow(pack: str, out: str, result_path: str, profile: str | None = None,
               batching: dict[str, int] | None = None) -> None:
    """Run review_pack as the CLI does (2-thread task runner); record phase times and CPU.

    ``batching``: overrides of ``flows.review.Batching`` (``{"batch_files": 1}``: one task per file)."""
    import logging

    sys.path.insert(0, str(REPO))
    from flows import settings  # noqa: F401
    from flows import review as rf

    T0 = _t0()
    t_imported = time.time()
    cpu_imported = tree_cpu()
    events: list[dict[str, Any]] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.getMessage()
            if not msg.startswith(("Beginning flow run", "Finished in state", "Created task run", "Executing task")):
                return
            cpu = tree_cpu_detail()
            events.append({"t": record.created, "cpu": sum(cpu.values()), "cpu_by": cpu, "logger": record.name,
                           "thread": record.threadName, "task": getattr(record, "task_run_name", None),
                           "msg": msg[:160]})

    # INFO: "Beginning flow run", "Finished in state ..."; DEBUG (task runs): "Created task run", "Executing task"
    # BENCH_TASK_DEBUG=0: task runs at INFO only (no lane timelines), to see what DEBUG records cost
    task_level = logging.DEBUG if os.environ.get("BENCH_TASK_DEBUG", "1") != "0" else logging.INFO
    for name, level in (("prefect.flow_runs", logging.INFO), ("prefect.task_runs", task_level)):
        lg = logging.getLogger(name)
        lg.setLevel(level)
        lg.addHandler(Recorder(level))
    ticks: list[dict[str, Any]] = []
    rf.set_progress(lambda stage, item: ticks.append({"t": time.time(), "cpu": tree_cpu(), "stage": stage,
                                                      "item": item, "thread": __import__("threading").current_thread().name}))
    flow_fn = rf.review_pack.with_options(task_runner=rf.make_task_runner(None, None))
    profs: list[Any] = []
    if profile:
        # cProfile sees one thread; give every thread (task runner, Prefect's event loop threads) its own
        import cProfile
        import threading

        def start_thread_profile(*_: Any) -> None:
            sys.setprofile(None)
            p = cProfile.Profile()
            profs.append(p)
            p.enable()

        threading.setprofile(start_thread_profile)
        main_prof = cProfile.Profile()
        profs.append(main_prof)
        main_prof.enable()
    summary = flow_fn(pack=pack, out=out, batching=batching)
    if profile:
        import pstats

        main_prof.disable()
        threading.setprofile(None)
        stats = pstats.Stats(main_prof)
        for p in profs[1:]:
            try:
                stats.add(p)
            except Exception:  # noqa: BLE001 - a thread's profiler that never ran
                pass
        stats.dump_stats(profile)
    t_done = time.time()
    cpu_done_by = tree_cpu_detail()
    cpu_done = sum(cpu_done_by.values())
    Path(result_path).write_text(json.dumps({
        "T0": T0, "imported": t_imported, "cpu_imported": cpu_imported, "done": t_done, "cpu_done": cpu_done,
        "cpu_done_by": cpu_done_by, "unreaped_cpu": tree_cpu_detail()["workers"],
        "events": events, "ticks": ticks, "batching": batching,
        "summary": {k: summary[k] for k in ("files", "ingested", "passages", "task_states", "extract_tasks",
                                            "seconds", "failed")},
    }, default=str))


def child_lib(pack: str, out: str, result_path: str, later: bool = True) -> None:
    """The same files without Prefect: ingest_pack (2 workers), then the later stages' library calls."""
    sys.path.insert(0, str(REPO))
    from pipeline.ingest import discover_pack, ingest_pack, write_outputs
    from pipeline.limits import Limits
    from pipeline.model import load_model
    from pipeline.review import classify_run, finish_results, write_review_outputs

    T0 = _t0()
    t_imported = time.time()
    cpu_imported = tree_cpu()
    staging = tempfile.mkdtemp(prefix="bench-discover-")
    t = time.perf_counter()
    discover_pack(Path(pack), Path(staging), Limits())
    discover_s = time.perf_counter() - t
    shutil.rmtree(staging, ignore_errors=True)
    ticks: list[dict[str, Any]] = []

    def progress(res: Any, done: int, total: int) -> None:
        ticks.append({"t": time.time(), "cpu": tree_cpu(), "path": res.source.path_in_pack, "status": res.status,
                      "seconds": res.seconds, "worker_cpu": res.cpu_seconds, "pages": res.pages})

    marks: dict[str, tuple[float, float]] = {"start": (time.time(), tree_cpu())}
    pr = ingest_pack(Path(pack), Path(out), workers=2, progress=progress)
    marks["ingest_pack"] = (time.time(), tree_cpu())
    results = finish_results(list(pr.results), redact=True)
    write_outputs(results, Path(out))
    marks["finish_write"] = (time.time(), tree_cpu())
    n = 0
    if later:  # the later stages as library calls (same work as the flow's tasks; once per pack is enough)
        model = load_model(None)
        n = classify_run(Path(out), model)
        marks["classify"] = (time.time(), tree_cpu())
        write_review_outputs(Path(out), pack_name=Path(pack).name, model_label=f"{model.name} {model.version}")
        marks["report"] = (time.time(), tree_cpu())
    # what one FileResult weighs when pickled (Prefect persists it as the extract task's result)
    import pickle

    sizes = sorted(((len(pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)), r.source.path_in_pack)
                    for r in results if r.status == "ingested"), reverse=True)
    dump = os.environ.get("BENCH_DUMP_RESULTS")
    if dump:  # for the `suspects` child: the real FileResults, as the extract tasks return them
        with open(dump, "wb") as fh:
            pickle.dump([r for r in pr.results if r.status == "ingested"], fh, protocol=pickle.HIGHEST_PROTOCOL)
    Path(result_path).write_text(json.dumps({
        "T0": T0, "imported": t_imported, "cpu_imported": cpu_imported, "discover_s": discover_s,
        "marks": marks, "ticks": ticks, "passages": n,
        "files": len(pr.results), "ingested": sum(1 for r in pr.results if r.status == "ingested"),
        "pickle_bytes_total": sum(s for s, _ in sizes), "pickle_bytes_max": sizes[0] if sizes else None,
        "unreaped_cpu": tree_cpu_detail()["workers"],
    }))


def child_suspects(results_pickle: str, result_path: str) -> None:
    """Prefect's per-document costs on the real FileResults, each on its own, outside the engine.

    * a result record made, serialised (the flow's RawPickleSerializer) and written with its key record,
      per FileResult (what persisting costs a COLD extract task) against a plain ``pickle.dumps``;
    * ``exists`` then ``read`` of the record from a fresh store (what a Cached extract task does: the
      look-up reads the small key record, then the read reads the result);
    * the write-passages task's parameter (the list of every FileResult): visiting it (done twice by the
      engine: collecting task inputs and resolving parameters) and hashing it (the default cache policy
      hashes task inputs even though results are not persisted).
    """
    import pickle

    sys.path.insert(0, str(REPO))
    from flows import settings  # noqa: F401
    from prefect.filesystems import LocalFileSystem
    from prefect.results import ResultStore
    from prefect.utilities.annotations import quote
    from prefect.utilities.collections import visit_collection
    from prefect.utilities.engine import collect_task_run_inputs_sync, resolve_to_final_result
    from prefect.utilities.hashing import hash_objects

    with open(results_pickle, "rb") as fh:
        results = pickle.load(fh)
    tmp = Path(tempfile.mkdtemp(prefix="bench-results-"))
    try:
        from flows.review import RawPickleSerializer

        def new_store() -> ResultStore:  # as the flow's extract tasks have it: results and key records apart
            return ResultStore(result_storage=LocalFileSystem(basepath=str(tmp / "cache")),
                               metadata_storage=LocalFileSystem(basepath=str(tmp / "keys")),
                               serializer=RawPickleSerializer())

        store = new_store()
        rows = []
        for i, r in enumerate(results):
            key = f"extract-{i}"
            t, c = time.perf_counter(), time.process_time()
            raw = pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)
            pk = (time.perf_counter() - t, time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            store.persist_result_record(store.create_result_record(r, key=key))
            persist = (time.perf_counter() - t, time.process_time() - c)
            fresh = new_store()  # a new run's store
            t, c = time.perf_counter(), time.process_time()
            assert fresh.exists(key)
            exists = (time.perf_counter() - t, time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            fresh.read(key)
            read = (time.perf_counter() - t, time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            pickle.loads(raw)
            unpk = (time.perf_counter() - t, time.process_time() - c)
            rows.append({"path": r.source.path_in_pack, "passages": len(r.passages), "pickle_bytes": len(raw),
                         "record_bytes": (tmp / "cache" / key).stat().st_size, "pickle": pk, "persist": persist,
                         "exists": exists, "read": read, "unpickle": unpk})
        def resolve(value: Any) -> tuple[float, float]:  # as TaskRunEngine._resolve_parameters does
            t, c = time.perf_counter(), time.process_time()
            visit_collection(value, visit_fn=resolve_to_final_result, return_data=True, max_depth=-1,
                             remove_annotations=True, context={"parameter_name": "results"})
            return (time.perf_counter() - t, time.process_time() - c)

        def collect(value: Any) -> tuple[float, float]:  # as the task run's creation does
            t, c = time.perf_counter(), time.process_time()
            collect_task_run_inputs_sync(value)
            return (time.perf_counter() - t, time.process_time() - c)

        visit, collected = resolve(results), collect(results)
        visit_q, collected_q = resolve(quote(results)), collect(quote(results))
        t, c = time.perf_counter(), time.process_time()
        try:
            hash_objects({"results": results, "out": "x"}, raise_on_failure=True)
            hashed = (time.perf_counter() - t, time.process_time() - c)
        except Exception as exc:  # noqa: BLE001
            hashed = (float("nan"), float("nan"))
            print("hash_objects failed:", exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    Path(result_path).write_text(json.dumps({"files": rows, "visit": visit, "collect_inputs": collected,
                                             "hash_inputs": hashed, "visit_quoted": visit_q,
                                             "collect_inputs_quoted": collected_q}))


# --------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------


def raise_priority(nice: int = -15) -> str:
    """Put this benchmark's process group ahead of other work on the machine, where Linux allows it.

    With autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled``),
    ``nice`` on someone else's job does not yield to a process in another
    session: each session's group gets an equal share. Setting this session's
    group nice (root only) gives the benchmark's processes the CPU they ask
    for, so a neighbour's job moves the figures less. Returns what was done.
    """
    path = Path("/proc/self/autogroup")
    try:
        path.write_text(str(nice))
        return path.read_text().strip()
    except OSError as exc:
        return f"not changed ({exc.strerror})"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    family = model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            k, _, v = line.partition(":")
            k, v = k.strip(), v.strip()
            if k == "model name" and cpu == "unknown":
                cpu = v
            elif k == "cpu family" and not family:
                family = v
            elif k == "model" and not model:
                model = v
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GB"
    except OSError:
        pass
    import importlib.metadata as md

    return {
        "date": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "nproc": os.cpu_count(),
        "cpu": f"{cpu} (family {family}, model {model})",
        "memory": mem,
        "python": platform.python_version(),
        "prefect": md.version("prefect"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _env(prefect_home: Path, api_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PREFECT_HOME"] = str(prefect_home)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["DO_NOT_TRACK"] = "1"
    # our Recorder raises two Prefect loggers to INFO; do not ship those records to the API
    env["PREFECT_LOGGING_TO_API_ENABLED"] = "false"
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    env["PYTHONPATH"] = str(SRC)  # before the editable install's finder, which sys.meta_path tries last
    return env


def run_child(args: list[str], env: dict[str, str], log_path: Path, timeout: float = 900) -> dict[str, Any]:
    """Start ``bench_flows.py --child ...``; return its JSON plus wall and CPU of the whole process tree."""
    result_path = log_path.with_suffix(".json")
    result_path.unlink(missing_ok=True)
    load = os.getloadavg()[0]
    env = dict(env)
    t0 = time.time()
    env["BENCH_T0"] = repr(t0)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([PY, str(SRC / "benchmarks" / "bench_flows.py"), "--child", *args, str(result_path)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(SRC))
        deadline = time.time() + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.time() > deadline:
                proc.kill()
                pid, status, ru = os.wait4(proc.pid, 0)
                raise RuntimeError(f"child {args[0]} timed out; log {log_path}")
            time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - t0
    if proc.returncode != 0 or not result_path.is_file():
        raise RuntimeError(f"child {args} failed ({proc.returncode}); log {log_path}:\n"
                           + log_path.read_text()[-3000:])
    data = json.loads(result_path.read_text())
    data["process_wall_s"] = wall
    # wait4 counts every descendant that was reaped; multiprocessing's forkserver (and through it every
    # per-file worker) is never reaped by its parent, so add what the child measured for it last
    data["process_cpu_s"] = ru.ru_utime + ru.ru_stime + float(data.get("unreaped_cpu") or 0.0)
    data["load_1min"] = round(load, 2)
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrefectServer:
    """`prefect server start` on a free local port (its own PREFECT_HOME), stopped cleanly."""

    def __init__(self, home: Path, log_path: Path) -> None:
        self.home = home
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_s = 0.0
        self.stop_s = 0.0
        self.cpu_s = 0.0

    def __enter__(self) -> "PrefectServer":
        env = _env(self.home)
        env.update(PREFECT_UI_ENABLED="false", PREFECT_SERVER_LOGGING_LEVEL="WARNING")
        prefect = str(Path(PY).with_name("prefect"))
        t0 = time.time()
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([prefect, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        while time.time() - t0 < 180:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("prefect server did not answer /api/health in 180 s")
        self.start_s = time.time() - t0
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.proc is not None
        t = time.time()
        pgid = self.proc.pid  # we started it in its own session: its group id is its pid
        try:
            os.killpg(pgid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            _, status, ru = self._wait(30)
        except TimeoutError:
            os.killpg(pgid, signal.SIGTERM)
            try:
                _, status, ru = self._wait(15)
            except TimeoutError:
                os.killpg(pgid, signal.SIGKILL)
                _, status, ru = self._wait(15)
        self.stop_s = time.time() - t
        self.cpu_s = ru.ru_utime + ru.ru_stime
        self.returncode = os.waitstatus_to_exitcode(status)
        self._log.close()

    def _wait(self, seconds: float) -> tuple[int, int, Any]:
        assert self.proc is not None
        end = time.time() + seconds
        while time.time() < end:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                return pid, status, ru
            time.sleep(0.1)
        raise TimeoutError


# --------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------


def flow_phases(d: dict[str, Any]) -> dict[str, Any]:
    """Cut a flow run's timeline into phases: {phase: (wall s, CPU s)} and counts."""
    T0 = d["T0"]
    ev = d["events"]
    begin = next(e for e in ev if e["logger"] == "prefect.flow_runs" and e["msg"].startswith("Beginning flow run"))

    def finished(prefix: str) -> list[dict[str, Any]]:
        return [e for e in ev if e["logger"] == "prefect.task_runs" and (e["task"] or "").startswith(prefix)
                and e["msg"].startswith("Finished in state")]

    disc = finished("discover")[-1]
    extract = finished("extract ")
    write = finished("write-passages")[-1]
    classify = finished("classify")[-1]
    report = finished("coverage-and-report")[-1]
    end = [e for e in ev if e["logger"] == "prefect.flow_runs" and e["msg"].startswith("Finished in state")][-1]
    last_extract = max(extract, key=lambda e: e["t"]) if extract else disc
    points = [
        ("imports", {"t": d["imported"], "cpu": d["cpu_imported"]}),
        ("server start + flow run created", begin),
        ("discover (+ code version)", disc),
        ("per-document (extract + split)", last_extract),
        ("finish + write passages", write),
        ("classification", classify),
        ("coverage + report", report),
        ("run.json + flow end", end),
        ("shutdown", {"t": T0 + d["process_wall_s"], "cpu": d["process_cpu_s"]}),
    ]
    phases: dict[str, list[float]] = {}
    prev_t, prev_cpu = T0, 0.0
    for name, p in points:
        phases[name] = [round(p["t"] - prev_t, 3), round(p["cpu"] - prev_cpu, 3)]
        prev_t, prev_cpu = p["t"], p["cpu"]
    states = d["summary"]["task_states"]
    xtasks = d["summary"].get("extract_tasks") or []
    lanes = task_lanes(ev, d["ticks"], disc["t"], {t["task"]: t["files"] for t in xtasks})
    created = [e for e in ev if e["logger"] == "prefect.task_runs" and e["thread"] != "MainThread"
               and e["msg"].startswith("Created task run")]
    first_created = min(created, key=lambda e: e["t"]) if created else last_extract
    # before the first extract task run exists: code version done, batches planned, tasks submitted
    fixed = [round(first_created["t"] - disc["t"], 3), round(first_created["cpu"] - disc["cpu"], 3)]
    # server CPU inside the per-document window
    server_cpu = last_extract["cpu_by"]["server"] - disc["cpu_by"]["server"]
    return {
        "lanes": lanes,
        "window_fixed": fixed,
        "lane_summary": lane_summary(lanes),
        "server_cpu_per_doc_window": round(server_cpu, 3),
        # CPU by role inside the per-document window: the flow process itself, Prefect's temporary server, the
        # per-file worker processes (the forkserver's tree)
        "window_cpu_by": {k: round(last_extract["cpu_by"][k] - disc["cpu_by"][k], 3) for k in disc["cpu_by"]},
        "cpu_by_at_end": d.get("cpu_done_by"),
        "phases": phases,
        "startup": [round(begin["t"] - T0, 3), round(begin["cpu"], 3)],
        "docs": len(states),
        "tasks": len(extract),
        "tasks_by_state": {st: sum(1 for t in xtasks if t["state"] == st) for st in sorted({t["state"] for t in xtasks})},
        "files_read": sum(len(t["read"]) for t in xtasks if t["state"] != "Cached"),
        "batching": d.get("batching"),
        "cached": sum(1 for s in states.values() if s == "Cached"),
        "completed": sum(1 for s in states.values() if s == "Completed"),
        "states": sorted(set(states.values())),
        "wall_s": round(d["process_wall_s"], 2),
        "cpu_s": round(d["process_cpu_s"], 2),
        "flow_seconds": d["summary"]["seconds"],
        "passages": d["summary"]["passages"],
        "load_1min": d["load_1min"],
    }


def task_lanes(ev: list[dict[str, Any]], ticks: list[dict[str, Any]], submitted: float,
               files_of: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Each extract task's timeline in its task-runner thread.

    The records of one task run come in order in its thread: "Created task
    run" (logged under the name before the rename), "Executing task",
    "Finished in state". Components: ``gap``: the thread's previous task
    Finished (for its first task: discover Finished) -> Created (task run
    built, parameters visited); ``setup``: Created -> Executing (cache key,
    cache look-up, Running state); for a task that ran, ``work``: Executing
    -> the flow's "extracted" tick for the task's last file (its files read
    one after another, each ``process_file`` and, in a batch, each file's own
    cache record written or read) and ``post``: that tick -> Finished (the
    task's result pickled and persisted, Completed state); for a Cached
    task, ``read``: Executing -> Finished (the cached record read).
    """
    tick = {t["item"]: t for t in ticks if t["stage"] == "extracted"}
    threads: dict[str, list[dict[str, Any]]] = {}
    for e in sorted(ev, key=lambda e: e["t"]):
        if e["logger"] == "prefect.task_runs" and e["thread"] != "MainThread":
            threads.setdefault(e["thread"], []).append(e)
    out = []
    for th, evs in threads.items():
        last_end = submitted
        cur: dict[str, Any] = {}
        for e in evs:
            msg = e["msg"]
            if msg.startswith("Created task run"):
                cur = {"created": e["t"]}
            elif msg.startswith("Executing task") and cur:
                cur["executing"] = e["t"]
            elif msg.startswith("Finished in state") and "executing" in cur:
                name = (e.get("task") or "")
                if not name.startswith("extract "):
                    cur = {}
                    continue
                label = name[len("extract "):]
                files = files_of.get(label, [label])
                state = msg[len("Finished in state "):].split("(")[0]
                x: dict[str, Any] = {"task": label, "files": len(files), "thread": th, "state": state,
                                     "first_in_thread": last_end == submitted,
                                     "gap": cur["created"] - last_end, "setup": cur["executing"] - cur["created"],
                                     "work": None, "post": None, "read": None}
                tks = [tick[f] for f in files if f in tick and tick[f]["t"] >= cur["executing"]]
                tk = max(tks, key=lambda t: t["t"]) if tks else None
                if state == "Cached" or tk is None:
                    x["read"] = e["t"] - cur["executing"]
                else:
                    x["work"] = tk["t"] - cur["executing"]
                    x["post"] = e["t"] - tk["t"]
                last_end = e["t"]
                out.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in x.items()})
                cur = {}
    return out


LANE_PARTS = ("gap", "setup", "work", "post", "read")


def lane_summary(lanes: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and sum of each per-task component; medians leave out each thread's first task."""
    res: dict[str, Any] = {"tasks": len(lanes), "threads": len({x["thread"] for x in lanes})}
    for k in LANE_PARTS:
        vals = [x[k] for x in lanes if x.get(k) is not None]
        later = [x[k] for x in lanes if x.get(k) is not None and not x["first_in_thread"]]
        res[k] = {"median_ms": round(statistics.median(later or vals) * 1000, 1) if vals else None,
                  "sum_s": round(sum(vals), 3) if vals else None}
    return res


def suspects_summary(d: dict[str, Any]) -> dict[str, Any]:
    rows = d["files"]

    def tot(k: str) -> list[float]:
        return [round(sum(r[k][0] for r in rows), 3), round(sum(r[k][1] for r in rows), 3)]

    big = max(rows, key=lambda r: r["pickle_bytes"])
    return {
        "files": len(rows),
        "pickle_mb": round(sum(r["pickle_bytes"] for r in rows) / 1e6, 2),
        "record_mb": round(sum(r["record_bytes"] for r in rows) / 1e6, 2),
        "largest": {"path": big["path"], "passages": big["passages"], "pickle_mb": round(big["pickle_bytes"] / 1e6, 2),
                    "record_mb": round(big["record_bytes"] / 1e6, 2), "persist_s": round(big["persist"][0], 3),
                    "exists_s": round(big["exists"][0], 3), "read_s": round(big["read"][0], 3)},
        "pickle": tot("pickle"), "persist": tot("persist"), "exists": tot("exists"), "read": tot("read"),
        "unpickle": tot("unpickle"),
        "write_passages_param": {k: [round(x, 4) for x in d[k]] for k in
                                 ("visit", "collect_inputs", "hash_inputs", "visit_quoted", "collect_inputs_quoted")},
        "rows": rows,
    }


def lib_phases(d: dict[str, Any]) -> dict[str, Any]:
    T0 = d["T0"]
    m = d["marks"]
    todo = [t for t in d["ticks"] if t["status"] in ("ingested", "failed") and t["seconds"]]
    last = max(todo, key=lambda t: t["t"]) if todo else {"t": m["start"][0], "cpu": m["start"][1]}
    # discover_pack is timed on its own (same pack) and taken out of the extraction window
    disc = d["discover_s"]
    points = [
        ("imports", (d["imported"], d["cpu_imported"])),
        ("discover (timed separately)", (m["start"][0], m["start"][1])),
        ("per-document (extract + split)", (last["t"], last["cpu"])),
        ("finish + write passages", m["finish_write"]),
    ]
    if "classify" in m:
        points += [("classification", m["classify"]), ("coverage + report", m["report"])]
    phases: dict[str, list[float]] = {}
    prev_t, prev_cpu = T0, 0.0
    for name, (t, cpu) in points:
        phases[name] = [round(t - prev_t, 3), round(cpu - prev_cpu, 3)]
        prev_t, prev_cpu = t, cpu
    # move the discovery time out of the per-document window (CPU: it is single-threaded hashing, wall ~ CPU)
    phases["discover (timed separately)"] = [round(disc, 3), round(disc, 3)]
    if not d.get("discover_before_start"):  # ingest_pack discovers inside the window
        w, c = phases["per-document (extract + split)"]
        phases["per-document (extract + split)"] = [round(w - disc, 3), round(c - disc, 3)]
    return {
        "phases": phases,
        "docs": len(todo),
        "sum_process_file_s": round(sum(t["seconds"] for t in todo), 3),
        "median_process_file_ms": round(statistics.median(t["seconds"] for t in todo) * 1000, 1) if todo else None,
        "sum_worker_cpu_s": round(sum(t["worker_cpu"] or 0 for t in todo), 3),
        "pages": sum(t["pages"] or 0 for t in todo),
        "wall_s": round(d["process_wall_s"], 2),
        "cpu_s": round(d["process_cpu_s"], 2),
        "passages": d["passages"],
        "pickle_bytes_total": d["pickle_bytes_total"],
        "pickle_bytes_max": d["pickle_bytes_max"],
        "load_1min": d["load_1min"],
    }


# --------------------------------------------------------------------------
# Packs
# --------------------------------------------------------------------------


def _docx_words(data: bytes) -> int:
    import io

    import docx

    d = docx.Document(io.BytesIO(data))
    return sum(len(p.text.split()) for p in d.paragraphs) + sum(
        len(c.text.split()) for t in d.tables for r in t.rows for c in r.cells)


def pack_pages(path: Path) -> tuple[int, int]:
    """(files, pages) of a sample pack: PDF pages exact, DOCX at ~500 words a page."""
    import pypdfium2 as pdfium

    items: list[tuple[str, bytes]] = []
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            items = [(i.filename, z.read(i)) for i in z.infolist() if not i.is_dir()]
    else:
        items = [(str(p), p.read_bytes()) for p in sorted(path.rglob("*")) if p.is_file()]
    pages = 0
    for name, data in items:
        low = name.lower()
        if low.endswith(".pdf"):
            pages += len(pdfium.PdfDocument(data))
        elif low.endswith(".docx"):
            pages += max(1, round(_docx_words(data) / 500))
    return len(items), pages


def snapshot(dest: Path) -> dict[str, Any]:
    """Export HEAD (``git archive``: read-only for the repository) so that teammates' edits during the run
    change neither the code measured nor the flow's code version (part of the extract cache key)."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "pipeline", "flows", "framework",
                            "models"], capture_output=True, text=True, check=True).stdout.split("\n")
    dest.mkdir(parents=True)
    arch = subprocess.Popen(["git", "-C", str(REPO), "archive", "--format=tar", head], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=arch.stdout, check=True)
    arch.wait()
    if arch.returncode:
        raise RuntimeError("git archive failed")
    return {"commit": head, "uncommitted_in_working_tree": [ln[3:] for ln in dirty if ln.strip()]}


def largest_sample_pack() -> tuple[Path, int, int]:
    best: tuple[Path, int, int] | None = None
    for p in sorted((SRC / "corpus_samples" / "packs").iterdir()):
        if p.name.endswith(".md"):
            continue
        files, pages = pack_pages(p)
        if best is None or (pages, files) > (best[2], best[1]):
            best = (p, files, pages)
    assert best is not None, "no sample packs under corpus_samples/packs"
    return best


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def _med(xs: list[float]) -> float:
    return round(statistics.median(xs), 2) if xs else float("nan")


def _fmt(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def write_markdown(res: dict[str, Any], path: Path) -> None:
    m = res["machine"]
    L: list[str] = ["# Flow benchmark: what Prefect costs around the per-file work (issue 7)", ""]
    L.append(f"Run {m['date']} on {m['nproc']} CPUs, {m['cpu']}, {m['memory']} RAM, Python {m['python']}, "
             f"Prefect {m['prefect']}. Load average at start {m['load_average_at_start']} "
             f"(at the end {res.get('load_average_at_end')}): the machine was shared with other work, so each "
             "row gives CPU seconds beside wall seconds, and the 1-minute load when the row started. CPU is the "
             "whole process tree's (the process, its per-file worker processes and, in ephemeral mode, Prefect's "
             "temporary API server, which is a child process). Scheduling group of the benchmark: "
             f"{m.get('priority', 'not recorded')} (see `raise_priority`).")
    code = res.get("code") or {}
    L += ["", f"Made by `.venv/bin/python benchmarks/bench_flows.py {res['argv']}` in {res['total_s'] / 60:.1f} min, "
          f"on a snapshot of commit `{code.get('commit', '?')[:12]}` (`git archive`; teammates were editing "
          "`pipeline/` during runs, and any edit there changes the flow's code version, which is part of the "
          "extract cache key: a WARM run would then be a cache miss). Raw figures: "
          "`benchmarks/results/flows.json`.", ""]

    # 1. start-up
    su = res.get("startup")
    if su:
        L += _startup_md(su)
    _pack_md(res, L)
    path.write_text("\n".join(L) + "\n", encoding="utf-8")


def _startup_md(su: dict[str, Any]) -> list[str]:
    L = ["## 1. Prefect's fixed start-up", "",
          "A flow with one trivial task, each run in a fresh Python process. *To first task*: process start to "
          "the first line of the task body. *CPU to first task*: CPU seconds of the process tree until then. "
          "*Whole run*: until the process has exited (server stopped).", "",
          "| Mode | Run | Load | Imports s | To flow start s | To first task s | CPU to first task s | Whole run s | Whole run CPU s |",
          "|---|---|---|---|---|---|---|---|---|"]
    for mode, runs in (("ephemeral (no PREFECT_API_URL)", su["ephemeral"]), ("running server (PREFECT_API_URL)", su["server"])):
        for i, r in enumerate(runs):
            note = f"{i + 1}"
            if mode.startswith("ephemeral") and i == 0:
                note += " (fresh PREFECT_HOME: database created)"
            L.append(f"| {mode} | {note} | {r['load_1min']} | {_fmt(r['import_s'])} | {_fmt(r['flow_s'])} | "
                     f"{_fmt(r['task_s'])} | {_fmt(r['task_cpu_s'])} | {_fmt(r['process_wall_s'])} | "
                     f"{_fmt(r['process_cpu_s'])} |")
    eph = su["ephemeral"][1:] or su["ephemeral"]
    srv = su["server"]
    L += ["", "Medians (ephemeral without the first, database-creating run):", "",
          "| Mode | To first task s | CPU to first task s | Whole run s | Whole run CPU s |", "|---|---|---|---|---|",
          f"| ephemeral | {_med([r['task_s'] for r in eph])} | {_med([r['task_cpu_s'] for r in eph])} | "
          f"{_med([r['process_wall_s'] for r in eph])} | {_med([r['process_cpu_s'] for r in eph])} |",
          f"| running server | {_med([r['task_s'] for r in srv])} | {_med([r['task_cpu_s'] for r in srv])} | "
          f"{_med([r['process_wall_s'] for r in srv])} | {_med([r['process_cpu_s'] for r in srv])} |", "",
          f"The server itself (`prefect server start`, analytics and UI off, fresh PREFECT_HOME) took "
          f"{su['server_start_s']:.1f} s to answer `/api/health`, {su['server_stop_s']:.1f} s to stop on SIGINT "
          f"(exit code {su['server_returncode']}), and {su['server_cpu_s']:.1f} CPU s over its life.", ""]
    return L


def _kind(kind: str) -> str:
    """'cold' -> 'COLD'; 'warm_unbatched' -> 'WARM, one task per file'."""
    base, _, variant = kind.partition("_")
    return base.upper() + (", one task per file" if variant == "unbatched" else "")


def _pack_md(res: dict[str, Any], L: list[str]) -> None:
    # 2. review_pack
    L += ["## 2. `review_pack` cold and warm", ""]
    for pk in res["packs"]:
        L.append(f"- **{pk['label']}**: `{pk['name']}`, {pk['files']} files, {pk['pages']} pages "
                 f"(PDF exact, DOCX at ~500 words a page), {pk['passages']} passages.")
    L += ["", "Wall s / CPU s per phase (median over runs; each run's figures are in the JSON). Phases are cut "
          "at the flow's own log records, timestamped in the flow process: *start-up* = process start to "
          "\"Beginning flow run\" (imports, temporary server, flow run created); *per-document* = discover task "
          "finished to the last extract task finished (planning batches, submitting, cache look-ups, the workers, "
          "result persistence); *finish + write* = duplicate marking, redaction and write-passages; *end* = "
          "run.json, flow end, server stop and exit. *Tasks*: extract task runs by final state (a task ends Failed "
          "when a file in it could not be read; its other files still count), for how many files, and how many "
          "files were read (not taken from the cache). Rows marked *one task per file* ran with "
          "`batching={\"batch_files\": 1}` (no batches), for comparison.", ""]
    hdr = ["start-up", "discover", "per-document (extract + split)", "finish + write", "classification",
           "coverage + report", "end"]
    keys = ["imports+server", "discover (+ code version)", "per-document (extract + split)",
            "finish + write passages", "classification", "coverage + report", "end"]
    L += ["| Pack | Run | n | Load | Whole run | " + " | ".join(hdr) + " | Tasks |",
          "|---|---|---|---|---|" + "---|" * len(hdr) + "---|"]
    for pk in res["packs"]:
        for kind in pk["flow"]:
            runs = pk["flow"][kind]
            if not runs:
                continue
            cells = []
            for k in keys:
                w = _med([_phase(r, k)[0] for r in runs])
                c = _med([_phase(r, k)[1] for r in runs])
                cells.append(f"{w:.2f} / {c:.2f}")
            tasks = "; ".join(f"{r['tasks']} ({', '.join(f'{n} {st}' for st, n in r['tasks_by_state'].items())}) "
                              f"for {r['docs']} files, {r['files_read']} read" for r in runs[:1])
            L.append(f"| {pk['label']} | {_kind(kind)} | {len(runs)} | {_med([r['load_1min'] for r in runs])} | "
                     f"{_med([r['wall_s'] for r in runs]):.2f} / {_med([r['cpu_s'] for r in runs]):.2f} | "
                     + " | ".join(cells) + f" | {tasks} |")
        lib = pk["lib"]
        if lib:
            cells = []
            for k in keys:
                lk = {"imports+server": "imports", "discover (+ code version)": "discover (timed separately)",
                      "end": None}.get(k, k)
                if lk is None:
                    cells.append("")
                    continue
                have = [r for r in lib if lk in r["phases"]]
                cells.append(f"{_med([r['phases'][lk][0] for r in have]):.2f} / {_med([r['phases'][lk][1] for r in have]):.2f}")
            full = [r for r in lib if "classification" in r["phases"]] or lib
            L.append(f"| {pk['label']} | no Prefect (library calls) | {len(lib)} | {_med([r['load_1min'] for r in lib])} | "
                     f"{_med([r['wall_s'] for r in full]):.2f} / {_med([r['cpu_s'] for r in full]):.2f} | "
                     + " | ".join(cells) + " | |")
    L += ["", "*No Prefect* runs `ingest_pack(workers=2)` then `finish_results` + `write_outputs`, `classify_run`, "
          "`write_review_outputs` in one process; its *start-up* is imports only. Both read the largest files "
          "first (`ingest_pack` one file at a time per worker, the flow its heaviest task first).", ""]
    warm_runs = [(pk, kind, i, r) for pk in res["packs"] for kind in pk["flow"] if kind.startswith("warm")
                 for i, r in enumerate(pk["flow"][kind])]
    for pk, kind, i, r in warm_runs:
        if r["cached"] != r["docs"]:
            L.append(f"- WARNING {pk['label']} {_kind(kind)} run {i + 1}: {r['cached']} of {r['docs']} files "
                     f"Cached (states {r['states']}).")
    if warm_runs and all(r["cached"] == r["docs"] and r["files_read"] == 0 for _, _, _, r in warm_runs):
        L.append("- In every WARM run, every file's state in `run.json` was `Cached` and no file was read.")
    L.append("")

    # 3. overhead
    L += ["## 3. Prefect's overhead per document", "",
          "Per-document time = the per-document window / documents read (2 at a time in both). Overhead = "
          "(flow - library) / library. Targets (issue 7): overhead under 10%; a warm re-run of an unchanged pack "
          "under a quarter of the cold run's per-document time.", "",
          "| Pack | Docs | Library s/doc (wall / CPU) | Flow COLD s/doc (wall / CPU) | Overhead wall | Overhead CPU | "
          "Target <10% | Flow WARM s/doc (wall / CPU) | WARM / COLD wall | Target <25% |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for pk, v in [(pk, v) for pk in res["packs"] for v in ("", "_unbatched") if pk.get(f"overhead{v}")]:
        o = pk[f"overhead{v}"]
        L.append(f"| {pk['label']}{' (one task per file)' if v else ''} | {o['docs']} ({o['tasks']} tasks) | "
                 f"{o['lib_wall']:.3f} / {o['lib_cpu']:.3f} | "
                 f"{o['cold_wall']:.3f} / {o['cold_cpu']:.3f} | {o['overhead_wall'] * 100:+.0f}% | "
                 f"{o['overhead_cpu'] * 100:+.0f}% | {'met' if o['overhead_wall'] < 0.10 else 'MISSED'} | "
                 f"{o['warm_wall']:.3f} / {o['warm_cpu']:.3f} | {o['warm_ratio'] * 100:.0f}% | "
                 f"{'met' if o['warm_ratio'] < 0.25 else 'MISSED'} |")
    L.append("")
    for pk in res["packs"]:
        o = pk["overhead"]
        if not o:
            continue
        L.append(f"- {pk['label']}: summed `process_file` time {o['sum_process_file_s']:.1f} s, worker CPU "
                 f"{o['sum_worker_cpu_s']:.1f} s; pickled FileResults {o['pickle_mb']:.1f} MB in all (largest "
                 f"{o['pickle_max_mb']:.2f} MB, {o['pickle_max_path']}); Prefect's result cache in the run folder "
                 f"after COLD: {o['cache_mb']:.1f} MB in {o['cache_files']} files; CPU of Prefect's temporary "
                 f"server inside the per-document window: {o['server_cpu_window']:.2f} s COLD, "
                 f"{o['server_cpu_window_warm']:.2f} s WARM; in the same COLD window the flow process itself "
                 f"used {o['flow_cpu_window']:.2f} CPU s and the per-file workers {o['workers_cpu_window']:.2f} CPU s "
                 f"(library: summed worker CPU above).")
    L += ["", "Where each extract task's time goes, in its task-runner thread (first run of each kind; medians "
          "leave out each thread's first task, sums include it, and with it the wait before the first task). "
          "*Gap*: the thread's previous task Finished -> \"Created task run\" (task run built, parameters "
          "visited); *setup*: Created -> \"Executing task\" (cache key, cache look-up in the small key record, "
          "Running state); *work*: Executing -> the task's last file done (each file's `process_file`, one after "
          "another, and in a batch each file's own cache record written, or read when the batch runs again); "
          "*post*: -> \"Finished in state\" (the task's result pickled into its result file, "
          "its key record written, Completed state); *read*, Cached tasks only: Executing -> Finished (the result record "
          "read). *Before the first task*: discover Finished -> first \"Created task run\" (plan, "
          "submission): a fixed cost per run inside the per-document window.", "",
          "| Pack | Run | Tasks (files) | Before the first task s (CPU s) | Gap ms median (sum s) | Setup ms median "
          "(sum s) | Work ms median (sum s) | Post ms median (sum s) | Read ms median (sum s) | Prefect's share of "
          "the threads' time |", "|---|---|---|---|---|---|---|---|---|---|"]
    for pk in res["packs"]:
        for kind in pk["flow"]:
            if not pk["flow"][kind]:
                continue
            r0 = pk["flow"][kind][0]
            ls = r0["lane_summary"]
            cells = []
            tot = {k: (ls[k]["sum_s"] or 0.0) for k in LANE_PARTS}
            for k in LANE_PARTS:
                v = ls[k]
                cells.append("" if v["median_ms"] is None else f"{v['median_ms']:.0f} ({v['sum_s']:.2f})")
            share = (sum(tot.values()) - tot["work"]) / max(1e-9, sum(tot.values()))
            L.append(f"| {pk['label']} | {_kind(kind)} | {ls['tasks']} ({r0['docs']}) | {r0['window_fixed'][0]:.2f} "
                     f"({r0['window_fixed'][1]:.2f}) | " + " | ".join(cells) + f" | {share * 100:.0f}% |")
    L.append("")
    L += ["Library (`ingest_pack`) `process_file` per file, median: " + "; ".join(
        f"{pk['label']} {_med([r['median_process_file_ms'] for r in pk['lib']]):.0f} ms" for pk in res["packs"]
        if pk["lib"]) + " (compare with *work* above).", ""]
    sus = [pk for pk in res["packs"] if pk.get("suspects")]
    if sus:
        L += ["Prefect's per-document operations one at a time, on the real FileResults of the library run "
              "(one process, no engine around them; wall s / CPU s summed over the files):", "",
              "| Pack | FileResults | Pickled MB | Result records MB | `pickle.dumps` | Persist a record (COLD "
              "task) | `exists` (look-up) | `read` | `pickle.loads` | Largest file: record MB, persist / exists / "
              "read s |", "|---|---|---|---|---|---|---|---|---|---|"]
        for pk in sus:
            x = pk["suspects"]
            lg = x["largest"]
            L.append(f"| {pk['label']} | {x['files']} | {x['pickle_mb']:.1f} | {x['record_mb']:.1f} | "
                     + " | ".join(f"{x[k][0]:.2f} / {x[k][1]:.2f}" for k in ("pickle", "persist", "exists", "read",
                                                                            "unpickle"))
                     + f" | {lg['record_mb']:.1f}, {lg['persist_s']:.2f} / {lg['exists_s']:.2f} / {lg['read_s']:.2f} |")
        L += ["", "The write-passages task takes every FileResult as its parameter. What the engine does with it "
              "(wall s / CPU s):", "",
              "| Pack | `visit_collection` (resolve parameters) | `collect_task_run_inputs` (create the task run) | "
              "`hash_objects` (default cache policy: INPUTS) | the same two visits with the list wrapped in "
              "`quote()` |", "|---|---|---|---|---|"]
        for pk in sus:
            w = pk["suspects"]["write_passages_param"]
            L.append(f"| {pk['label']} | " + " | ".join(f"{w[k][0]:.2f} / {w[k][1]:.2f}" for k in
                                                         ("visit", "collect_inputs", "hash_inputs"))
                     + f" | {w['visit_quoted'][0] * 1000:.2f} ms + {w['collect_inputs_quoted'][0] * 1000:.2f} ms |")
        L.append("")
    L += [FINDINGS_START] + (res.get("findings") or ["## Why, and what to change", "", "(not written yet)"]) + [
        FINDINGS_END, ""]
    if res.get("profile"):
        L += ["## Profile", "", "```"] + res["profile"] + ["```", ""]


FINDINGS_START = "<!-- findings: written by hand, kept when the script rewrites this file -->"
FINDINGS_END = "<!-- end of findings -->"


def kept_findings(path: Path) -> list[str]:
    """The hand-written findings section of an existing results file (kept across re-runs)."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if FINDINGS_START not in text or FINDINGS_END not in text:
        return []
    return text.split(FINDINGS_START, 1)[1].split(FINDINGS_END, 1)[0].strip("\n").splitlines()


def _phase(r: dict[str, Any], key: str) -> list[float]:
    p = r["phases"]
    if key == "imports+server":
        a, b = p["imports"], p["server start + flow run created"]
        return [a[0] + b[0], a[1] + b[1]]
    if key == "end":
        a, b = p["run.json + flow end"], p["shutdown"]
        return [a[0] + b[0], a[1] + b[1]]
    return p[key]


def _dir_size(path: Path) -> tuple[float, int]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    return sum(p.stat().st_size for p in files) / 1e6, len(files)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


UNBATCHED = {"batch_files": 1}  # one extract task per file, as before batching


def bench_pack(label: str, pack: Path, files: int, pages: int, work: Path, env: dict[str, str], repeat: int,
               profile: bool, batching: dict[str, int] | None = None, unbatched: bool = False) -> dict[str, Any]:
    """Library runs bracketing flow COLD+WARM pairs (and, with ``unbatched``, a pair with one task per file)."""
    variants = [("", batching)] + ([("_unbatched", UNBATCHED)] if unbatched else [])
    out: dict[str, Any] = {"label": label, "name": pack.name, "path": str(pack), "files": files, "pages": pages,
                           "flow": {f"{kind}{v}": [] for v, _ in variants for kind in ("cold", "warm")}, "lib": [],
                           "batching": batching}
    cache_info = (0.0, 0)

    dump = work / f"{label}-results.pkl"

    def lib_run(i: int) -> None:
        print(f"  [{label}] library run {i + 1}", flush=True)
        lenv = dict(env, BENCH_DUMP_RESULTS=str(dump)) if i == 0 else env
        d = run_child(["lib", str(pack), str(work / f"{label}-lib-{i}")] + (["--no-later"] if i else []), lenv,
                      work / f"{label}-lib-{i}.log")
        out["lib"].append(lib_phases(d))

    def flow_args(run_dir: Path, b: dict[str, int] | None) -> list[str]:
        return ["flow", str(pack), str(run_dir)] + (["--batching", json.dumps(b)] if b else [])

    # interleaved and bracketed (library, flow COLD, flow WARM, ..., library), so the machine's load falls on
    # each kind alike; the library's later stages run once (the first run)
    for i in range(repeat):
        lib_run(i)
        for v, b in variants:
            run_dir = work / f"{label}-flow{v}-{i}"
            print(f"  [{label}] run {i + 1}/{repeat}: flow COLD{v}", flush=True)
            d = run_child(flow_args(run_dir, b), env, work / f"{label}-cold{v}-{i}.log")
            out["flow"][f"cold{v}"].append(flow_phases(d))
            if not v:
                cache_info = _dir_size(run_dir / ".cache")
            print(f"  [{label}] run {i + 1}/{repeat}: flow WARM{v}", flush=True)
            d = run_child(flow_args(run_dir, b), env, work / f"{label}-warm{v}-{i}.log")
            out["flow"][f"warm{v}"].append(flow_phases(d))
    lib_run(repeat)
    print(f"  [{label}] Prefect's per-document costs one by one", flush=True)
    out["suspects"] = suspects_summary(run_child(["suspects", str(dump)], env, work / f"{label}-suspects.log"))
    if profile:
        run_dir = work / f"{label}-flow-prof"
        print(f"  [{label}] profiled COLD and WARM", flush=True)
        run_child(flow_args(run_dir, batching) + ["--profile", str(work / f"{label}-cold.prof")], env,
                  work / f"{label}-prof-cold.log")
        run_child(flow_args(run_dir, batching) + ["--profile", str(work / f"{label}-warm.prof")], env,
                  work / f"{label}-prof-warm.log")
        out["profiles"] = [str(work / f"{label}-cold.prof"), str(work / f"{label}-warm.prof")]
    out["passages"] = out["flow"]["cold"][0]["passages"]
    lib = out["lib"]
    key = "per-document (extract + split)"
    big = max(lib, key=lambda r: r["pickle_bytes_total"])
    for v, _ in variants:
        cold, warm = out["flow"][f"cold{v}"], out["flow"][f"warm{v}"]
        n = max(1, cold[0]["docs"])
        o = {
            "docs": n,
            "tasks": cold[0]["tasks"],
            "lib_wall": _med([r["phases"][key][0] for r in lib]) / n,
            "lib_cpu": _med([r["phases"][key][1] for r in lib]) / n,
            "cold_wall": _med([r["phases"][key][0] for r in cold]) / n,
            "cold_cpu": _med([r["phases"][key][1] for r in cold]) / n,
            "warm_wall": _med([r["phases"][key][0] for r in warm]) / n,
            "warm_cpu": _med([r["phases"][key][1] for r in warm]) / n,
            "sum_process_file_s": _med([r["sum_process_file_s"] for r in lib]),
            "sum_worker_cpu_s": _med([r["sum_worker_cpu_s"] for r in lib]),
            "pickle_mb": big["pickle_bytes_total"] / 1e6,
            "pickle_max_mb": (big["pickle_bytes_max"] or [0])[0] / 1e6,
            "pickle_max_path": (big["pickle_bytes_max"] or [0, ""])[1],
            "cache_mb": cache_info[0], "cache_files": cache_info[1],
            "server_cpu_window": _med([r["server_cpu_per_doc_window"] for r in cold]),
            "server_cpu_window_warm": _med([r["server_cpu_per_doc_window"] for r in warm]),
            "flow_cpu_window": _med([r["window_cpu_by"]["self"] for r in cold]),
            "workers_cpu_window": _med([r["window_cpu_by"]["workers"] for r in cold]),
        }
        o["overhead_wall"] = (o["cold_wall"] - o["lib_wall"]) / o["lib_wall"]
        o["overhead_cpu"] = (o["cold_cpu"] - o["lib_cpu"]) / o["lib_cpu"]
        o["warm_ratio"] = o["warm_wall"] / o["cold_wall"]
        o["warm_ratio_cpu"] = o["warm_cpu"] / o["cold_cpu"]
        out[f"overhead{v}"] = o
    return out


def profile_text(paths: list[str], limit: int = 25) -> list[str]:
    import io
    import pstats

    lines: list[str] = []
    for p in paths:
        buf = io.StringIO()
        st = pstats.Stats(p, stream=buf)
        st.sort_stats("cumulative").print_stats(limit)
        lines.append(f"== {Path(p).name} (all threads of the flow process) ==")
        lines += [ln.rstrip() for ln in buf.getvalue().splitlines() if ln.strip()][:limit + 12]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Prefect flow overhead benchmark (issue 7)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="COLD+WARM flow runs per pack, bracketed by library runs (default: 3 sample, 2 large)")
    ap.add_argument("--startup-runs", type=int, default=3, help="trivial-flow runs per mode (default 3)")
    ap.add_argument("--pages", type=int, default=1000, help="pages of the generated pack (default 1000)")
    ap.add_argument("--skip-large", action="store_true", help="sample pack only")
    ap.add_argument("--skip-sample", action="store_true", help="generated pack only")
    ap.add_argument("--skip-startup", action="store_true")
    ap.add_argument("--profile", action="store_true", help="also cProfile one cold and one warm flow run per pack")
    ap.add_argument("--batching", type=json.loads, default=None,
                    help='overrides of flows.review.Batching for the flow runs, as JSON, e.g. \'{"tasks_per_lane": 1}\'')
    ap.add_argument("--compare-unbatched", choices=("none", "sample", "all"), default="sample",
                    help="also run COLD+WARM with one extract task per file (default: on the sample pack)")
    ap.add_argument("--keep", action="store_true", help="keep the temp work folder")
    ap.add_argument("--working-tree", action="store_true",
                    help="run the working tree as it is (default: a snapshot of HEAD, so edits during the run do "
                         "not change the code measured or invalidate the extract cache between COLD and WARM)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS-flows.md")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "flows.json")
    args = ap.parse_args(argv)
    started = time.time()
    res: dict[str, Any] = {"machine": machine(), "argv": " ".join(argv if argv is not None else sys.argv[1:])}
    res["machine"]["priority"] = raise_priority()
    print(f"machine: {res['machine']}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="wellled-bench-flows-"))
    global SRC
    if args.working_tree:
        res["code"] = {"commit": "working tree", "uncommitted_in_working_tree": []}
    else:
        res["code"] = snapshot(work / "src")
        SRC = work / "src"
    print(f"code: {res['code']}", flush=True)
    home = work / "prefect-home"
    env = _env(home)
    try:
        if not args.skip_startup:
            print("start-up: ephemeral", flush=True)
            eph = [run_child(["startup"], env, work / f"startup-eph-{i}.log") for i in range(args.startup_runs)]
            print("start-up: running server", flush=True)
            with PrefectServer(work / "server-home", work / "server.log") as srv:
                senv = _env(work / "server-client-home", srv.url)
                runs = [run_child(["startup"], senv, work / f"startup-srv-{i}.log") for i in range(args.startup_runs)]
            res["startup"] = {"ephemeral": eph, "server": runs, "server_start_s": srv.start_s,
                              "server_stop_s": srv.stop_s, "server_cpu_s": srv.cpu_s,
                              "server_returncode": srv.returncode}
        else:
            # the review runs still need a migrated PREFECT_HOME, like a user's ~/.prefect
            run_child(["startup"], env, work / "startup-warmup.log")
        packs = []
        if not args.skip_sample:
            sample, files, pages = largest_sample_pack()
            print(f"pack: {sample.name} ({files} files, {pages} pages)", flush=True)
            packs.append(bench_pack("sample", sample, files, pages, work, env, args.repeat or 3, args.profile,
                                    args.batching, args.compare_unbatched in ("sample", "all")))
        if not args.skip_large:
            sys.path.insert(0, str(HERE))
            import make_large_pack

            info = make_large_pack.make_large_pack(pages=args.pages)
            print(f"pack: {info['path']} ({len(info['files'])} files, {info['pages']} pages, "
                  f"{'reused' if info['reused'] else 'rendered'})", flush=True)
            packs.append(bench_pack("large", Path(info["path"]), len(info["files"]), info["pages"], work, env,
                                    args.repeat or 2, args.profile, args.batching, args.compare_unbatched == "all"))
        res["packs"] = packs
        if args.profile:
            res["profile"] = profile_text([p for pk in packs for p in pk.get("profiles", [])])
        res["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        res["total_s"] = time.time() - started
        res["findings"] = kept_findings(args.out)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, default=str) + "\n", encoding="utf-8")
        write_markdown(res, args.out)
        print(args.out.read_text(), flush=True)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _child_main(argv: list[str]) -> int:
    kind = argv[0]
    if kind == "startup":
        child_startup(argv[1])
    elif kind == "flow":
        prof = None
        batching = None
        rest = argv[1:]
        if "--profile" in rest:
            i = rest.index("--profile")
            prof = rest[i + 1]
            del rest[i:i + 2]
        if "--batching" in rest:
            i = rest.index("--batching")
            batching = json.loads(rest[i + 1])
            del rest[i:i + 2]
        child_flow(rest[0], rest[1], rest[2], prof, batching)
    elif kind == "suspects":
        child_suspects(argv[1], argv[2])
    elif kind == "lib":
        later = "--no-later" not in argv
        rest = [a for a in argv[1:] if a != "--no-later"]
        child_lib(rest[0], rest[1], rest[2], later)
    else:
        raise SystemExit(f"unknown child {kind}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        raise SystemExit(_child_main(sys.argv[2:]))
    raise SystemExit(main())
