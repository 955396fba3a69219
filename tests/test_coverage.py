"""Coverage: statuses from counts and breadth, prompts, key evidence, requests, enquiries."""

from __future__ import annotations

import pytest

from pipeline.coverage import CoverageRules, compute_coverage, load_rules
from pipeline.errors import FrameworkError


def _doc(i: int, doc_type: str, name: str, date: str = "2025-09-01") -> dict:
    return {"document_id": f"d{i}", "source_path": name, "file_name": name.rsplit("/", 1)[-1],
            "doc_type": doc_type, "title": name.rsplit("/", 1)[-1].rsplit(".", 1)[0], "date": date,
            "page_count": 3}


def _passage(pid: str, doc: dict, text: str) -> dict:
    return {"passage_id": pid, "document_id": doc["document_id"], "text": text,
            "source_path": doc["source_path"], "doc_type": doc["doc_type"], "page": 1}


def _tag(pid: str, kloe=(), qs=(), score=0.9, evidence=()) -> dict:
    return {"id": pid, "kloe": [{"id": k, "score": score, "terms": []} for k in kloe],
            "qs": [{"id": q, "score": score, "terms": []} for q in qs], "evidence": list(evidence), "why": []}


@pytest.fixture(scope="module")
def pack():
    docs = [
        _doc(1, "board_minutes", "Board/Board minutes July 2025.pdf"),
        _doc(2, "committee_report", "Committees/Quality Committee report.docx"),
        _doc(3, "risk_register", "Risk/Board Assurance Framework 2025-26.xlsx"),
        _doc(4, "annual_report", "Annual report 2024-25.pdf", "2025-06-30"),
    ]
    passages, tags = [], []
    # W5: 12 passages over 4 documents of 4 types -> strong
    for i in range(12):
        d = docs[i % 4]
        pid = f"w5-{i}"
        passages.append(_passage(pid, d, f"The committee reviewed risk {i} on the risk register and escalated it to the Board with partial assurance."))
        tags.append(_tag(pid, ["W5"], ["governance-management-sustainability"]))
    # W3: five passages all from one board minute -> thin
    for i in range(5):
        pid = f"w3-{i}"
        passages.append(_passage(pid, docs[0], f"Staff survey item {i}: colleagues feel valued and supported by managers."))
        tags.append(_tag(pid, ["W3"], ["shared-direction-and-culture"]))
    # a repeated passage counts once
    passages.append({**_passage("w3-dup", docs[1], passages[-1]["text"]), "duplicate_of": "w3-4"})
    tags.append(_tag("w3-dup", ["W3"], ["shared-direction-and-culture"]))
    # a passage with no tag is not an excerpt
    passages.append(_passage("neg", docs[0], "Apologies were received from the Director of Finance."))
    tags.append(_tag("neg"))
    return docs, passages, tags


def test_area_status_counts_breadth_not_just_passages(pack, library):
    docs, passages, tags = pack
    cov = compute_coverage(docs, passages, tags, library=library)
    assert cov.area("W5").status == "strong"
    assert cov.area("W5").documents == 4 and cov.area("W5").doc_types == 4
    w3 = cov.area("W3")
    assert w3.status == "thin" and w3.passages == 5 and w3.documents == 1
    assert "one document" in w3.reason
    assert cov.area("W6").status == "absent" and cov.area("W6").passages == 0
    assert cov.area("environmental-sustainability").status == "absent"
    assert {r.framework for r in cov.areas} == {"kloe", "qs"}
    assert len(cov.areas) == 16


def test_excerpts_keep_provenance_and_skip_untagged(pack, library):
    docs, passages, tags = pack
    cov = compute_coverage(docs, passages, tags, library=library)
    ids = {e.passage_id for e in cov.excerpts}
    assert "neg" not in ids and "w5-0" in ids
    e = next(e for e in cov.excerpts if e.passage_id == "w5-0")
    assert e.source_path == docs[0]["source_path"] and e.location == "page 1"
    best = cov.excerpts_for("W5")
    assert len(best) == 12


def test_prompts_get_passages_and_statuses(pack, library):
    docs, passages, tags = pack
    cov = compute_coverage(docs, passages, tags, library=library)
    prompts = [p for p in cov.prompts if p.framework == "kloe"]
    assert len(prompts) == 47
    w5 = [p for p in prompts if p.area == "W5"]
    assert sum(p.passages for p in w5) > 0, "risk passages should land under a W5 prompt"
    assert all(p.status == "absent" for p in prompts if p.area == "W6")


def test_request_list_and_lines_of_enquiry(pack, library):
    docs, passages, tags = pack
    cov = compute_coverage(docs, passages, tags, library=library)
    w6_items = [e for e in library.evidence_items() if e.area_id == "W6" and e.kind != "interview"]
    requested = {r["id"] for r in cov.requests}
    assert any(e.id in requested for e in w6_items)
    assert all(r["request"].startswith("Please provide") for r in cov.requests)
    assert not any(e.kind == "interview" and e.id in requested for e in library.evidence_items())
    areas = {q["area"] for q in cov.enquiries}
    assert "W6" in areas and "W3" in areas and "W5" not in areas
    kinds = {q["kind"] for q in cov.enquiries if q["area"] == "W6"}
    assert "question" in kinds


def test_trust_type_filters_scoped_requests(pack, library):
    docs, passages, tags = pack
    cancer = {e.id for e in library.evidence_items() if "cancer" in (e.scope or ())}
    assert cancer, "the 2018 framework scopes some key evidence to cancer services"
    acute = compute_coverage(docs, passages, tags, library=library, trust_type="acute")
    ambulance = compute_coverage(docs, passages, tags, library=library, trust_type="ambulance")
    assert cancer & {r["id"] for r in acute.requests}
    assert not cancer & {r["id"] for r in ambulance.requests}


def test_crosswalk_rows_carry_both_statuses(pack, library):
    docs, passages, tags = pack
    cov = compute_coverage(docs, passages, tags, library=library)
    row = next(r for r in cov.crosswalk if r.kloe == "W5")
    assert row.kloe_status == "strong" and row.qs_status
    assert any(r.qs == "environmental-sustainability" and not r.kloe for r in cov.crosswalk)


def test_rules_file_is_validated(tmp_path, library):
    rules = load_rules(library=library)
    assert isinstance(rules, CoverageRules) and rules.area.strong.passages >= rules.area.adequate.passages
    bad = tmp_path / "rules.yaml"
    bad.write_text("kind: coverage_rules\nmin_score: 0\narea: {strong: {passages: 0, documents: 1}}\n")
    with pytest.raises(FrameworkError, match="rules.yaml"):
        load_rules(bad)
