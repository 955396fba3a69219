"""The report: one self-contained HTML file that works in a real browser, plus the heatmap PNG."""

from __future__ import annotations

import re

import pytest

from pipeline.coverage import compute_coverage
from pipeline.report import ReportContext, render_report, write_heatmap_png, write_report
from tests.browser import ARTIFACTS, browser_page

DOC_TYPES = ["board_minutes", "committee_report", "risk_register", "annual_report", "strategy"]
SENTENCES = [
    "The committee reviewed the corporate risk register and escalated two risks to the Board.",
    "The Freedom to Speak Up Guardian reported a rise in concerns about behaviours.",
    "Staff network chairs shaped the WRES action plan with the Chief People Officer.",
    "Our Green Plan cut carbon from the estate by eleven per cent this year.",
    "The Board approved the five-year strategy after engagement with staff and partners.",
    "Learning from deaths reviews led to changes in the deteriorating patient pathway.",
]
LABELS = [("W5", "governance-management-sustainability"), ("W3", "freedom-to-speak-up"), ("W3", "workforce-edi"),
          (None, "environmental-sustainability"), ("W2", "shared-direction-and-culture"),
          ("W8", "learning-improvement-innovation")]


def make_pack(n_passages: int, n_docs: int = 8):
    docs = [
        {"document_id": f"d{i}", "source_path": f"Pack/Doc {i:02d} {DOC_TYPES[i % 5]}.pdf", "file_name": f"Doc {i}.pdf",
         "doc_type": DOC_TYPES[i % len(DOC_TYPES)], "title": f"Document {i}", "date": f"2025-0{1 + i % 9}-01",
         "page_count": 10}
        for i in range(n_docs)
    ]
    passages, tags = [], []
    for i in range(n_passages):
        d = docs[i % n_docs]
        k = i % len(SENTENCES)
        pid = f"p{i:06d}"
        passages.append({"passage_id": pid, "document_id": d["document_id"], "source_path": d["source_path"],
                         "doc_type": d["doc_type"], "page": 1 + i % 10,
                         "text": f"{SENTENCES[k]} Item {i} <b>not markup</b>."})
        kloe, qs = LABELS[k]
        score = 0.5 + (i % 50) / 100
        tags.append({"id": pid, "kloe": [{"id": kloe, "score": score, "terms": ["risk register", "carbon"]}] if kloe else [],
                     "qs": [{"id": qs, "score": score, "terms": ["Freedom to Speak Up"]}], "evidence": [], "why": []})
    return docs, passages, tags


@pytest.fixture(scope="module")
def small_report(tmp_path_factory, library):
    docs, passages, tags = make_pack(60)
    cov = compute_coverage(docs, passages, tags, library=library)
    out = tmp_path_factory.mktemp("report")
    files = [{"path": "Pack/broken.pdf", "status": "failed", "reason": "encrypted PDF (password required)",
              "doc_type": "", "pages": "", "passages": 0}]
    path = write_report(cov, ReportContext(pack_name="Test pack", model="test 0.1", files=files), out, library)
    return cov, path


def test_report_is_self_contained(small_report):
    cov, path = small_report
    html = path.read_text(encoding="utf-8")
    assert "<script src" not in html and "<link" not in html
    assert not re.search(r"https?://", html), "the report must not reference the network"
    assert "<b>not markup</b>" not in html.split('id="report-data"')[0]
    assert "encrypted PDF (password required)" in html


def test_report_summary_area_page_and_filters_in_chromium(small_report):
    cov, path = small_report
    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page() as page:
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#status-summary .tile").count() == 16
        assert page.locator("#request-list tbody tr").count() == len(cov.requests)
        assert page.locator("#thin-areas").is_visible()
        page.screenshot(path=str(ARTIFACTS / "report-summary.png"), full_page=False)
        page.click("a.tile[href='#area/W5']")
        page.wait_for_selector("#view-area:not(.hidden)")
        assert "W5" in page.inner_text("#area-title")
        total = cov.area("W5").passages
        assert f"of {total} excerpts" in page.inner_text("#count")
        assert page.locator("#excerpts article").count() == min(25, total)
        scores = [float(s) for s in page.locator("#excerpts .score").all_inner_texts()]
        assert scores == sorted(scores, reverse=True), "excerpts are listed best first"
        assert page.locator("#excerpts mark").count() > 0, "terms that drove the tag are highlighted"
        page.screenshot(path=str(ARTIFACTS / "report-area.png"), full_page=False)
        # text search
        page.fill("#f-search", "Item 6 ")
        page.wait_for_function("document.querySelectorAll('#excerpts article').length === 1")
        page.fill("#f-search", "")
        # document filter
        page.select_option("#f-doc", "0")
        page.wait_for_timeout(50)
        docs_shown = set(page.locator("#excerpts .src b.doc").all_inner_texts())
        assert docs_shown == {"Pack/Doc 00 board_minutes.pdf"}
        page.select_option("#f-doc", "")
        # score filter
        page.eval_on_selector("#f-score", "el => { el.value = '0.9'; el.dispatchEvent(new Event('input')); }")
        shown = [float(s) for s in page.locator("#excerpts .score").all_inner_texts()]
        assert shown and min(shown) >= 0.9
        # back to the summary
        page.click("nav#areas-nav a[data-view='summary']")
        page.wait_for_selector("#view-summary:not(.hidden)")


def test_twenty_thousand_excerpts_stay_usable(tmp_path, library):
    docs, passages, tags = make_pack(20_000, n_docs=40)
    cov = compute_coverage(docs, passages, tags, library=library)
    path = write_report(cov, ReportContext(pack_name="Large pack"), tmp_path, library)
    with browser_page() as page:
        page.goto(path.as_uri() + "#area/governance-management-sustainability")
        page.wait_for_selector("body[data-ready='1']")
        n = cov.area("governance-management-sustainability").passages
        assert n > 3000
        assert f"of {n} excerpts" in page.inner_text("#count")
        assert page.locator("#excerpts article").count() == 25, "only one page of excerpts is in the DOM"
        page.click("#next")
        assert f"26–50 of {n}" in page.inner_text("#count")
        page.fill("#f-search", "item 1236 ")
        page.wait_for_function(f"document.getElementById('count').textContent.indexOf('of {n} ') < 0")
        texts = page.locator("#excerpts .txt").all_inner_texts()
        assert 1 <= len(texts) < 10 and all("item 1236" in t.lower() for t in texts)
        page.screenshot(path=str(ARTIFACTS / "report-large.png"))


def test_heatmap_png(small_report, tmp_path):
    cov, _ = small_report
    png = write_heatmap_png(cov, tmp_path / "heatmap.png", title="Test pack")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_render_escapes_text_in_data(small_report, library):
    cov, _ = small_report
    html = render_report(cov, ReportContext(pack_name="<script>alert(1)</script>"), library)
    assert "<script>alert(1)</script>" not in html
