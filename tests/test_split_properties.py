"""Property tests of segmentation: documents built from generated blocks of board-paper text.

For any document, whatever its mix of paragraphs (with abbreviations,
numbers and minute references), headings, lists, minute items, table rows
and records:

* no text is lost or duplicated: every non-space character of every
  non-heading block is in exactly one passage;
* every passage's offsets point at its text;
* a passage boundary inside prose falls between sentences, unless a single
  sentence is longer than ``max_chars``;
* passage ids are unique.
"""

from __future__ import annotations

import random
from itertools import accumulate

from hypothesis import HealthCheck, given, settings
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
PROSE = (P, L, M)

WORDS = (
    "the Board noted report assurance committee staffing wards quality risk Chief Nurse Executive Trust "
    "patients deaths learning actions agreed reviewed governance plan financial sickness absence"
).split()
#: Tokens that look like sentence ends, or numbers, and are not.
TRICKY = [
    "Dr.", "Mr J.T.", "e.g.", "i.e.", "No. 5", "approx.", "5.1%", "1.52", "£8.7m", "2024/25", "0.80 to 1.25",
    "TB 25/047", "BoD 24/188", "(action TB25/095)", "St. Mary's", "v.", "Prof. K.S.", "4.2 times", "p. 12",
]  # fmt: skip
ENDS = [".", ".", ".", "?", "!", ".)", '."', ":"]



def _sentence(rng: random.Random, long: bool = False) -> str:
    n = rng.randint(60, 260) if long else rng.randint(2, 24)
    words = [rng.choice(TRICKY) if rng.random() < 0.15 else rng.choice(WORDS) for _ in range(n)]
    text = " ".join(words)
    return text[:1].upper() + text[1:] + rng.choice(ENDS)


def _prose(rng: random.Random, max_sentences: int = 12) -> str:
    return " ".join(_sentence(rng, long=rng.random() < 0.08) for _ in range(rng.randint(1, max_sentences)))


def _row(rng: random.Random) -> str:
    names = ["Risk ID", "Risk", "Controls", "Gaps", "Owner", "Score", "Indicator", "Target"]
    return " | ".join(f"{names[k % len(names)]}: {_prose(rng, rng.randint(1, 6))}" for k in range(rng.randint(1, 8)))


def _block(kind: str, seed: int) -> tuple[str, str]:
    """One block of ``kind``; its text is drawn from ``seed`` (cheap to generate, still reproducible)."""
    rng = random.Random(seed)
    if kind == H:
        return kind, " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))).capitalize()
    if kind in (T, R):
        return kind, _row(rng)
    if kind == M:
        return kind, f"{rng.choice(['TB 25/', 'BoD 24/', '23/'])}{rng.randint(10, 199):03d} {_prose(rng)}"
    if kind == L:
        return kind, f"{rng.choice(['• ', '1. ', '(a) ', ''])}{_prose(rng, 3)}"
    text = _prose(rng)
    if rng.random() < 0.4:
        text = text.rstrip(".?!:)\"") + ":"  # a lead-in
    return kind, text


block = st.builds(_block, st.sampled_from([P, P, P, H, T, R, M, L, L, L]), st.integers(0, 2**32 - 1))


def make_doc(blocks: list[tuple[str, str]]) -> Document:
    out: list[Block] = []
    path: tuple[str, ...] = ()
    for kind, text in blocks:
        if kind == H:
            out.append(Block(kind=kind, text=text, page=1))
            path = (text,)
        else:
            out.append(Block(kind=kind, text=text, page=1, heading_path=path))
    return assemble_document(Extraction(blocks=out, page_count=1), source_path="pack/paper.pdf", fmt="pdf", document_id="ef" * 32)


LIMITS = st.tuples(st.sampled_from([1, 2, 5, 8]), st.sampled_from([120, 300, 1200]), st.sampled_from([None, 200, 3000]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(block, min_size=1, max_size=14), LIMITS)
def test_segmentation_properties(blocks, limits):
    max_sentences, max_chars, record_max = limits
    doc = make_doc(blocks)
    passages = split_passages(doc, max_sentences=max_sentences, max_chars=max_chars, record_max_chars=record_max)
    text = doc.text

    # Offsets point at the passage text; passages are non-empty, trimmed, in order and unique.
    for p in passages:
        assert text[p.char_start : p.char_end] == p.text
        assert p.text and p.text == p.text.strip()
    assert [p.char_start for p in passages] == sorted(p.char_start for p in passages)
    assert len({p.passage_id for p in passages}) == len(passages)

    # No text lost or duplicated: each non-space character of a non-heading block in exactly one passage.
    delta = [0] * (len(text) + 1)
    for p in passages:
        delta[p.char_start] += 1
        delta[p.char_end] -= 1
    cover = list(accumulate(delta))
    for b in doc.blocks:
        span = cover[b.char_start : b.char_end]
        if b.kind == H:
            assert not any(span)  # headings are paths, not passage text
            continue
        bad = [i for i, (n, ch) in enumerate(zip(span, b.text, strict=True)) if n != 1 and not ch.isspace()]
        assert not bad, (b.kind, b.text[bad[0] - 20 : bad[0] + 20])

    # Never split mid-sentence, unless one sentence is longer than max_chars.
    for b in doc.blocks:
        if b.kind not in PROSE:
            continue
        sentences = split_sentences(text, b.char_start, b.char_end)
        starts = {s for s, _ in sentences}
        ends = {e for _, e in sentences}
        for p in passages:
            if b.char_start < p.char_start < b.char_end and p.char_start not in starts:
                assert _inside_long_sentence(sentences, p.char_start, max_chars), (p.text[:80], b.text)
            if b.char_start < p.char_end < b.char_end and p.char_end not in ends:
                assert _inside_long_sentence(sentences, p.char_end, max_chars), (p.text[-80:], b.text)

    # Prose passages keep to max_chars unless they are (part of) one long sentence.
    for p in passages:
        if p.kind in PROSE and len(p.text) > max_chars:
            inner = split_sentences(text, p.char_start, p.char_end)
            assert len(inner) == 1, p.text[:120]


def _inside_long_sentence(sentences: list[tuple[int, int]], pos: int, max_chars: int) -> bool:
    return any(s < pos < e or (s <= pos <= e and e - s > max_chars) for s, e in sentences if e - s > max_chars)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(TRICKY + WORDS), min_size=3, max_size=40))
def test_sentences_cover_all_text(words):
    """The sentence splitter leaves out only the spaces between sentences."""
    text = " ".join(words) + ". " + " ".join(reversed(words)) + "."
    spans = split_sentences(text)
    covered = set()
    for s, e in spans:
        assert text[s:e] == text[s:e].strip()
        covered.update(range(s, e))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
