"""Tests for pipeline.framework (the framework library) and `wellled framework`.

They check the shipped framework/ files against what the seed documents hold
(counts and exact wording), the loader's error messages on broken files
written to tmp_path, the exported JSON Schema, and the CLI.
"""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import spacy
import yaml
from typer.testing import CliRunner

from flows.cli import app
from pipeline.errors import FrameworkError
from pipeline.framework import (
    ENV_FRAMEWORK_DIR,
    Library,
    default_framework_dir,
    load_library,
    schema_documents,
)

REPO = Path(__file__).resolve().parents[1]
FRAMEWORK_DIR = REPO / "framework"
SEED_DIR = Path("/work/shared/seeds")
KLOE_SEED = SEED_DIR / "well-led-kloes-2018.md"

KLOE_AREAS = ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"]
QS_AREAS = [
    "shared-direction-and-culture",
    "capable-compassionate-inclusive-leaders",
    "freedom-to-speak-up",
    "workforce-edi",
    "governance-management-sustainability",
    "partnerships-and-communities",
    "learning-improvement-innovation",
    "environmental-sustainability",
]
# What the 2018 seed holds, counted by hand from the document.
PROMPTS_PER_AREA = {"W1": 4, "W2": 6, "W3": 9, "W4": 5, "W5": 6, "W6": 7, "W7": 5, "W8": 5}
GUIDANCE_PER_AREA = {"W1": 6, "W2": 13, "W3": 6, "W4": 10, "W5": 6, "W6": 9, "W7": 6, "W8": 14}
# Ticked key-evidence lines per area (top level), and W4's nested sub-items.
KEY_EVIDENCE_PER_AREA = {"W1": 9, "W2": 14, "W3": 18, "W4": 12, "W5": 22, "W6": 14, "W7": 11, "W8": 12}
W4_SUB_ITEMS = {"W4.corporate-governance-frameworks": 9, "W4.board-committee-papers": 4}

# Exact wording spot checks: id -> text as the seed has it (page breaks rejoined).
EXACT_PROMPTS = {
    "W1.3": "Are leaders visible and approachable?",
    "W2.6": "Is progress against delivery of the strategy and local plans monitored and reviewed, and is there evidence to show this?",
    "W3.5": (
        "Does the culture encourage openness and honesty at all levels within the organisation, including with "
        "people who use services, in response to incidents? Do leaders and staff understand the importance of staff "
        "being able to raise concerns without fear of retribution, and is appropriate learning and action taken as a "
        "result of concerns raised?"
    ),
    "W4.5": (
        "Are there robust arrangements to make sure that hospital managers discharge their specific powers and duties "
        "according to the provisions of the Mental Health Act 1983?"
    ),
    "W5.5": (
        "Are potential risks taken into account when planning services, for example seasonal or other expected or "
        "unexpected fluctuations in demand, or disruption to staffing or facilities?"
    ),
    "W8.5": (
        "Are there systems to support improvement and innovation work, including objectives and rewards for staff, "
        "data systems, and processes for evaluating and sharing the results of improvement work?"
    ),
}
EXACT_EVIDENCE = {
    "W3.ftsu-policy": "Freedom To Speak Up policy",
    "W3.wres-data-report-action-plan": "WRES data report and action plan",
    "W5.risk-registers": "Corporate and service level risk registers",
    "W4.corporate-governance-frameworks.scheme-of-delegation": "Scheme of delegation",
    "W4.strategy-organisational-structure": "Review trust strategy & Organisational structure",
    "W5.audit-plans-reports": (
        "Audit plans and reports. To include national clinical audits for lung, prostate, older people's breast & bowel cancer"
    ),
    "W1.eds2-leadership-domain": "EDS2 report – leadership domain",
    "W2.pharmacy-transformation-plan": "(Hospital Pharmacy Transformation Plan (HPTP))",
    "W6.senior-interviews": "Interviews with senior managers and Board members, Caldicott Guardian, SIRO",
    "W8.cancer-improvement-plan": "Provider cancer improvement plan",
}
EXACT_GUIDANCE = {
    "W3.G6": (
        "Is the trust signed up to Tackling bullying in the NHS – a collective call to action? If so what measurable "
        "action is taking place? How is the trust monitoring progress?"
    ),
    "W4.G10": (
        "If another trust provides mental health liaison services, do those responsible for monitoring the contract "
        "know if they are a member of PLAN and follow their quality standards?"
    ),
    "W2.G12": (
        "Does the trust have sufficient plans for the replacement of high cost equipment such as linear accelerators "
        "and is this through managed services, lease or capital replacement?"
    ),
    "W8.G12": (
        "What do staff/the trust think they are doing better this year in relation to meeting the needs of patients "
        "with mental health, learning disabilities, autism or dementia diagnoses? Is there evidence to back up their views?"
    ),
}
EXACT_WE_STATEMENTS = {
    "freedom-to-speak-up": "We foster a positive culture where people feel that they can speak up and that their voice will be heard.",
    "environmental-sustainability": (
        "We understand any negative impact of our activities on the environment and we strive to make a positive "
        "contribution in reducing it and support people to do the same."
    ),
}
# Terms trust papers use that the vocabulary must know (acronym or phrase).
REQUIRED_ACRONYMS = [
    "BAF", "FTSU", "FTSUG", "WRES", "WDES", "EDS2", "CIP", "DSPT", "PSIRF", "PSII", "SIRO", "ICB", "ICS",
    "QI", "NED", "FPPT", "SJR", "IPC", "EPRR", "IPR", "GIRFT", "GoSWH",
]
REQUIRED_PHRASES = [
    "board assurance framework", "freedom to speak up guardian", "speaking up", "guardian of safe working hours",
    "gender pay gap", "staff networks", "cost improvement programme", "data security and protection toolkit",
    "caldicott guardian", "patient safety incident response", "after action review", "green plan", "net zero",
    "carbon emissions", "place-based partnership", "provider collaborative", "quality improvement",
    "fit and proper person", "well-led review", "internal audit", "head of internal audit opinion",
    "learning from deaths", "structured judgement review", "medical examiner", "duty of candour", "appraisal",
    "mandatory training", "staff survey", "people promise", "mental health act", "hospital managers",
    "emergency preparedness", "business continuity", "integrated performance report", "SPC charts",
    "model hospital", "getting it right first time", "EDS 2022",
]


@pytest.fixture(scope="module")
def lib() -> Library:
    return load_library(FRAMEWORK_DIR)


def _copy_framework(tmp_path: Path) -> Path:
    target = tmp_path / "framework"
    target.mkdir(parents=True)
    for path in FRAMEWORK_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _read_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader


def _edit_yaml(path: Path, edit) -> None:
    data = _read_yaml(path)
    edit(data)
    path.write_text(yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _load_error(directory: Path) -> str:
    load_library.cache_clear()
    with pytest.raises(FrameworkError) as info:
        load_library(directory)
    assert isinstance(info.value, ValueError)
    return str(info.value)


# --------------------------------------------------------------------------- #
# What the seeds hold
# --------------------------------------------------------------------------- #


def test_frameworks_in_order_with_eight_areas_each(lib):
    assert list(lib.frameworks)[:2] == ["kloe", "qs"]
    assert lib.area_ids("kloe") == KLOE_AREAS
    assert lib.area_ids("qs") == QS_AREAS


def test_kloe_has_47_prompts_with_seed_ids(lib):
    prompts = lib.prompts("kloe")
    assert len(prompts) == 47
    expected = [f"{a}.{i}" for a, n in PROMPTS_PER_AREA.items() for i in range(1, n + 1)]
    assert [p.id for p in prompts] == expected
    for prompt in prompts:
        assert prompt.area_id == prompt.id.split(".")[0]
        assert not prompt.derived


def test_kloe_guidance_counts(lib):
    counts = {area.id: len(area.guidance) for area in lib.areas("kloe")}
    assert counts == GUIDANCE_PER_AREA
    for area in lib.areas("kloe"):
        assert [g.id for g in area.guidance] == [f"{area.id}.G{i}" for i in range(1, len(area.guidance) + 1)]


def test_kloe_key_evidence_counts_and_nesting(lib):
    counts = {area.id: len(area.key_evidence) for area in lib.areas("kloe")}
    assert counts == KEY_EVIDENCE_PER_AREA
    w4 = lib.area("W4")
    assert {item.id: len(item.children) for item in w4.key_evidence if item.children} == W4_SUB_ITEMS
    assert len(lib.evidence_items("kloe")) == sum(KEY_EVIDENCE_PER_AREA.values()) + sum(W4_SUB_ITEMS.values())


def test_key_evidence_ids_follow_the_convention(lib):
    for item in lib.evidence_items():
        prefix = (item.parent or item.area_id) + "."
        assert item.id.startswith(prefix), item.id
        slug = item.id[len(prefix):]
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug), item.id
        assert 1 <= slug.count("-") + 1 <= 5, item.id


def test_nested_items_know_parent_and_area(lib):
    child = lib.evidence_item("W4.corporate-governance-frameworks.scheme-of-delegation")
    assert child.parent == "W4.corporate-governance-frameworks"
    assert child.area_id == "W4"
    assert lib.evidence_item("W4.board-committee-papers.audit").text == "Audit"
    flat = [item.id for item in lib.area("W4").evidence_items()]
    parent_at = flat.index("W4.corporate-governance-frameworks")
    assert flat[parent_at + 1] == "W4.corporate-governance-frameworks.board-and-committees"


@pytest.mark.parametrize("prompt_id, text", EXACT_PROMPTS.items())
def test_prompt_wording_is_the_seeds(lib, prompt_id, text):
    assert lib.prompt(prompt_id).text == text


@pytest.mark.parametrize("evidence_id, text", EXACT_EVIDENCE.items())
def test_key_evidence_wording_is_the_seeds(lib, evidence_id, text):
    assert lib.evidence_item(evidence_id).text == text


@pytest.mark.parametrize("guidance_id, text", EXACT_GUIDANCE.items())
def test_guidance_wording_is_the_seeds(lib, guidance_id, text):
    _, question = lib.resolve(guidance_id)
    assert question.text == text


def test_report_subheadings(lib):
    assert [a.report_subheading for a in lib.areas("kloe")] == [
        "Leadership", "Vision and Strategy", "Culture", "Governance",
        "Management of risks, issues and performance", "Information management", "Engagement",
        "Learning, continuous improvement and innovation",
    ]


def test_no_conversion_artefacts_left(lib):
    text = json.dumps(lib.to_export(), ensure_ascii=False)
    for yaml_file in FRAMEWORK_DIR.glob("*.yaml"):  # the data, not the comments
        text += json.dumps(_read_yaml(yaml_file), ensure_ascii=False)
    for artefact in ("NEXT PHASE METHODOLOGY", "<li>", "</p>", "&amp;", "✓", "<sup>", "](#)"):
        assert artefact not in text, artefact


def test_scopes_recorded_where_the_seed_says(lib):
    assert lib.prompt("W4.5").scope == ("mental_health",)
    assert "Specialist mental health services" in lib.prompt("W4.5").scope_note
    for evidence_id in ("W5.cancer-breach-policies", "W5.cancer-waiting-times-plan", "W8.cancer-improvement-plan"):
        assert lib.evidence_item(evidence_id).scope == ("cancer",)
    scoped = {g.id: g.scope for g in lib.guidance("kloe") if g.scope}
    assert scoped["W1.G5"] == ("combined",)
    assert scoped["W2.G6"] == ("mental_health",)
    assert scoped["W6.G9"] == ("cancer",)
    assert lib.area("W2").guidance[0].scope == ()
    dipc = [i for i in lib.framework("kloe").interviews.key if "infection prevention" in i.text]
    assert dipc[0].scope == ("acute",)
    # Every cancer-scoped guidance line mentions cancer or radiotherapy equipment.
    for gid, scope in scoped.items():
        if scope == ("cancer",):
            _, q = lib.resolve(gid)
            assert re.search(r"cancer|linear accelerator|radiotherapy", q.text + " ".join(q.items), re.I), gid


def test_evidence_kinds(lib):
    kinds = {item.id: item.kind for item in lib.evidence_items("kloe")}
    assert all(kinds[f"{a}.staff-interviews"] == "interview" for a in KLOE_AREAS)
    assert kinds["W3.appraisal-rates"] == "data"
    assert kinds["W3.ftsu-policy"] == "document"
    assert sum(1 for k in kinds.values() if k == "document") > 80


def test_interview_lists(lib):
    interviews = lib.framework("kloe").interviews
    assert len(interviews.key) == 15
    assert len(interviews.other) == 26
    assert interviews.key[0].text == "trust chair"
    assert interviews.other[-1].text == "decontamination lead"


def test_footnote_becomes_a_note(lib):
    _, question = lib.resolve("W1.G3")
    assert "<sup>" not in question.text
    assert "Collective Leadership" in question.note


@pytest.mark.skipif(not KLOE_SEED.exists(), reason="seed documents not present")
def test_every_kloe_text_appears_in_the_seed(lib):
    seed = html.unescape(KLOE_SEED.read_text(encoding="utf-8"))
    seed = re.sub(r"<[^>]+>", " ", seed)
    seed = re.sub(r"NEXT PHASE METHODOLOGY \(2018\)\s+WELL-LED", " ", seed)
    seed = re.sub(r"\*\*|[✓•○]|--+", " ", seed)
    seed = re.sub(r"\s+", " ", seed)
    texts = [p.text for p in lib.prompts("kloe")] + [e.text for e in lib.evidence_items("kloe")]
    for question in lib.guidance("kloe"):
        texts.append(question.text)
        texts.extend(question.items)
    for text in texts:
        assert _in_seed(text, seed), text


def _in_seed(text: str, seed: str) -> bool:
    """True if ``text`` is in the seed whole, or in two pieces split at a page break."""
    if text in seed:
        return True
    words = text.split(" ")
    for k in range(1, len(words)):
        head, tail = " ".join(words[:k]), " ".join(words[k:])
        if head in seed and tail in seed and seed.index(head) < seed.rindex(tail):
            return True
    return False


def test_quality_statements(lib):
    for area in lib.areas("qs"):
        assert area.we_statement and area.question == area.we_statement
        assert area.what_good_looks_like and area.further_detail and area.resources
        assert any(r.relationship == "linked" for r in area.regulations)
        assert area.prompts and all(p.derived_from for p in area.prompts)
        assert [p.id for p in area.prompts] == [f"{area.id}.{i}" for i in range(1, len(area.prompts) + 1)]
        assert area.key_evidence and all(e.derived_from for e in area.key_evidence)
    for area_id, text in EXACT_WE_STATEMENTS.items():
        assert lib.area(area_id).we_statement == text
    assert lib.evidence_item("freedom-to-speak-up.guardian-reports-to-board").area_id == "freedom-to-speak-up"
    linked = {a.id: [r.number for r in a.regulations if r.relationship == "linked"] for a in lib.areas("qs")}
    assert linked["capable-compassionate-inclusive-leaders"] == [18, 19, 7]
    assert all(17 in numbers for area_id, numbers in linked.items() if area_id != "capable-compassionate-inclusive-leaders")
    may_also = {a.id: [r.number for r in a.regulations if r.relationship == "may_also_consider"] for a in lib.areas("qs")}
    assert may_also["capable-compassionate-inclusive-leaders"] == [5]
    assert may_also["governance-management-sustainability"] == [12]
    assert may_also["workforce-edi"] == []
    first = lib.area("shared-direction-and-culture").what_good_looks_like[0]
    assert first.items == ("quality of care", "improvement", "finances", "operational performance.")


# --------------------------------------------------------------------------- #
# Crosswalk and vocabulary
# --------------------------------------------------------------------------- #


def test_crosswalk_covers_every_area(lib):
    mentioned = {link.kloe for link in lib.crosswalk} | {link.qs for link in lib.crosswalk}
    assert set(KLOE_AREAS + QS_AREAS) <= mentioned
    assert all(link.rationale for link in lib.crosswalk)
    assert "freedom-to-speak-up" in lib.linked("W3")
    assert "workforce-edi" in lib.linked("W3")
    assert lib.linked("freedom-to-speak-up")[0] == "W3"
    assert lib.linked("W8") == ["learning-improvement-innovation"]
    assert lib.linked("environmental-sustainability") == []
    assert any(link.kloe is None and link.qs == "environmental-sustainability" for link in lib.crosswalk)
    for link in lib.crosswalk:
        for prompt_id in link.prompts:
            assert lib.prompt(prompt_id).area_id in (link.kloe, link.qs)


def test_vocabulary_size_and_coverage(lib):
    assert 250 <= len(lib.vocabulary) <= 400
    ids = [t.id for t in lib.vocabulary]
    assert len(ids) == len(set(ids))
    for area_id in KLOE_AREAS + QS_AREAS:
        assert lib.terms_for(area_id), area_id
    # Every kloe document or data item has at least one term; only interviews may have none.
    for item in lib.evidence_items("kloe"):
        if item.kind != "interview":
            assert lib.terms_for(item.id), item.id


def test_vocabulary_knows_trust_paper_terms(lib):
    acronyms = {a for t in lib.vocabulary for a in t.acronyms}
    phrases = {p.lower() for t in lib.vocabulary for p in t.phrases}
    assert [a for a in REQUIRED_ACRONYMS if a not in acronyms] == []
    assert [p for p in REQUIRED_PHRASES if p.lower() not in phrases] == []
    # Ambiguous words are never matched bare.
    assert not {"place", "plan", "impact", "me", "od"} & phrases
    assert not {"PLAN", "IMPACT", "ME", "OD", "NGO"} & acronyms


def test_acronyms_are_single_tokens(lib):
    nlp = spacy.blank("en")
    multi = [(t.id, a) for t in lib.vocabulary for a in t.acronyms if len(nlp(a)) != 1]
    assert multi == []


def test_vocabulary_term_signals(lib):
    term = next(t for t in lib.vocabulary if t.id == "baf")
    assert "BAF" in term.acronyms
    assert "W5" in term.areas and "governance-management-sustainability" in term.areas
    assert "W4.corporate-governance-frameworks.assurance-framework" in term.evidence
    assert [d.value for d in term.doc_types] == ["risk_register"]
    assert {t.id for t in lib.terms_for("W3.ftsu-policy")} >= {"ftsu-policy"}


# --------------------------------------------------------------------------- #
# Library API
# --------------------------------------------------------------------------- #


def test_unknown_ids_raise_naming_the_id(lib):
    with pytest.raises(FrameworkError, match="'W9'"):
        lib.area("W9")
    with pytest.raises(FrameworkError, match="'W3.ftps-policy'"):
        lib.evidence_item("W3.ftps-policy")
    with pytest.raises(FrameworkError, match="'nope'"):
        lib.framework("nope")


def test_version_is_stable_and_loads_are_cached(lib):
    assert re.fullmatch(r"[0-9a-f]{12}", lib.version)
    assert load_library(FRAMEWORK_DIR) is lib
    load_library.cache_clear()
    again = load_library(FRAMEWORK_DIR)
    assert again is not lib and again.version == lib.version


def test_version_changes_with_the_files(tmp_path, lib):
    directory = _copy_framework(tmp_path)
    assert load_library(directory).version == lib.version
    with (directory / "kloe.yaml").open("a", encoding="utf-8") as handle:
        handle.write("\n# reviewed\n")
    assert load_library(directory).version != lib.version


def test_default_dir_from_environment(tmp_path, monkeypatch):
    directory = _copy_framework(tmp_path)
    monkeypatch.setenv(ENV_FRAMEWORK_DIR, str(directory))
    assert default_framework_dir() == directory
    assert load_library().path == directory


def test_export_format(lib):
    exported = lib.to_export()
    json.dumps(exported)
    assert [f["id"] for f in exported][:2] == ["kloe", "qs"]
    kloe = exported[0]
    assert [a["id"] for a in kloe["areas"]] == KLOE_AREAS
    w4 = kloe["areas"][3]
    assert {"id", "title", "prompts", "key_evidence"} <= set(w4)
    assert w4["prompts"][0] == {"id": "W4.1", "text": lib.prompt("W4.1").text, "scope": [], "derived_from": None}
    ids = [e["id"] for e in w4["key_evidence"]]
    parent_at = ids.index("W4.board-committee-papers")
    child = w4["key_evidence"][parent_at + 1]
    assert child["id"] == "W4.board-committee-papers.risk"
    assert child["parent"] == "W4.board-committee-papers"
    assert w4["key_evidence"][parent_at]["parent"] is None
    assert {link["area"] for link in w4["crosswalk"]} == {"governance-management-sustainability", "partnerships-and-communities"}


def test_exported_json_schema_is_current():
    for name, schema in schema_documents().items():
        path = FRAMEWORK_DIR / "schema" / name
        assert path.exists(), f"{path} missing: run 'wellled framework schema'"
        assert json.loads(path.read_text(encoding="utf-8")) == schema, f"{name} is stale: run 'wellled framework schema'"


# --------------------------------------------------------------------------- #
# Broken files give clear errors
# --------------------------------------------------------------------------- #


def test_unknown_evidence_id_in_vocabulary(tmp_path):
    directory = _copy_framework(tmp_path)

    def edit(data):
        data["terms"][12]["evidence"] = ["W3.ftps-policy"]

    _edit_yaml(directory / "vocabulary.yaml", edit)
    message = _load_error(directory)
    assert "vocabulary.yaml: terms[12].evidence[0]: unknown key-evidence id 'W3.ftps-policy'" in message


def test_unknown_area_in_vocabulary(tmp_path):
    directory = _copy_framework(tmp_path)
    _edit_yaml(directory / "vocabulary.yaml", lambda d: d["terms"][0]["areas"].append("W9"))
    assert "vocabulary.yaml: terms[0].areas[2]: unknown area id 'W9'" in _load_error(directory)


def test_bad_value_names_file_path_and_item(tmp_path):
    directory = _copy_framework(tmp_path)
    _edit_yaml(directory / "kloe.yaml", lambda d: d["areas"][2]["key_evidence"][3].update(kind="paper"))
    message = _load_error(directory)
    assert "kloe.yaml: areas[2].key_evidence[3].kind: Input should be 'document', 'interview' or 'data'" in message
    assert "'paper'" in message
    assert "W3.wres-data-analysis" in message


def test_unknown_field_and_missing_field(tmp_path):
    directory = _copy_framework(tmp_path)

    def edit(data):
        data["areas"][0]["colour"] = "blue"
        del data["areas"][1]["prompts"][0]["text"]

    _edit_yaml(directory / "kloe.yaml", edit)
    message = _load_error(directory)
    assert "kloe.yaml: areas[0].colour: unknown field" in message
    assert "kloe.yaml: areas[1].prompts[0].text: required field missing" in message


def test_yaml_syntax_error_gives_line(tmp_path):
    directory = _copy_framework(tmp_path)
    (directory / "broken.yaml").write_text("kind: framework\nid: x\nareas: [\n  - id: oops\n", encoding="utf-8")
    message = _load_error(directory)
    assert "broken.yaml: line " in message and "YAML syntax error" in message


def test_duplicate_key_is_an_error(tmp_path):
    directory = _copy_framework(tmp_path)
    text = (directory / "crosswalk.yaml").read_text(encoding="utf-8")
    text = text.replace("    strength: secondary\n", "    strength: secondary\n    strength: primary\n", 1)
    (directory / "crosswalk.yaml").write_text(text, encoding="utf-8")
    assert "duplicate key 'strength'" in _load_error(directory)


def test_file_without_kind(tmp_path):
    directory = _copy_framework(tmp_path)
    (directory / "notes.yaml").write_text("title: my notes\n", encoding="utf-8")
    assert "notes.yaml: kind: required field missing" in _load_error(directory)


def test_unknown_kind_is_kept_with_a_warning(tmp_path, caplog):
    directory = _copy_framework(tmp_path)
    (directory / "coverage-rules.yaml").write_text("kind: coverage_rules\nthin_below: 4\n", encoding="utf-8")
    (directory / "zz.yaml").write_text("kind: reviewer_notes\nnotes: [a]\n", encoding="utf-8")
    load_library.cache_clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.framework"):
        library = load_library(directory)
    assert library.extra("coverage_rules") == [{"kind": "coverage_rules", "thin_below": 4}]
    assert library.extra("reviewer_notes")[0]["notes"] == ["a"]
    assert "reviewer_notes" in caplog.text
    assert "coverage_rules" not in caplog.text


def test_duplicate_evidence_id(tmp_path):
    directory = _copy_framework(tmp_path)
    _edit_yaml(directory / "qs.yaml", lambda d: d["areas"][0]["key_evidence"].append(
        {"id": "W3.ftsu-policy", "text": "x", "derived_from": "what good looks like"}))
    message = _load_error(directory)
    assert "qs.yaml: areas[0]" in message and "W3.ftsu-policy" in message


def test_id_outside_its_area(tmp_path):
    directory = _copy_framework(tmp_path)
    _edit_yaml(directory / "kloe.yaml", lambda d: d["areas"][0]["prompts"][0].update(id="W2.9"))
    message = _load_error(directory)
    assert "kloe.yaml: areas[0]: prompt id 'W2.9' must start with the area id 'W1.'" in message


def test_crosswalk_errors(tmp_path):
    directory = _copy_framework(tmp_path)
    _edit_yaml(directory / "crosswalk.yaml", lambda d: d["links"][0].update(qs="freedom-to-speak"))
    assert "crosswalk.yaml: links[0].qs: unknown qs area id 'freedom-to-speak'" in _load_error(directory)

    directory = _copy_framework(tmp_path / "second")
    _edit_yaml(directory / "crosswalk.yaml", lambda d: d.update(links=[l for l in d["links"] if l["kloe"] != "W5"]))
    assert "area 'W5' of framework 'kloe' has no crosswalk link" in _load_error(directory)


def test_a_third_framework_is_just_a_file(tmp_path):
    directory = _copy_framework(tmp_path)
    third = {
        "kind": "framework",
        "id": "responsive",
        "title": "Responsive key question",
        "version": "test",
        "source": "none",
        "description": "A made-up third framework.",
        "areas": [
            {
                "id": "R1",
                "title": "Meeting needs",
                "question": "Are services planned to meet people's needs?",
                "prompts": [{"id": "R1.1", "text": "Do services reflect local needs?"}],
                "key_evidence": [{"id": "R1.access-plan", "text": "Access plan"}],
            }
        ],
    }
    (directory / "responsive.yaml").write_text(yaml.safe_dump(third), encoding="utf-8")
    load_library.cache_clear()
    library = load_library(directory)
    assert list(library.frameworks) == ["kloe", "qs", "responsive"]
    assert library.area("R1").report_subheading == "Meeting needs"
    assert library.evidence_item("R1.access-plan").kind == "document"
    assert library.linked("R1") == []


# --------------------------------------------------------------------------- #
# CLI
# --------------------------------------------------------------------------- #

runner = CliRunner()


def test_cli_list():
    result = runner.invoke(app, ["framework", "list"])
    assert result.exit_code == 0, result.output
    for text in ("W1", "W8", "environmental-sustainability", "(no counterpart)", "learning-improvement-innovation"):
        assert text in result.output


def test_cli_show_w3():
    result = runner.invoke(app, ["framework", "show", "W3"])
    assert result.exit_code == 0, result.output
    for text in ("Culture", "W3.5", "W3.G2", "W3.ftsu-policy", "W3.wres-data-report-action-plan", "freedom-to-speak-up", "primary"):
        assert text in result.output


def test_cli_show_quality_statement():
    result = runner.invoke(app, ["framework", "show", "freedom-to-speak-up"])
    assert result.exit_code == 0, result.output
    for text in ("We statement", "freedom-to-speak-up.guardian-reports-to-board", "W3", "Regulation 17: Good governance"):
        assert text in result.output


def test_cli_show_evidence_and_unknown():
    result = runner.invoke(app, ["framework", "show", "W4.corporate-governance-frameworks.scheme-of-delegation"])
    assert result.exit_code == 0, result.output
    assert "parent W4.corporate-governance-frameworks" in result.output
    result = runner.invoke(app, ["framework", "show", "W9"])
    assert result.exit_code == 1
    assert "unknown id 'W9'" in result.output


def test_cli_export_json_and_yaml():
    result = runner.invoke(app, ["framework", "export", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [f["id"] for f in data][:2] == ["kloe", "qs"]
    assert sum(len(a["prompts"]) for a in data[0]["areas"]) == 47
    area = data[1]["areas"][2]
    assert area["id"] == "freedom-to-speak-up"
    assert all({"id", "text"} <= set(e) for e in area["key_evidence"])
    as_yaml = runner.invoke(app, ["framework", "export", "--format", "yaml"])
    assert as_yaml.exit_code == 0
    assert yaml.load(as_yaml.stdout, Loader=_LOADER) == data  # noqa: S506


def test_cli_reports_a_broken_directory(tmp_path):
    directory = _copy_framework(tmp_path)
    _edit_yaml(directory / "vocabulary.yaml", lambda d: d["terms"][12].update(evidence=["W3.ftps-policy"]))
    load_library.cache_clear()
    result = runner.invoke(app, ["framework", "list", "--framework-dir", str(directory)])
    assert result.exit_code == 1
    assert "unknown key-evidence id 'W3.ftps-policy'" in result.output


def test_cli_schema_check(tmp_path):
    result = runner.invoke(app, ["framework", "schema", "--check"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["framework", "schema", "--check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "out of date" in result.output
