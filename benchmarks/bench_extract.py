"""Extraction benchmark: wellled ingest vs plain pdfplumber vs raw pypdfium2.

Generates a pack of board papers as PDFs (at least 500 pages in all: running
header, "Page N of M" footer, headings, prose, a ruled table every few pages,
some two-column pages) plus one long PDF, then measures, each in its own
process so peak memory is its own:

* ``wellled``: ``run_file`` on every file in one process (one core), with all
  the cleaning, tables and passage splitting;
* ``wellled pack, N workers``: ``ingest_pack`` end to end (worker process per
  file, manifest and outputs written) with 1 and 2 workers;
* ``pdfplumber``: ``page.extract_text()`` on every page (pages not closed,
  as plain use does);
* ``pypdfium2``: ``textpage.get_text_range()`` on every page;
* the long single PDF with wellled and pypdfium2, to show memory does not
  grow with page count.

It also checks quality on the same files: are two-column paragraphs whole
(not interleaved line by line), are table rows kept with their column
headers, are running headers and page numbers gone.

Usage::

    .venv/bin/python benchmarks/bench_extract.py [--pages 520] [--long-pages 500] [--out benchmarks/RESULTS-extract.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

GEN_VERSION = 3  # bump when the generator changes, to regenerate the cached pack
HEADER = "Harrowfield Teaching Hospitals NHS Foundation Trust | Trust Board (Public) | 25 September 2025"
TABLE_HEADER = ["Indicator", "Standard", "Previous month", "This month", "Assurance"]

SUBJECTS = [
    "The Board", "The Quality Committee", "The Chief Nurse", "The Medical Director", "The Audit and Risk Committee",
    "The People Committee", "The Director of Finance", "The Chief Operating Officer", "Non-Executive Directors",
    "The Freedom to Speak Up Guardian", "The Trust Secretary", "The Finance and Performance Committee",
]  # fmt: skip
VERBS = [
    "noted", "reviewed", "approved", "discussed", "received assurance on", "asked for a deep dive into",
    "challenged the executive on", "agreed the actions in", "supported the recommendations of", "escalated",
]  # fmt: skip
OBJECTS = [
    "the integrated performance report", "the maternity safety report", "the board assurance framework",
    "the corporate risk register", "the staff survey action plan", "the infection prevention and control report",
    "the learning from deaths report", "the workforce race equality standard data", "the financial recovery plan",
    "the estates backlog maintenance programme", "the digital strategy refresh", "the patient experience report",
    "the sepsis screening audit", "the safe staffing review", "the freedom to speak up annual report",
]  # fmt: skip
TAILS = [
    "and asked for an update at the next meeting", "following discussion of the risks to delivery",
    "subject to the changes agreed at the meeting", "noting that performance remained below the national standard",
    "with limited assurance on the pace of improvement", "and thanked the team for their work",
    "recognising the pressure on emergency care over the winter", "and referred the detail to the committee",
]  # fmt: skip
INDICATORS = [
    "Four-hour ED standard", "Referral to treatment 18 weeks", "Cancer 62-day standard", "Sickness absence",
    "Staff turnover", "Vacancy rate", "Agency spend", "Sepsis screening compliance", "Falls per 1,000 bed days",
    "Pressure ulcers (category 2+)", "Complaints responded to in 25 days", "Friends and Family Test",
    "Mandatory training", "Appraisal completion", "Delayed discharges", "Bed occupancy",
]  # fmt: skip


def _sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}."


def _paragraph(rng: random.Random, n: int | None = None) -> str:
    return " ".join(_sentence(rng) for _ in range(n or rng.randint(3, 6)))


# --------------------------------------------------------------------------- generation


def build_pdf(path: Path, rng: random.Random, units: int, truth: dict) -> None:
    """One board paper of roughly ``units`` pages."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfgen import canvas as rl_canvas
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        NextPageTemplate,
        PageBreak,
        PageTemplate,
        Paragraph,
        Table,
        TableStyle,
    )

    class NumberedCanvas(rl_canvas.Canvas):
        """Writes "Page N of M" once the page count is known (the usual reportlab recipe)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved: list[dict] = []

        def showPage(self):  # noqa: N802 - reportlab API
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self.setFont("Helvetica", 8)
                self.drawString(50, A4[1] - 30, HEADER)
                self.drawRightString(A4[0] - 50, 25, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    ss = getSampleStyleSheet()
    width, height = A4
    one = Frame(50, 50, width - 100, height - 110, id="one")
    left = Frame(50, 50, (width - 110) / 2, height - 110, id="left")
    right = Frame(60 + (width - 110) / 2, 50, (width - 110) / 2, height - 110, id="right")
    doc = BaseDocTemplate(
        str(path),
        pagesize=A4,
        pageTemplates=[PageTemplate("one", [one]), PageTemplate("two", [left, right])],
        title=path.stem,
    )
    story = [Paragraph(path.stem, ss["Title"])]
    section = 0
    for u in range(units):
        kind = ("text", "table", "text", "twocol", "text")[u % 5]
        section += 1
        if kind == "twocol":
            story += [NextPageTemplate("two"), PageBreak(), Paragraph(f"{section}. Annual report extract", ss["Heading1"])]
            for _ in range(12):
                para = _paragraph(rng, rng.randint(2, 4))
                truth["two_column_paragraphs"].append(para)
                story.append(Paragraph(para, ss["BodyText"]))
            story += [NextPageTemplate("one"), PageBreak()]
            continue
        story.append(Paragraph(f"{section}. {rng.choice(OBJECTS).capitalize()}", ss["Heading1"]))
        if kind == "table":
            story.append(Paragraph(_paragraph(rng, 2), ss["BodyText"]))
            rows = []
            for _ in range(rng.randint(10, 14)):
                prev, cur = rng.randint(60, 99), rng.randint(60, 99)
                rows.append([rng.choice(INDICATORS), f"{rng.randint(80, 95)}%", f"{prev}%", f"{cur}%",
                             rng.choice(["Improving", "Common cause", "Fail consistently", "Pass"])])  # fmt: skip
                truth["table_rows"].append(" | ".join(f"{h}: {v}" for h, v in zip(TABLE_HEADER, rows[-1])))
            table = Table([TABLE_HEADER, *rows])
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey), ("FONTSIZE", (0, 0), (-1, -1), 8)]))
            story.append(table)
        for _ in range(rng.randint(4, 6)):
            story.append(Paragraph(_paragraph(rng), ss["BodyText"]))
    doc.build(story, canvasmaker=NumberedCanvas)


def generate(work: Path, pages: int, long_pages: int) -> dict:
    """Generate (or reuse) the pack and the long PDF; return their description."""
    import pypdfium2 as pdfium

    meta_path = work / "pack.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if (meta.get("target_pages"), meta.get("long_target"), meta.get("version")) == (pages, long_pages, GEN_VERSION):
            return meta
    pack = work / "pack"
    pack.mkdir(parents=True, exist_ok=True)
    for old in pack.glob("*.pdf"):
        old.unlink()
    rng = random.Random(20250925)
    truth = {"two_column_paragraphs": [], "table_rows": []}
    total = 0
    i = 0
    while total < pages:
        i += 1
        path = pack / f"TB 25-{100 + i:03d} Board paper {i:02d}.pdf"
        build_pdf(path, rng, rng.randint(14, 22), truth)
        total += len(pdfium.PdfDocument(str(path)))
    long_pdf = work / "long" / "Annual report and accounts (long).pdf"
    long_pdf.parent.mkdir(parents=True, exist_ok=True)
    long_truth = {"two_column_paragraphs": [], "table_rows": []}
    build_pdf(long_pdf, random.Random(7), int(long_pages * 2.5), long_truth)
    # A very long file: the long one four times over (pdfium copies pages; no new layout needed).
    longest = work / "longest" / "Annual report and accounts (4 volumes).pdf"
    longest.parent.mkdir(parents=True, exist_ok=True)
    merged = pdfium.PdfDocument.new()
    for _ in range(4):
        merged.import_pages(pdfium.PdfDocument(str(long_pdf)))
    merged.save(str(longest))
    meta = {
        "version": GEN_VERSION,
        "longest_pages": len(merged),
        "target_pages": pages,
        "long_target": long_pages,
        "files": i,
        "pages": total,
        "long_pages": len(pdfium.PdfDocument(str(long_pdf))),
        "truth": truth,
    }
    meta_path.write_text(json.dumps(meta))
    return meta


# --------------------------------------------------------------------------- measurements (run in a subprocess each)


def _norm(text: str) -> str:
    text = re.sub(r"[\ufffe\u00ad\x02]\s*", "", text)
    return " ".join(text.split())


def quality(texts: list[str], truth: dict) -> dict:
    joined = _norm("\n".join(texts))
    two = truth["two_column_paragraphs"]
    rows = truth["table_rows"]
    whole = sum(1 for p in two if p in joined)
    with_headers = sum(1 for r in rows if r in joined)
    return {
        "two_column_whole": whole / len(two) if two else None,
        "table_rows_with_headers": with_headers / len(rows) if rows else None,
        "running_headers_left": joined.count(HEADER),
        "page_numbers_left": len(re.findall(r"Page \d+ of \d+", joined)),
    }


def _usage() -> tuple[float, float]:
    from pipeline.ingest.runner import peak_rss_mb

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, peak_rss_mb() or 0.0


def measure(name: str, target: Path, out: Path) -> dict:
    files = sorted(target.glob("*.pdf"))
    cpu0, _ = _usage()
    t0 = time.perf_counter()
    texts: list[str] = []
    pages = 0
    extra: dict = {}
    if name == "wellled":
        from pipeline.ingest import SourceFile, run_file

        passages = 0
        for f in files:
            res = run_file(SourceFile(f.name, f, size=f.stat().st_size))
            assert res.status == "ingested", res.reason
            pages += res.document.page_count
            passages += len(res.passages)
            texts.append(res.document.text)
        extra["passages"] = passages
    elif name.startswith("wellled-pack"):
        from pipeline.ingest import ingest_pack

        workers = int(name.rsplit("-", 1)[1])
        result = ingest_pack(target, out / name, workers=workers)
        pages = result.pages
        texts = [d.text for d in result.documents]
        extra["passages"] = result.summary()["passages"]
        extra["worker_peak_rss_mb"] = max(r.peak_rss_mb or 0 for r in result.results)
        extra["worker_cpu_s"] = sum(r.cpu_seconds or 0 for r in result.results)
        extra["worker_wall_s"] = sum(r.seconds for r in result.results)
    elif name == "pdfplumber":
        import pdfplumber

        for f in files:
            with pdfplumber.open(str(f)) as pdf:
                for page in pdf.pages:
                    texts.append(page.extract_text() or "")
                    pages += 1
    elif name == "pypdfium2":
        import pypdfium2 as pdfium

        for f in files:
            pdf = pdfium.PdfDocument(str(f))
            for i in range(len(pdf)):
                page = pdf[i]
                tp = page.get_textpage()
                texts.append(tp.get_text_range())
                tp.close()
                page.close()
                pages += 1
            pdf.close()
    else:
        raise SystemExit(f"unknown measurement {name}")
    wall = time.perf_counter() - t0
    cpu1, peak = _usage()
    res = {"name": name, "pages": pages, "wall_s": wall, "cpu_s": cpu1 - cpu0, "peak_rss_mb": peak, **extra}
    truth_path = target.parent / "pack.json"
    if target.name == "pack" and truth_path.exists():  # quality, after the peak was taken
        res.update(quality(texts, json.loads(truth_path.read_text())["truth"]))
    return res


def run_measure(name: str, target: Path, work: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", name, "--target", str(target), "--work", str(work)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report


def _fmt(v, spec: str = ".1f") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def report(meta: dict, rows: list[dict], long_rows: list[dict], env: dict) -> str:
    lines = [
        "# Extraction benchmark",
        "",
        f"Run {env['when']} on {env['machine']} ({env['cpus']} CPUs; load average at start {env['load']}: "
        "other jobs were sharing the machine, so wall-clock figures are noisier than CPU figures). "
        f"Python {env['python']}, pypdfium2 {env['pypdfium2']}, pdfplumber {env['pdfplumber']}.",
        "",
        f"Pack: {meta['files']} generated board papers, {meta['pages']} pages in all (running header, "
        "\"Page N of M\" footer, headings, prose, a ruled 5-column table every ~5 pages, a two-column page every ~5 pages). "
        f"Long file: one PDF of {meta['long_pages']} pages of the same mix.",
        "",
        "Made by `.venv/bin/python benchmarks/bench_extract.py`. Each row ran in its own process. "
        "*Pages/s (CPU)* is pages per CPU-second spent parsing (the one-core rate, whatever else the machine "
        "was doing); *pages/s (wall)* is end to end; *cores busy* is CPU seconds over wall seconds; *workers at once* is the summed time "
        "files spent in workers over wall time (how many workers ran side by side). Peak "
        "memory is the peak resident set (VmHWM) of the process that parsed (for the pack runs: the largest "
        "worker). Quality columns check the extracted text against what the generator wrote.",
        "",
        "| Method | Pages | Wall s | CPU s | Cores busy | Workers at once | Pages/s (CPU) | Pages/s (wall) | Peak MB | "
        "Two-column paragraphs whole | Table rows with headers | Running headers left | Page numbers left |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {
        "wellled": "wellled `run_file`, 1 core (clean + tables + passages)",
        "wellled-pack-1": "wellled `ingest_pack`, 1 worker (end to end)",
        "wellled-pack-2": "wellled `ingest_pack`, 2 workers (end to end)",
        "pdfplumber": "plain pdfplumber `extract_text()`",
        "pypdfium2": "raw pypdfium2 `get_text_range()`",
    }
    for r in rows:
        cpu = r["cpu_s"] + r.get("worker_cpu_s", 0.0)
        peak = r.get("worker_peak_rss_mb") or r["peak_rss_mb"]
        lines.append(
            f"| {labels[r['name']]} | {r['pages']} | {r['wall_s']:.1f} | {cpu:.1f} | {cpu / r['wall_s']:.2f} | "
            f"{_fmt(r['worker_wall_s'] / r['wall_s'] if 'worker_wall_s' in r else None, '.2f')} | "
            f"{r['pages'] / max(cpu, 1e-9):.0f} | "
            f"{r['pages'] / r['wall_s']:.0f} | {peak:.0f} | {_fmt(r.get('two_column_whole'), '.0%')} | "
            f"{_fmt(r.get('table_rows_with_headers'), '.0%')} | {r.get('running_headers_left', 'n/a')} | "
            f"{r.get('page_numbers_left', 'n/a')} |"
        )
    lines += [
        "",
        "Memory against file length (one process reading files one after another; the peak includes the "
        "finished Document and all its passages, which are the result):",
        "",
        "| Input | Method | Pages | Wall s | Pages/s (CPU) | Peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in long_rows:
        lines.append(
            f"| {r['folder']} | {labels[r['name']]} | {r['pages']} | {r['wall_s']:.1f} | "
            f"{r['pages'] / max(r['cpu_s'], 1e-9):.0f} | {r['peak_rss_mb']:.0f} |"
        )
    two = next((r for r in rows if r["name"] == "wellled-pack-2"), None)
    if two is not None:
        busy = (two["cpu_s"] + two.get("worker_cpu_s", 0.0)) / two["wall_s"]
        at_once = two.get("worker_wall_s", 0.0) / two["wall_s"]
        lines += [
            "",
            f"With 2 workers, {at_once:.2f} workers ran at once on average but only {busy:.2f} cores' worth of CPU "
            "went to them"
            + (
                ": the other jobs on this shared machine held the rest, so the wall time did not halve. On an idle "
                "2-core machine the two workers' CPU rate is what to expect end to end."
                if busy < 1.3
                else "."
            ),
        ]
    lines += ["", NOTES]
    return "\n".join(lines) + "\n"


NOTES = """## How wellled reads a PDF, and why

* **Running text: pypdfium2.** One text page per PDF page gives the text in content order (a
  two-column page comes out column by column), each line's position, size and weight, and the
  line-end hyphens pdfium marks. Plain pdfplumber `extract_text()` merges the two columns line by
  line (see the *whole* column above), is ~40x slower and its peak memory is several times higher
  even though each file here is only ~15 pages (pages are not closed in plain use).
* **Tables: pdfplumber's table finder, fed by pdfium.** A full pdfplumber parse of a table page
  costs ~0.25 s of CPU (pdfminer lays out every character), which alone would cap a pack with a
  table every few pages near 20 pages/s. Instead the ruling lines are read from pdfium's path
  objects (a cheap walk of the page objects, also how table pages are spotted), handed to
  pdfplumber's own `merge_edges` / `edges_to_intersections` / `intersections_to_cells` /
  `cells_to_tables`, and each cell's text is the characters whose centre falls inside it (taken
  from pdfium, only for the lines that cross the table). pdfplumber proper (`find_tables`, page
  closed after use) is kept for pages whose rulings sit inside form XObjects.
* **Cleaning:** running headers and footers are lines in the top or bottom band that recur, digits
  ignored, on half the pages within ten pages either side (so a header that changes by section is
  still caught); page-number lines always go. Lines become paragraphs by spacing, indentation,
  size and case; headings by size or whole-line bold; words hyphenated at a line end are joined
  unless the first part makes a compound ("well-led"); a paragraph cut by a page break is joined;
  a table running over a page break keeps its first page's header (also when only the header row
  fits at the foot of the first page).
* **Memory:** pages stream through that ten-page window, so what stays in memory is the result
  (Document text, blocks, passages: ~20 KB a page), not the pages. Each worker sends its result
  back through a temporary file, pickled as a stream, so it never holds a second serialised copy.
* **Cores:** `ingest_pack` reads one file per worker process (forkserver, so workers start warm
  and a file that hangs or blows up is killed alone); with `workers=2` both cores work when the
  pack has several files. A single long file is read by one worker.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=520, help="pages in the generated pack (at least)")
    ap.add_argument("--long-pages", type=int, default=500, help="pages in the long single PDF (about)")
    ap.add_argument("--work", type=Path, default=HERE / "results" / "tmp" / "extract")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS-extract.md")
    ap.add_argument("--skip-pdfplumber", action="store_true", help="leave out the slow pdfplumber row")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the last run's figures")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--target", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.measure:
        res = measure(args.measure, args.target, args.work)
        print(json.dumps(res))
        return
    if args.report_only:  # rewrite the report from the last run's saved figures
        saved = json.loads((args.work / "results.json").read_text(encoding="utf-8"))
        args.out.write_text(report(saved["meta"], saved["rows"], saved["long_rows"], saved["env"]), encoding="utf-8")
        print(f"wrote {args.out}")
        return

    import pdfplumber
    import pypdfium2

    args.work.mkdir(parents=True, exist_ok=True)
    env = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "pypdfium2": str(getattr(pypdfium2, "__version__", None) or pypdfium2.version.PYPDFIUM_INFO),
        "pdfplumber": pdfplumber.__version__,
    }
    t = time.perf_counter()
    meta = generate(args.work, args.pages, args.long_pages)
    print(f"pack: {meta['files']} files, {meta['pages']} pages; long file {meta['long_pages']} pages "
          f"({time.perf_counter() - t:.0f} s)", flush=True)  # fmt: skip
    names = ["wellled", "wellled-pack-1", "wellled-pack-2", "pypdfium2"] + ([] if args.skip_pdfplumber else ["pdfplumber"])
    rows = []
    for name in names:
        r = run_measure(name, args.work / "pack", args.work)
        print(f"{name}: {r['pages']} pages, wall {r['wall_s']:.1f} s, cpu {r['cpu_s'] + r.get('worker_cpu_s', 0):.1f} s, "
              f"peak {r.get('worker_peak_rss_mb') or r['peak_rss_mb']:.0f} MB", flush=True)  # fmt: skip
        rows.append(r)
    long_rows = []
    for folder in ("pack", "long", "longest"):
        for name in ("wellled", "pypdfium2"):
            if folder == "pack":
                r = next(x for x in rows if x["name"] == name)
                long_rows.append({**r, "folder": f"{meta['files']} files, {meta['pages'] // meta['files']} pages each"})
                continue
            r = run_measure(name, args.work / folder, args.work)
            print(f"{folder} {name}: {r['pages']} pages, wall {r['wall_s']:.1f} s, peak {r['peak_rss_mb']:.0f} MB", flush=True)
            long_rows.append({**r, "folder": f"one file of {r['pages']} pages"})
    saved = {"meta": {k: v for k, v in meta.items() if k != "truth"}, "rows": rows, "long_rows": long_rows, "env": env}
    (args.work / "results.json").write_text(json.dumps(saved, indent=1, default=str), encoding="utf-8")
    args.out.write_text(report(saved["meta"], rows, long_rows, env), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
