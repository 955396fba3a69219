"""Generate a ~1,000-page pack of board papers for the flow benchmark (issue 7).

The pack imitates what a large acute trust sends before a well-led
inspection: six sets of public board minutes (minute numbers ``TB 25/nnn``),
a long board papers bundle, committee reports with an indicator table every
few pages, an annual report and a quality account set in two columns, a
strategy and policies, a few DOCX reports and XLSX registers. Every PDF has a
running header and a "Page N of M" footer. Documents are rendered with the
functions of ``corpus_samples/build_packs.py`` (reportlab, python-docx,
openpyxl), so they look like the shipped sample packs.

Body text is built from sentences of the labelled corpus
(``corpus_samples/labelled``), matched to each document's type, shuffled with
a fixed seed: the classifier sees text in the register it was trained on, so
classification and coverage do realistic work. The trust is fictional.

The pack goes to a temp folder (never the repo) and is reused while the
generator version, seed and page target are unchanged.

Usage::

    .venv/bin/python benchmarks/make_large_pack.py [--pages 1000] [--seed 7] [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for p in (str(REPO), str(REPO / "corpus_samples")):
    if p not in sys.path:
        sys.path.insert(0, p)

import build_packs as bp  # noqa: E402  (corpus_samples/build_packs.py)

log = logging.getLogger("make_large_pack")

GEN_VERSION = 1  # bump when the generator changes, to regenerate the cached pack
TRUST = "Kestrelmoor Hospitals NHS Foundation Trust"  # fictional
LABELLED = REPO / "corpus_samples" / "labelled"
STAMP = ".stamp.json"  # beside the pack folder, never inside it
#: Single-column pages hold about this many words of body text (10pt Vera, A4), two-column (9pt) a little more.
WORDS_PER_PAGE = {"single": 760, "two-column": 950}

INDICATORS = [
    "Four-hour ED standard", "Referral to treatment 18 weeks", "Cancer 62-day standard", "Diagnostics 6 weeks",
    "Sickness absence", "Staff turnover", "Vacancy rate", "Agency spend (% of pay bill)",
    "Sepsis screening compliance", "Falls per 1,000 bed days", "Pressure ulcers (category 2+)",
    "Complaints answered in 25 days", "Friends and Family Test (inpatients)", "Mandatory training",
    "Appraisal completion", "Delayed discharges (no criteria to reside)", "Bed occupancy", "VTE risk assessment",
    "Hand hygiene audit", "Never events (year to date)", "Serious incidents declared", "C. difficile cases",
]  # fmt: skip
ASSURANCE = ["Limited", "Partial", "Reasonable", "Substantial"]
RAG = ["Red", "Amber", "Green"]
MONTHS = ["April", "May", "June", "July", "August", "September"]
COMMITTEES = [
    ("Quality and Safety Committee", "QSC", "committee_report"),
    ("People and Culture Committee", "PCC", "committee_report"),
    ("Finance and Performance Committee", "FPC", "committee_report"),
    ("Audit and Risk Committee", "ARC", "committee_report"),
]  # fmt: skip
MINUTE_TITLES = [
    "Apologies for absence and quorum", "Declarations of interest", "Minutes of the previous meeting",
    "Action log and matters arising", "Patient story", "Chair's report", "Chief Executive's report",
    "Integrated performance report", "Report of the Quality and Safety Committee chair",
    "Maternity and neonatal safety report", "Safe staffing report", "Learning from deaths report",
    "Report of the People and Culture Committee chair", "Freedom to Speak Up Guardian report",
    "Workforce race equality standard", "Report of the Finance and Performance Committee chair",
    "Financial position at month five", "Board assurance framework", "Corporate risk register",
    "Report of the Audit and Risk Committee chair", "Green plan progress", "Partnership and system update",
    "Questions from the public", "Any other business",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class DocSpec:
    """One document of the generated pack."""

    output: str  # path inside the pack
    kind: str  # minutes | committee | report | docx | xlsx
    doc_type: str  # corpus doc_type whose sentences fill it
    pages: int  # target pages (PDF/DOCX); rows for XLSX
    layout: str = "single"
    header: str = ""
    title: str = ""
    seed: int = 0
    prefix: str = "TB"


# --------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def load_sentences() -> dict[str, list[str]]:
    """Sentences of the labelled corpus by doc_type (headers and very short lines dropped)."""
    pools: dict[str, list[str]] = {}
    for f in sorted(LABELLED.glob("*.jsonl")):
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                d = json.loads(line)
                text = " ".join(str(d["text"]).split())
                for s in _SENT.split(text):
                    s = s.strip()
                    if 40 <= len(s) <= 400 and s[-1] in ".!?" and "|" not in s:
                        pools.setdefault(d["doc_type"], []).append(s.replace("*", ""))
    every = [s for v in pools.values() for s in v]
    for k in ("board_minutes", "committee_report", "annual_report", "strategy", "policy", "risk_register", "other"):
        pools.setdefault(k, every)
    pools["all"] = every
    return pools


def _para(rng: random.Random, pool: list[str], lo: int = 2, hi: int = 5) -> str:
    return " ".join(rng.choice(pool) for _ in range(rng.randint(lo, hi)))


def _words(blocks: list[bp.Block]) -> int:
    n = 0
    for b in blocks:
        if b.kind == "table":
            n += sum(len(" ".join(r).split()) for r in b.items) * 2  # tables take more room per word
            n += 40 * len(b.items) // 10
        elif b.kind in ("bullets", "numbers"):
            n += sum(len(t.split()) for t in b.items) + 8 * len(b.items)
        elif b.kind == "heading":
            n += 25
        else:
            n += len(b.text.split()) + 10
    return n


def _indicator_table(rng: random.Random, rows: int) -> bp.Block:
    head = ("Indicator", "Standard", "Previous month", "This month", "Trend", "Assurance")
    body = []
    for name in rng.sample(INDICATORS, rows):
        std = rng.choice(["95%", "92%", "85%", "90%", "3.5%", "10%", "0", "< 2.0"])
        prev = f"{rng.uniform(60, 99):.1f}%"
        this = f"{rng.uniform(60, 99):.1f}%"
        body.append((name, std, prev, this, rng.choice(["improving", "stable", "deteriorating"]), rng.choice(ASSURANCE)))
    return bp.Block("table", items=(head, *body))


def _action_table(rng: random.Random, pool: list[str], rows: int) -> bp.Block:
    head = ("Ref", "Action", "Owner", "Due", "Status")
    body = []
    for i in range(rows):
        body.append((f"A{rng.randint(10, 99)}.{i + 1}", rng.choice(pool)[:160], rng.choice(
            ["Chief Nurse", "Medical Director", "Director of Finance", "Chief People Officer", "Trust Secretary",
             "Chief Operating Officer"]), f"{rng.randint(1, 28)}/{rng.randint(10, 12)}/2025", rng.choice(RAG)))
    return bp.Block("table", items=(head, *body))


def minutes_blocks(spec: DocSpec, pools: dict[str, list[str]]) -> list[bp.Block]:
    """Board minutes: numbered minute items, resolutions, an action table now and then."""
    rng = random.Random(spec.seed)
    pool = pools["board_minutes"]
    target = spec.pages * WORDS_PER_PAGE[spec.layout]
    blocks = [
        bp.Block("para", text="**Present:** the Chair; the Chief Executive; the Chief Nurse; the Medical Director; "
                              "the Director of Finance; the Chief Operating Officer; five Non-Executive Directors."),
        bp.Block("para", text="**In attendance:** the Trust Secretary (minutes); the Freedom to Speak Up Guardian "
                              "(item 9); two members of the public."),
    ]
    num = 100 + rng.randint(0, 50)
    while _words(blocks) < target:
        for title in MINUTE_TITLES:
            if _words(blocks) >= target:
                break
            blocks.append(bp.Block("para", text=f"**{spec.prefix} 25/{num:03d} {title}**"))
            num += 1
            for _ in range(rng.randint(2, 5)):
                blocks.append(bp.Block("para", text=_para(rng, pool)))
            if rng.random() < 0.35:
                blocks.append(bp.Block("bullets", items=tuple(rng.choice(pool) for _ in range(rng.randint(2, 4)))))
            if rng.random() < 0.15:
                blocks.append(_action_table(rng, pool, rng.randint(3, 6)))
            blocks.append(bp.Block("para", text="**Resolved:** " + rng.choice(pool)))
    return blocks


def report_blocks(spec: DocSpec, pools: dict[str, list[str]], table_every: int = 3) -> list[bp.Block]:
    """A report: numbered sections, prose, an indicator table every few pages."""
    rng = random.Random(spec.seed)
    pool = pools[spec.doc_type]
    target = spec.pages * WORDS_PER_PAGE[spec.layout]
    blocks: list[bp.Block] = []
    section = 0
    words_since_table = 0
    table_words = table_every * WORDS_PER_PAGE[spec.layout]
    while _words(blocks) < target:
        section += 1
        blocks.append(bp.Block("heading", text=f"{section}. {rng.choice(MINUTE_TITLES[4:22])}", level=2))
        for sub in range(rng.randint(1, 3)):
            if rng.random() < 0.5:
                blocks.append(bp.Block("heading", text=f"{section}.{sub + 1} {rng.choice(pool)[:60].rstrip(' ,.')}",
                                       level=3))
            for _ in range(rng.randint(2, 4)):
                blocks.append(bp.Block("para", text=_para(rng, pool)))
                words_since_table += 80
            if rng.random() < 0.3:
                blocks.append(bp.Block("bullets", items=tuple(rng.choice(pool) for _ in range(rng.randint(2, 5)))))
        if table_every and words_since_table >= table_words:
            blocks.append(bp.Block("para", text="**Table: key indicators this period**"))
            blocks.append(_indicator_table(rng, rng.randint(6, 14) if spec.layout == "single" else rng.randint(4, 8)))
            words_since_table = 0
    return blocks


def xlsx_meta(spec: DocSpec, pools: dict[str, list[str]]) -> dict[str, Any]:
    """A risk register / BAF workbook with ``spec.pages`` rows."""
    rng = random.Random(spec.seed)
    pool = pools["risk_register"]
    cols = ["Risk ID", "Description", "Executive lead", "Committee", "Likelihood", "Consequence", "Current score",
            "Controls", "Gaps in assurance", "Actions", "Review date"]  # fmt: skip
    rows = []
    for i in range(spec.pages):
        lik, con = rng.randint(1, 5), rng.randint(1, 5)
        rows.append([f"R{i + 1:03d}", rng.choice(pool), rng.choice(["Chief Nurse", "Medical Director",
                     "Director of Finance", "Chief People Officer"]), rng.choice([c[0] for c in COMMITTEES]),
                     lik, con, lik * con, rng.choice(pool), rng.choice(pool), rng.choice(pool), "30/09/2025"])  # fmt: skip
    return {
        "output": spec.output,
        "author": "Risk Management Team",
        "sheets": [{"name": spec.title[:31] or "Register", "title_rows": [f"{TRUST}", spec.title],
                    "columns": cols, "rows": rows, "formulas": True,
                    "formula_columns": [{"header": "Score (calc)", "formula": "={Likelihood}*{Consequence}"}]}],
    }


# --------------------------------------------------------------------------
# The pack
# --------------------------------------------------------------------------


def pack_specs(pages: int = 1000, seed: int = 7) -> list[DocSpec]:
    """The documents, scaled so PDF + DOCX pages come to about ``pages``."""
    scale = pages / 1000
    rng = random.Random(seed)

    def n(p: int) -> int:
        return max(2, round(p * scale))

    hdr = f"{TRUST} | {{what}} | {{when}}"
    specs: list[DocSpec] = []
    dates = ["2025-04-24", "2025-05-29", "2025-06-26", "2025-07-31", "2025-08-28", "2025-09-25"]
    for d in dates:
        specs.append(DocSpec(f"Board/{d} Trust Board minutes (public).pdf", "minutes", "board_minutes", n(24),
                             header=hdr.format(what="Board of Directors (Public)", when=d),
                             title="Minutes of the Board of Directors meeting held in public", seed=rng.randrange(1 << 30)))
    specs.append(DocSpec("Board/2025-09-25 Trust Board papers (public).pdf", "report", "committee_report", n(180),
                         header=hdr.format(what="Board papers (Public)", when="25 September 2025"),
                         title="Trust Board meeting in public: papers", seed=rng.randrange(1 << 30)))
    for name, code, dt in COMMITTEES:
        for m in ("July", "September"):
            specs.append(DocSpec(f"Committees/{name} report to Board - {m} 2025.pdf", "report", dt, n(38),
                                 header=hdr.format(what=name, when=f"{m} 2025"),
                                 title=f"{name}: assurance report to the Board", seed=rng.randrange(1 << 30)))
        specs.append(DocSpec(f"Committees/{name} minutes - September 2025.pdf", "minutes", "board_minutes", n(12),
                             header=hdr.format(what=name, when="September 2025"), prefix=code,
                             title=f"Minutes of the {name}", seed=rng.randrange(1 << 30)))
    specs.append(DocSpec("Performance/Integrated Performance Report - August 2025.pdf", "report", "committee_report",
                         n(60), header=hdr.format(what="Integrated Performance Report", when="August 2025"),
                         title="Integrated Performance Report", seed=rng.randrange(1 << 30)))
    specs.append(DocSpec("Annual report/Annual Report and Accounts 2024-25.pdf", "report", "annual_report", n(120),
                         layout="two-column", header=hdr.format(what="Annual Report", when="2024/25"),
                         title="Annual Report and Accounts 2024/25", seed=rng.randrange(1 << 30)))
    specs.append(DocSpec("Quality/Quality Account 2024-25.pdf", "report", "annual_report", n(60), layout="two-column",
                         header=hdr.format(what="Quality Account", when="2024/25"),
                         title="Quality Account 2024/25", seed=rng.randrange(1 << 30)))
    specs.append(DocSpec("Strategy/Trust strategy 2025-2030.pdf", "report", "strategy", n(40),
                         header=hdr.format(what="Strategy 2025-2030", when="approved July 2025"),
                         title="Our strategy 2025-2030", seed=rng.randrange(1 << 30)))
    for pol in ("Risk management policy", "Freedom to speak up policy", "Fit and proper persons policy"):
        specs.append(DocSpec(f"Policies/{pol}.pdf", "report", "policy", n(16),
                             header=hdr.format(what=pol, when="version 4.0"), title=pol, seed=rng.randrange(1 << 30)))
    for title, dt in (("Freedom to Speak Up annual report 2024-25", "committee_report"),
                      ("Equality, diversity and inclusion annual report 2024-25", "annual_report"),
                      ("Well-led developmental review - action plan", "other"),
                      ("Green plan progress report 2025", "strategy")):
        specs.append(DocSpec(f"Reports/{title}.docx", "docx", dt, n(8), header=f"{TRUST} | {title}", title=title,
                             seed=rng.randrange(1 << 30)))
    for title, rows in (("Board Assurance Framework Q2 2025-26", 24), ("Corporate risk register September 2025", 120),
                        ("Divisional risk registers September 2025", 300)):
        specs.append(DocSpec(f"Risk/{title}.xlsx", "xlsx", "risk_register", rows, title=title,
                             seed=rng.randrange(1 << 30)))
    return specs


def render_spec(spec: DocSpec, pools: dict[str, list[str]]) -> tuple[str, bytes, int | None]:
    """Render one document: ``(path in pack, bytes, pages or None)``."""
    meta: dict[str, Any] = {"output": spec.output, "layout": spec.layout, "running_header": spec.header,
                            "running_footer": "Page {page} of {pages}", "title": spec.title,
                            "author": "Corporate Governance Team"}
    if spec.kind == "xlsx":
        data, _ = bp.render_xlsx(xlsx_meta(spec, pools), spec.output)
        return spec.output, bp.normalize_ooxml(data), None
    if spec.kind == "minutes":
        blocks = minutes_blocks(spec, pools)
    else:
        blocks = report_blocks(spec, pools, table_every=3 if spec.layout == "single" else 5)
    if spec.kind == "docx":
        data, pages = bp.render_docx(meta, blocks, spec.output)
        return spec.output, bp.normalize_ooxml(data), pages
    data, pages = bp.render_pdf(meta, blocks, spec.output)
    return spec.output, data, pages


_POOLS: dict[str, list[str]] | None = None


def _render_in_worker(spec: DocSpec) -> tuple[str, bytes, int | None]:
    global _POOLS
    if _POOLS is None:
        _POOLS = load_sentences()
    return render_spec(spec, _POOLS)


def default_out(pages: int, seed: int) -> Path:
    """The cached pack's folder in the temp dir."""
    return Path(tempfile.gettempdir()) / f"wellled-large-pack-v{GEN_VERSION}-p{pages}-s{seed}"


def make_large_pack(out: Path | None = None, pages: int = 1000, seed: int = 7, force: bool = False,
                    workers: int | None = None) -> dict[str, Any]:
    """Render the pack into ``out`` (default: a temp folder); reuse it when already made.

    Returns:
        ``{"path", "files", "pdf_pages", "docx_pages", "pages", "seconds", "reused"}``.
    """
    out = Path(out) if out else default_out(pages, seed)
    stamp = out.with_name(out.name + STAMP)
    key = {"gen_version": GEN_VERSION, "pages": pages, "seed": seed}
    if stamp.is_file() and not force:
        info = json.loads(stamp.read_text(encoding="utf-8"))
        if info.get("key") == key:
            info.update(path=str(out), reused=True)
            return info
    start = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    specs = pack_specs(pages, seed)
    workers = workers or min(len(specs), os.cpu_count() or 1)
    files = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # longest first, so the pool does not end on one long document
        order = sorted(specs, key=lambda s: -s.pages if s.kind != "xlsx" else 0)
        for path, data, npages in pool.map(_render_in_worker, order):
            dest = out / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            files.append({"path": path, "bytes": len(data), "pages": npages})
            log.info("%-70s %5s pages %8d bytes", path, npages, len(data))
    files.sort(key=lambda f: f["path"])
    pdf_pages = sum(f["pages"] or 0 for f in files if f["path"].endswith(".pdf"))
    docx_pages = sum(f["pages"] or 0 for f in files if f["path"].endswith(".docx"))
    info = {"key": key, "files": files, "pdf_pages": pdf_pages, "docx_pages": docx_pages,
            "pages": pdf_pages + docx_pages, "seconds": round(time.perf_counter() - start, 1)}
    stamp.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    info.update(path=str(out), reused=False)
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=1000, help="target PDF+DOCX pages (default 1000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None, help="folder (default: a folder in the temp dir)")
    ap.add_argument("--force", action="store_true", help="render again even if the folder is up to date")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    info = make_large_pack(args.out, args.pages, args.seed, args.force)
    log.warning("%s: %d files, %d PDF pages + %d DOCX pages (est.), %s in %.1f s", info["path"], len(info["files"]),
                info["pdf_pages"], info["docx_pages"], "reused" if info["reused"] else "rendered", info["seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
