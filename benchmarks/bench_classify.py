"""Throughput and memory of the classifier on 100,000 passages (issue 5).

Measures, on one CPU core (the process pins itself to one core and BLAS to
one thread unless ``--all-cores``):

i.   spaCy analysis alone (:func:`pipeline.nlp.analyse_texts`);
ii.  the whole :func:`pipeline.classify.tag_passages` path, with a per-stage
     breakdown (spaCy, feature transform, scoring, tags + explanations) and
     the resident memory while streaming;
iii. ``wellled classify`` end to end on a 100k-line JSONL file (subprocess,
     wall and CPU time, peak RSS polled from the child's VmHWM), and on
     20-line and 10k-line files (start-up cost; memory stays flat);
iv.  training time of :func:`pipeline.model.train_model` on every labelled
     passage.

Steps i and ii each run in a fresh Python process (warmed on one unrelated
sentence only), so no cache has seen the measured words: the figures are
what a user's first run gets. Training (iv) runs last.

Passages are generated in memory from the labelled corpus: sentences of real
passages are shuffled and recombined to the corpus's length distribution, so
the vectorisers see realistic vocabulary and lengths (seeded, repeatable).

The model is the bundled default (``models/DEFAULT``) if there is one, else
the model trained in step iv. ``--profile`` adds a cProfile of tag_passages
on 10,000 passages (written to ``benchmarks/results/profile-classify.txt``).

Usage::

    .venv/bin/python benchmarks/bench_classify.py               # everything
    .venv/bin/python benchmarks/bench_classify.py --n 20000 --skip-cli --profile

Figures go to ``benchmarks/results/bench_classify.json`` and the ``bench``
section of ``benchmarks/RESULTS-classify.md``. Wall time on a shared machine
is noisy: CPU time of the process is reported next to it.
"""

from __future__ import annotations

import os
import sys

if "--all-cores" not in sys.argv:  # must happen before numpy/scipy load their BLAS
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Sequence  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
for _p in (str(REPO), str(REPO / "benchmarks")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
from scipy import sparse  # noqa: E402

from baselines import write_section  # noqa: E402
from pipeline.corpus import load_labelled  # noqa: E402
from pipeline.errors import ModelError  # noqa: E402

logger = logging.getLogger("benchmarks.bench_classify")

RESULTS_MD = REPO / "benchmarks" / "RESULTS-classify.md"
RESULTS_JSON = REPO / "benchmarks" / "results" / "bench_classify.json"
PROFILE_TXT = REPO / "benchmarks" / "results" / "profile-classify.txt"
TARGET_PER_S = 1500
WARM_UP_TEXT = "The Board noted the report and the actions agreed."
_SENTENCE_END = re.compile(r"(?<=[.;:?!])\s+(?=[A-Z(\"'])")


# --------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = []
    return {
        "date": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "pinned_to_cpus": affinity,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def rss_mb() -> float:
    """Current resident set size of this process, MB (from /proc; 0 where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall and CPU time of a block."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def rate(n: int, clock: Clock) -> dict[str, float]:
    return {
        "passages": n,
        "wall_s": round(clock.wall, 2),
        "cpu_s": round(clock.cpu, 2),
        "per_s_wall": round(n / clock.wall, 1),
        "per_s_cpu": round(n / clock.cpu, 1) if clock.cpu else 0.0,
    }


# ------------------------------------------------------------- passages
def make_passages(n: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` passages built from shuffled sentences of the labelled corpus, lengths as in the corpus."""
    corpus = load_labelled()
    rng = random.Random(seed)
    sentences = [s.strip() for p in corpus for s in _SENTENCE_END.split(" ".join(p.text.split())) if s.strip()]
    lengths = [len(p.text.split()) for p in corpus]
    doc_types = [p.doc_type for p in corpus]
    out = []
    for i in range(n):
        target = rng.choice(lengths)
        parts: list[str] = []
        words = 0
        while words < target:
            s = rng.choice(sentences)
            parts.append(s)
            words += len(s.split())
        if rng.random() < 0.2:  # vary numbers so documents do not repeat verbatim
            parts = [re.sub(r"\d+", lambda m: str(rng.randint(1, 999)), s) for s in parts]
        out.append({"id": f"bench-{i:06d}", "text": " ".join(parts), "doc_type": rng.choice(doc_types)})
    return out


# ------------------------------------------------------------ measuring
def bench_spacy(texts: Sequence[str], framework_dir: str | None) -> dict[str, Any]:
    from pipeline.nlp import analyse_texts, get_nlp

    get_nlp(framework_dir)  # build outside the clock
    list(analyse_texts([WARM_UP_TEXT], framework_dir))  # not the measured texts: their words stay new
    with Clock() as c:
        n = sum(1 for _ in analyse_texts(texts, framework_dir))
    return rate(n, c)


def bench_tag_passages(model: Any, items: Sequence[dict], batch_size: int = 2000) -> dict[str, Any]:
    """Stream ``tag_passages`` over ``items``; keep nothing, sample RSS as it goes."""
    from pipeline.classify import tag_passages

    list(tag_passages(model, [{"id": "warm-up", "text": WARM_UP_TEXT}]))  # library, term labels; words stay new
    rss_trace: list[tuple[int, float]] = [(0, round(rss_mb(), 1))]
    step = max(1, len(items) // 10)
    n = tagged = 0
    with Clock() as c:
        for tags in tag_passages(model, items, batch_size=batch_size):
            n += 1
            tagged += bool(tags.kloe or tags.qs)
            if n % step == 0:
                rss_trace.append((n, round(rss_mb(), 1)))
    out = rate(n, c)
    out["batch_size"] = batch_size
    out["share_tagged"] = round(tagged / n, 3) if n else 0.0
    out["rss_mb_trace"] = rss_trace
    return out


def bench_stages(model: Any, items: Sequence[dict], batch_size: int = 2000) -> dict[str, float]:
    """Where tag_passages spends its time: the same steps as ``tag_texts``, timed one by one (CPU s)."""
    from pipeline.classify import tag_texts
    from pipeline.nlp import analyse_texts

    pipe = model.pipeline
    analyser = pipe.named_steps["analyse"]
    features = pipe.named_steps["features"]
    tagger = pipe.named_steps["tag"]
    totals = {"spacy": 0.0, "frame": 0.0, "features": 0.0, "words": 0.0, "chars": 0.0, "terms": 0.0,
              "scores": 0.0, "tag_texts_total": 0.0}
    named = dict((name, (vec, col)) for name, vec, col in features.transformers_)
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        texts = [b["text"] for b in batch]
        t = time.process_time()
        analyses = list(analyse_texts(texts, analyser.framework_dir))
        totals["spacy"] += time.process_time() - t
        t = time.process_time()
        frame = analyser.frame(analyses)
        totals["frame"] += time.process_time() - t
        t = time.process_time()
        feats = sparse.csr_matrix(features.transform(frame))
        totals["features"] += time.process_time() - t
        for name in ("words", "chars", "terms"):
            vec, col = named[name]
            t = time.process_time()
            vec.transform(frame[col])
            totals[name] += time.process_time() - t
        t = time.process_time()
        tagger.predict_proba(feats)
        totals["scores"] += time.process_time() - t
        t = time.process_time()
        tag_texts(model, texts, [b.get("doc_type") for b in batch], passage_ids=[b["id"] for b in batch])
        totals["tag_texts_total"] += time.process_time() - t
    rest = totals["tag_texts_total"] - totals["spacy"] - totals["frame"] - totals["features"] - totals["scores"]
    totals["tags_and_explanations"] = max(0.0, rest)
    return {k: round(v, 2) for k, v in totals.items()}


def bench_cli(model_dir: Path | None, items: Sequence[dict], workdir: Path, batch_size: int = 2000) -> dict[str, Any]:
    """``wellled classify`` on a JSONL file of ``items`` in a fresh process: wall time and peak RSS."""
    infile = workdir / f"in-{len(items)}.jsonl"
    outfile = workdir / f"out-{len(items)}.jsonl"
    with infile.open("w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json.dumps(it, ensure_ascii=False) + "\n")
    exe = REPO / ".venv" / "bin" / "wellled"
    cmd = [str(exe) if exe.exists() else "wellled", "classify", str(infile), "--out", str(outfile),
           "--batch-size", str(batch_size)]
    if model_dir is not None:
        cmd += ["--model", str(model_dir)]
    errfile = workdir / f"err-{len(items)}.txt"
    with errfile.open("w", encoding="utf-8") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        hwm = 0.0
        while True:
            # wait4 gives this child's own CPU time. Its ru_maxrss is NOT used: Linux carries the
            # high-water mark across fork+exec, so it would report this (large) benchmark process.
            # VmHWM of the child's own address space is polled instead.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            hwm = max(hwm, _vm_hwm_mb(proc.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"wellled classify failed ({proc.returncode}): {errfile.read_text()[-2000:]}")
    lines = sum(1 for _ in outfile.open(encoding="utf-8"))
    cpu = usage.ru_utime + usage.ru_stime
    return {"passages": len(items), "lines_out": lines, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "per_s_wall": round(len(items) / wall, 1), "per_s_cpu": round(len(items) / cpu, 1),
            "peak_rss_mb": round(hwm, 1), "input_mb": round(infile.stat().st_size / 2**20, 1)}


def _vm_hwm_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, MB; 0 if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def profile_tagging(model: Any, items: Sequence[dict], out_path: Path, batch_size: int = 2000) -> str:
    from pipeline.classify import tag_passages

    prof = cProfile.Profile()
    prof.enable()
    for _ in tag_passages(model, items, batch_size=batch_size):
        pass
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    buf.write(f"cProfile of tag_passages on {len(items)} passages (batch_size={batch_size})\n\n")
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(buf.getvalue(), encoding="utf-8")
    return buf.getvalue()


def train_all() -> tuple[dict[str, Any], Any]:
    """iv. Train on every labelled passage: (figures, the trained model)."""
    from pipeline.model import train_model

    corpus = load_labelled()
    logger.info("iv. training on all %d labelled passages", len(corpus))
    with Clock() as c:
        trained = train_model(corpus, seed=0)
    return {"passages": len(corpus), "labels": len(trained.labels.labels),
            "wall_s": round(c.wall, 1), "cpu_s": round(c.cpu, 1)}, trained


def get_model(workdir: Path, r: dict[str, Any], skip_train: bool) -> tuple[Any, Path, str]:
    """The default model; without one, a model trained here (its figures go in ``r["training"]``)."""
    from pipeline.model import default_model_dir, load_model, save_model

    try:
        path = default_model_dir()
        model = load_model(path)
        return model, path, f"default model {path.name} ({model.name} {model.version})"
    except ModelError as exc:
        if skip_train:
            raise SystemExit(f"no default model ({exc}) and --skip-train: train one with `wellled train` first")
        logger.info("no default model (%s): training one on every labelled passage", exc)
    r["training"], trained = train_all()
    out = save_model(trained, workdir / "bench-model")
    note = f"model trained here on all {r['training']['passages']} labelled passages (no models/DEFAULT)"
    return load_model(out), out, note


# --------------------------------------------------------------- output
def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "## Throughput, memory and training time\n",
        f"Generated by `benchmarks/bench_classify.py` on {m['date']}. Machine: {m['nproc']} CPUs ({m['cpu']}), "
        f"Python {m['python']}; the benchmark pinned itself to CPU(s) {m['pinned_to_cpus']} with BLAS at one thread. "
        f"Load average at start {m['load_average_at_start']} (the machine is shared: wall time is inflated by "
        f"other jobs, so CPU time of the process is shown next to it; on an idle core the two agree). "
        f"Model: {r['model']}. Passages: {r['passages']['n']:,} generated from the corpus's sentences "
        f"(median {r['passages']['median_words']} words, {r['passages']['mean_chars']} characters on average).\n",
        f"Target (issue 5): >= {TARGET_PER_S:,} passages/s on one core including spaCy.\n",
        "| measurement | passages | wall s | CPU s | passages/s (wall) | passages/s (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in (("spacy", "i. spaCy analysis alone (`analyse_texts`), fresh process"),
                       ("tag_passages", "ii. `tag_passages` (whole path), fresh process"),
                       ("cli_100k", "iii. `wellled classify` CLI, end to end"),
                       ("cli_10k", "iii. `wellled classify` CLI, 10k lines"),
                       ("cli_startup", "iii. `wellled classify` CLI, 20 lines (start-up cost)")):
        x = r.get(key)
        if x:
            lines.append(f"| {label} | {x['passages']:,} | {x['wall_s']} | {x.get('cpu_s', '')} | "
                         f"{x['per_s_wall']:,} | {x.get('per_s_cpu', '')} |")
    t = r["training"]
    lines.append(f"| iv. `train_model` on all labelled passages | {t['passages']:,} | {t['wall_s']} | {t['cpu_s']} "
                 f"| | |")
    lines.append("")
    tp = r.get("tag_passages")
    if tp:
        best = max(tp["per_s_cpu"], tp["per_s_wall"])
        verdict = "meets" if best >= TARGET_PER_S else "MISSES"
        lines.append(f"`tag_passages` {verdict} the target: {tp['per_s_cpu']:,} passages per CPU second "
                     f"({best / TARGET_PER_S:.0%} of {TARGET_PER_S:,}/s).\n")
        lines.append("Memory while streaming `tag_passages` (RSS MB after n passages; the 100k input texts are "
                     "already in memory): " + ", ".join(f"{n:,}: {v}" for n, v in tp["rss_mb_trace"]) + ".\n")
    if r.get("cli_100k") and r.get("cli_10k") and r.get("cli_startup"):
        a, b, c = r["cli_startup"], r["cli_10k"], r["cli_100k"]
        lines.append(f"Peak RSS of the CLI process: {a['peak_rss_mb']} MB on 20 lines, {b['peak_rss_mb']} MB on "
                     f"{b['passages']:,} lines, {c['peak_rss_mb']} MB on {c['passages']:,} lines "
                     f"({c['input_mb']} MB input): memory does not grow with the input.\n")
        steady = (c["passages"] - a["passages"]) / max(1e-9, c["cpu_s"] - a["cpu_s"])
        lines.append(f"The CLI's fixed start-up cost (imports, loading and checking the model, building the spaCy "
                     f"pipeline) is {a['cpu_s']} CPU s / {a['wall_s']} s wall; after it, the CLI tags "
                     f"{steady:,.0f} passages per CPU second.\n")
    st = r.get("stages")
    if st:
        total = st["tag_texts_total"] or 1.0
        lines.append(f"Where the time goes in `tag_passages` ({r['stages_passages']:,} passages, CPU s, share of "
                     "the whole path; measured in the parent process after the steps above, so every word has been "
                     "seen and the per-word caches are warm: a lower bound on each stage):\n")
        lines.append("| stage | CPU s | share |")
        lines.append("|---|---:|---:|")
        for k, label in (("spacy", "spaCy analysis"), ("frame", "analysis -> DataFrame"),
                         ("features", "TF-IDF transform (all three)"), ("words", "- word n-grams"),
                         ("chars", "- char n-grams"), ("terms", "- term features"),
                         ("scores", "linear scores + calibration"),
                         ("tags_and_explanations", "building Tags, explanations, evidence rules"),
                         ("tag_texts_total", "whole `tag_texts`")):
            lines.append(f"| {label} | {st[k]} | {st[k] / total:.0%} |")
        lines.append("")
    if r.get("profile_top"):
        lines.append("Top functions by own time (cProfile, `benchmarks/results/profile-classify.txt`):\n")
        lines.append("```\n" + r["profile_top"].rstrip() + "\n```\n")
    lines.append(f"Training: {t['passages']:,} passages, {t['labels']} labels, {t['wall_s']} s wall / "
                 f"{t['cpu_s']} s CPU.\n")
    return "\n".join(lines)


def _top_lines(profile_text: str, n: int = 15) -> str:
    lines = profile_text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("ncalls"):
            return "\n".join(lines[i : i + n + 1])
    return ""


def run_child(kind: str, items_file: Path, model_dir: Path, out_file: Path, batch_size: int) -> None:
    """Measure one step in this (fresh) process: nothing analysed before, as for a user's first run."""
    from pipeline.model import load_model

    items = json.loads(items_file.read_text(encoding="utf-8"))
    model = load_model(model_dir)
    if kind == "spacy":
        res = bench_spacy([it["text"] for it in items], model.framework_dir)
    else:
        res = bench_tag_passages(model, items, batch_size)
        res["peak_rss_mb_in_process"] = round(peak_rss_mb(), 1)
    out_file.write_text(json.dumps(res), encoding="utf-8")


def in_fresh_process(kind: str, items_file: Path, model_dir: Path, workdir: Path, batch_size: int) -> dict[str, Any]:
    """Run :func:`run_child` in a new Python process (same CPU pinning) and return its figures."""
    out = workdir / f"child-{kind}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--items", str(items_file),
           "--model-dir", str(model_dir), "--child-out", str(out), "--batch-size", str(batch_size)]
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text(encoding="utf-8"))


# ------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="passages to classify")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-train", action="store_true", help="needs models/DEFAULT")
    parser.add_argument("--profile", action="store_true", help="cProfile tag_passages on 10k passages")
    parser.add_argument("--stages-n", type=int, default=20_000, help="passages for the per-stage breakdown")
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one core")
    parser.add_argument("--json", type=Path, default=RESULTS_JSON)
    parser.add_argument("--md", type=Path, default=RESULTS_MD)
    parser.add_argument("--child", choices=["spacy", "tag"], help=argparse.SUPPRESS)
    parser.add_argument("--items", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.child:
        run_child(args.child, args.items, args.model_dir, args.child_out, args.batch_size)
        return 0

    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})  # children (the CLI) inherit it
    r: dict[str, Any] = {"machine": machine()}

    with tempfile.TemporaryDirectory(prefix="wellled-bench-") as tmp:
        workdir = Path(tmp)
        model, model_dir, r["model"] = get_model(workdir, r, args.skip_train)
        logger.info("model: %s", r["model"])

        items = make_passages(args.n)
        r["passages"] = {
            "n": len(items),
            "median_words": int(np.median([len(it["text"].split()) for it in items])),
            "mean_chars": int(np.mean([len(it["text"]) for it in items])),
        }
        texts = [it["text"] for it in items]
        fw_dir = model.framework_dir

        items_file = workdir / "items.json"
        items_file.write_text(json.dumps(items), encoding="utf-8")
        # i and ii each run in a fresh process: in this one, training or an earlier step would
        # already have seen the corpus's words, and every cache would flatter the figure.
        logger.info("i. spaCy analysis of %d passages (fresh process)", len(texts))
        r["spacy"] = in_fresh_process("spacy", items_file, model_dir, workdir, args.batch_size)
        logger.info("   %s", r["spacy"])
        logger.info("ii. tag_passages on %d passages (fresh process)", len(items))
        r["tag_passages"] = in_fresh_process("tag", items_file, model_dir, workdir, args.batch_size)
        logger.info("   %s", {k: v for k, v in r["tag_passages"].items() if k != "rss_mb_trace"})
        r["peak_rss_mb_in_process"] = r["tag_passages"].pop("peak_rss_mb_in_process", 0.0)
        n_st = min(args.stages_n, len(items))
        logger.info("per-stage breakdown on %d passages", n_st)
        r["stages"] = bench_stages(model, items[:n_st], args.batch_size)
        r["stages_passages"] = n_st
        logger.info("   %s", r["stages"])
        if args.profile:
            n_prof = min(10_000, len(items))
            logger.info("cProfile on %d passages", n_prof)
            text = profile_tagging(model, items[:n_prof], PROFILE_TXT, args.batch_size)
            r["profile_top"] = _top_lines(text)
        del texts

        if not args.skip_cli:
            for key, n in (("cli_startup", 20), ("cli_10k", min(10_000, len(items))), ("cli_100k", len(items))):
                logger.info("iii. wellled classify on %d lines", n)
                res = bench_cli(model_dir, items[:n], workdir, args.batch_size)
                r[key] = res
                logger.info("   %s", res)

        if "training" not in r:
            if args.skip_train:
                r["training"] = {"passages": 0, "labels": 0, "wall_s": "skipped", "cpu_s": "skipped"}
            else:
                r["training"] = train_all()[0]

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    text = markdown(r)
    write_section(args.md, "bench", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
