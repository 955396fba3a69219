"""Passage splitting: sentences, headings, table rows, records, minute items, offsets."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.document import Block, BlockKind, Document
from pipeline.ingest.base import Extraction, assemble_document
from pipeline.split import split_passages, split_sentences

P, H, T, R, M, L = (
    BlockKind.PARAGRAPH.value,
    BlockKind.HEADING.value,
    BlockKind.TABLE_ROW.value,
    BlockKind.RECORD.value,
    BlockKind.MINUTE_ITEM.value,
    BlockKind.LIST_ITEM.value,
)

LONG_PARA = " ".join(
    f"Sentence {i} of the report says the Trust met {i} of its {i + 3} quality standards this year." for i in range(1, 13)
)


def make_doc(*blocks: tuple[str, str, tuple[str, ...]] | tuple[str, str]) -> Document:
    bl = [Block(kind=b[0], text=b[1], page=1, heading_path=b[2] if len(b) > 2 else ()) for b in blocks]
    return assemble_document(Extraction(blocks=bl, page_count=1), source_path="doc.txt", fmt="text", document_id="ab" * 32)


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_sentence_splitter_abbreviations():
    text = (
        "Dr. Patel and Mr J. T. Smith attended, i.e. the clinical leads. Sickness was 5.1% against 4.0%. "
        "See No. 5 in the log, e.g. the ward audit. The Board agreed! Was it enough? “Yes,” said the Chair. "
        "1. Next item."
    )
    assert _sentences(text) == [
        "Dr. Patel and Mr J. T. Smith attended, i.e. the clinical leads.",
        "Sickness was 5.1% against 4.0%.",
        "See No. 5 in the log, e.g. the ward audit.",
        "The Board agreed!",
        "Was it enough?",
        "“Yes,” said the Chair.",
        "1. Next item.",
    ]


def test_sentence_spans_are_offsets():
    text = "  First one here.   Second one, e.g. this.  "
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["First one here.", "Second one, e.g. this."]


def test_long_paragraph_split_at_sentences_into_balanced_passages():
    doc = make_doc((P, LONG_PARA, ("Quality",)))
    passages = split_passages(doc)
    assert len(passages) == 3  # 12 sentences, at most 5 each -> 4 + 4 + 4
    for p in passages:
        n = len(_sentences(p.text))
        assert 1 <= n <= 5
        assert p.text.endswith(".") and p.text.startswith("Sentence ")
        assert p.heading_path == ("Quality",)
    assert " ".join(p.text for p in passages) == LONG_PARA


def test_max_chars_respected():
    doc = make_doc((P, LONG_PARA))
    passages = split_passages(doc, max_sentences=10, max_chars=300)
    assert all(len(p.text) <= 300 for p in passages)
    assert " ".join(p.text for p in passages) == LONG_PARA


def test_headings_are_not_passages_and_short_paragraphs_join():
    doc = make_doc(
        (H, "2. Workforce"),
        (P, "Sickness absence fell.", ("2. Workforce",)),
        (P, "Turnover was stable at 11% and vacancy rates fell in nursing and medical staff groups.", ("2. Workforce",)),
        (H, "3. Finance"),
        (P, "The Trust met its plan.", ("3. Finance",)),
    )
    passages = split_passages(doc)
    assert [p.text for p in passages] == [
        "Sickness absence fell.\n\nTurnover was stable at 11% and vacancy rates fell in nursing and medical staff groups.",
        "The Trust met its plan.",  # not joined across a heading
    ]
    assert passages[0].heading_path == ("2. Workforce",)
    assert passages[1].heading_path == ("3. Finance",)


def test_table_rows_and_records_are_whole():
    row = "Indicator: Sickness absence. Long term. | Target: 4.0% | Actual: 5.1%"
    rec = "Risk: Cyber attack. Ransomware. | Controls: Backups. Patching. Training. | Gaps: None. | Owner: CDO | Score: 16"
    doc = make_doc((T, row), (T, row.replace("5.1", "5.2")), (R, rec))
    passages = split_passages(doc)
    assert [p.text for p in passages] == [row, row.replace("5.1", "5.2"), rec]
    assert [p.kind for p in passages] == [T, T, R]


def test_long_record_cut_at_field_boundaries():
    fields = [f"Field {i}: " + "word " * 60 + "end." for i in range(6)]
    rec = " | ".join(fields)
    doc = make_doc((R, rec))
    assert [p.text for p in split_passages(doc, max_chars=700)] == [rec]  # a record up to 3,000 characters is whole
    passages = split_passages(doc, max_chars=700, record_max_chars=700)
    assert len(passages) > 1
    assert all(len(p.text) <= 700 for p in passages)
    assert all(p.text.startswith("Field ") for p in passages)  # each piece starts at a field name
    assert all(p.text.endswith("end. |") for p in passages[:-1])  # the separator stays with the piece before it
    assert " ".join(p.text for p in passages) == rec
    for p in passages:
        assert doc.text[p.char_start : p.char_end] == p.text


def test_minute_items():
    short = "23/145 The Board noted the report. It asked for an update in July."
    long_item = "TB 24/031 " + LONG_PARA
    doc = make_doc((M, short), (M, long_item))
    passages = split_passages(doc)
    assert passages[0].text == short and passages[0].kind == M
    rest = passages[1:]
    assert len(rest) >= 2
    assert all(p.heading_path == ("TB 24/031",) for p in rest)
    assert " ".join(p.text for p in rest) == long_item


def test_short_minute_item_under_heading_kept_whole():
    h = ("BoD 25/045 Carer story",)
    doc = make_doc(
        (H, "BoD 25/045 Carer story"),
        (P, "The Head of Patient Experience introduced the carers. They described their son's stay on the ward.", h),
        (P, "The Director of Nursing thanked them.", h),
        (P, "The Board noted the story and the actions taken since. It asked for a follow-up in six months.", h),
    )
    passages = split_passages(doc)
    assert len(passages) == 1
    assert passages[0].text.startswith("The Head of Patient Experience") and passages[0].text.endswith("six months.")
    assert passages[0].heading_path == h


def test_lead_in_and_list_join():
    doc = make_doc(
        (P, "The committee agreed:"),
        (L, "to approve the policy;"),
        (L, "to review it in a year."),
    )
    (p,) = split_passages(doc)
    assert p.text == "The committee agreed:\n\nto approve the policy;\n\nto review it in a year."


def test_ids_pages_and_provenance():
    blocks = [
        Block(kind=P, text="Page one text that runs on", page=1, page_end=2),
        Block(kind=R, text="Risk: x | Score: 4", page=3, sheet="BAF", row=7, location="A7:H7"),
    ]
    doc = assemble_document(Extraction(blocks=blocks, page_count=3), source_path="a/b.xlsx", fmt="xlsx", document_id="cd" * 32)
    p1, p2 = split_passages(doc)
    assert p1.passage_id == "cdcdcdcdcdcd-00000" and p2.passage_id == "cdcdcdcdcdcd-00001"
    assert (p1.page, p1.page_end) == (1, 2)
    assert (p2.sheet, p2.row, p2.location, p2.page) == ("BAF", 7, "A7:H7", 3)
    assert p2.source_path == "a/b.xlsx" and p2.doc_type == doc.doc_type


def test_bad_parameters():
    doc = make_doc((P, "Text."))
    with pytest.raises(ValueError, match="max_sentences"):
        split_passages(doc, max_sentences=0)
    with pytest.raises(ValueError, match="max_chars"):
        split_passages(doc, max_chars=10)


_WORD = st.text(alphabet="abcdefghij.,;:!? ABCDEF0123456789\u00e9\u2013", min_size=1, max_size=40)
_BLOCK = st.tuples(st.sampled_from([P, H, T, R, M, L]), st.lists(_WORD, min_size=1, max_size=60).map(" ".join))


@settings(max_examples=60, deadline=None)
@given(st.lists(_BLOCK, min_size=1, max_size=12))
def test_property_offsets_and_coverage(blocks):
    doc = make_doc(*blocks)
    passages = split_passages(doc, max_chars=200)
    for p in passages:
        assert doc.text[p.char_start : p.char_end] == p.text
        assert p.text.strip() == p.text and p.text
    # Every non-heading block's words appear in some passage.
    covered = "".join(doc.text[p.char_start : p.char_end] for p in passages)
    for b in doc.blocks:
        if b.kind != H:
            for word in re.findall(r"\w+", b.text):
                assert word in covered
    starts = [p.char_start for p in passages]
    assert starts == sorted(starts)


def test_document_mostly_headings_is_warned_about():
    body = "The Board noted the report and the actions being taken. " * 4
    headings = [(H, f"Section {i} heading about the quality and safety of services") for i in range(60)]
    doc = make_doc(*headings, (P, body))
    assert any("body text may have been read as headings" in w for w in doc.warnings)
    assert not make_doc((H, "Summary"), (P, body * 10)).warnings
