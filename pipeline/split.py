"""Split a Document into Passages: the units the classifier tags.

A passage is one to five sentences from one paragraph (short neighbouring
paragraphs under the same heading, or a short minute item (up to ten
sentences) are kept together), a list with its lead-in (cut between items
when long), a table row, or a spreadsheet record. Sentences are
never cut; headings are not passages but go into each passage's
``heading_path``. Every passage's text is exactly
``document.text[char_start:char_end]``.

The sentence splitter is rule based (a regex with an abbreviation list), so
it is fast and needs no model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipeline.document import BlockKind, Document, Passage

__all__ = ["split_passages", "split_sentences", "MIN_PASSAGE_CHARS", "RECORD_MAX_CHARS"]

#: Chunks shorter than this join their neighbour under the same heading.
MIN_PASSAGE_CHARS = 160
#: A table row or spreadsheet record up to this long stays one passage (a risk is read whole).
#: Spreadsheet backends cut longer records themselves, repeating the risk id in each part.
RECORD_MAX_CHARS = 3000

_ABBREVIATIONS = frozenset(
    """
    dr mr mrs ms mx prof st no nos e.g eg i.e ie vs v cf approx fig figs ref refs para paras vol pp p
    cllr rev hon sr jr inc ltd co dept est ext tel op al incl excl ca c approx. viz wef w.e.f nb n.b
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    """.split()
)
# Candidate boundary: terminal punctuation (plus closing quotes/brackets), then space,
# then something that can start a sentence.
_BOUNDARY_RE = re.compile(r"[.!?…]+[\"”’')\]]*(\s+)(?=[\"“‘(\[]?[A-Z0-9£•])")
_TOKEN_BEFORE_RE = re.compile(r"(\S+)$")
_INITIALS_RE = re.compile(r"^\(?[A-Z](?:\.[A-Z])*\.?$")
_NUMBER_RE = re.compile(r"^\(?\d{1,3}[.)]?$")
_FIELD_SEP = " | "


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text[start:end]``, in absolute offsets.

    Spans cover the text without leading/trailing spaces; the spaces between
    sentences belong to neither.
    """
    end = len(text) if end is None else end
    segment = text[start:end]
    spans: list[tuple[int, int]] = []
    cur = 0
    for m in _BOUNDARY_RE.finditer(segment):
        stop = m.start(1)  # end of the sentence (after punctuation/quotes)
        before = segment[cur:stop]
        tok_m = _TOKEN_BEFORE_RE.search(before.rstrip("\"”’')]"))
        token = tok_m.group(1) if tok_m else ""
        bare = token.rstrip(".!?…").lstrip("(\"“‘").lower()
        if token.endswith(".") and not token.endswith(".."):
            if bare in _ABBREVIATIONS or _INITIALS_RE.match(token.lstrip("(\"“‘")):
                continue
            # "1." or "(2)" opening a list, or "No. 5".
            if _NUMBER_RE.match(token) and len(before.strip()) <= len(token) + 1:
                continue
        if not before.strip():
            continue
        spans.append((start + cur, start + stop))
        cur = m.end(1)
    if segment[cur:].strip():
        spans.append((start + cur, start + len(segment.rstrip())))
    # Trim leading spaces of each span.
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        if s < e:
            out.append((s, e))
    return out


@dataclass(slots=True)
class _Chunk:
    start: int
    end: int
    sentences: int
    first: int  # index of first block
    last: int  # index of last block
    kind: str
    heading_path: tuple[str, ...]
    mergeable: bool = True
    extra_heading: tuple[str, ...] = field(default_factory=tuple)


def _pack_sentences(spans: list[tuple[int, int]], max_sentences: int, max_chars: int) -> list[tuple[int, int, int]]:
    """Group sentence spans into balanced chunks: (start, end, n_sentences)."""
    if not spans:
        return []
    total = spans[-1][1] - spans[0][0]
    n = max(math.ceil(len(spans) / max_sentences), math.ceil(total / max_chars), 1)
    target_sents = math.ceil(len(spans) / n)
    target_chars = total / n
    chunks: list[tuple[int, int, int]] = []
    cs, count = spans[0][0], 0
    prev_end = spans[0][0]
    for i, (s, e) in enumerate(spans):
        if count and (
            count >= max_sentences
            or e - cs > max_chars
            or count >= target_sents
            or (prev_end - cs >= target_chars and len(spans) - i >= 1)
        ):
            chunks.append((cs, prev_end, count))
            cs, count = s, 0
        count += 1
        prev_end = e
    chunks.append((cs, prev_end, count))
    return chunks


def _hard_cut(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long span with no sentence breaks at spaces."""
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        if cut <= start:
            cut = start + max_chars
        yield start, cut
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        yield start, end


def _cut_row(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut an over-long table row or record at field separators, then sentences.

    A piece that ends at a separator keeps its "|" (" | " minus the last
    space), so no character of the row is left out of every passage.
    """
    fields_: list[tuple[int, int]] = []
    pos = start
    while (idx := text.find(_FIELD_SEP, pos, end)) >= 0:
        fields_.append((pos, idx + len(_FIELD_SEP) - 1))
        pos = idx + len(_FIELD_SEP)
    fields_.append((pos, end))
    pieces: list[tuple[int, int]] = []
    cs: int | None = None
    ce = 0
    for fs, fe in fields_:
        if cs is not None and fe - cs <= max_chars:
            ce = fe
            continue
        if cs is not None:
            pieces.append((cs, ce))
            cs = None
        if fe - fs <= max_chars:
            cs, ce = fs, fe
            continue
        for ss, se, _ in _pack_sentences(split_sentences(text, fs, fe), 10**6, max_chars):
            pieces.extend(_hard_cut(text, ss, se, max_chars))
    if cs is not None:
        pieces.append((cs, ce))
    return [(s, e) for s, e in pieces if e > s]


def split_passages(
    doc: Document, max_sentences: int = 5, max_chars: int = 1200, record_max_chars: int | None = None
) -> list[Passage]:
    """Split ``doc`` into passages, in reading order.

    Args:
        doc: An ingested document (its blocks carry offsets into ``doc.text``).
        max_sentences: Most sentences in a prose passage.
        max_chars: Most characters in a prose passage; a longer single
            sentence is kept whole up to four times this, then cut at spaces.
        record_max_chars: Most characters in a table-row or record passage;
            a longer one is cut at field separators, then sentences. Default
            the larger of ``max_chars`` and :data:`RECORD_MAX_CHARS`, so a
            risk record stays one passage.

    Returns:
        Passages with ids ``<document_id[:12]>-<index:05d>``.
    """
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be >= 1, got {max_sentences}")
    if max_chars < 50:
        raise ValueError(f"max_chars must be >= 50, got {max_chars}")
    row_max = max(max_chars, RECORD_MAX_CHARS) if record_max_chars is None else record_max_chars
    if row_max < 50:
        raise ValueError(f"record_max_chars must be >= 50, got {record_max_chars}")
    text = doc.text
    blocks = doc.blocks
    chunks: list[_Chunk] = []

    def add(chunk: _Chunk) -> None:
        prev = chunks[-1] if chunks else None
        if (
            prev is not None
            and prev.mergeable
            and chunk.mergeable
            and prev.last == chunk.first - 1
            and prev.heading_path == chunk.heading_path
            and not prev.extra_heading
            and not chunk.extra_heading
            and prev.sentences + chunk.sentences <= max_sentences
            and chunk.end - prev.start <= max_chars
            and (
                prev.end - prev.start < MIN_PASSAGE_CHARS
                or text[prev.end - 1] == ":"
                or (prev.kind == chunk.kind == BlockKind.LIST_ITEM.value)
            )
        ):
            prev.end = chunk.end
            prev.last = chunk.last
            prev.sentences += chunk.sentences
            if prev.kind != chunk.kind:
                prev.kind = BlockKind.PARAGRAPH.value
            return
        chunks.append(chunk)

    skip_to = 0
    for i, block in enumerate(blocks):
        kind = block.kind
        if kind == BlockKind.HEADING.value or i < skip_to:
            continue
        s, e = block.char_start, block.char_end
        if kind == BlockKind.LIST_ITEM.value:
            skip_to = _add_list(chunks, blocks, i, text, max_sentences, max_chars)
            continue
        if kind in (BlockKind.TABLE_ROW.value, BlockKind.RECORD.value):
            spans = [(s, e)] if e - s <= row_max else _cut_row(text, s, e, row_max)
            for ps, pe in spans:
                chunks.append(_Chunk(ps, pe, 1, i, i, kind, block.heading_path, mergeable=False))
            continue
        if kind == BlockKind.MINUTE_ITEM.value:
            sents = split_sentences(text, s, e)
            if e - s <= max_chars and len(sents) <= 2 * max_sentences:  # short: kept whole
                chunks.append(_Chunk(s, e, len(sents), i, i, kind, block.heading_path, mergeable=False))
                continue
            from pipeline.ingest._blocks import minute_number
            from pipeline.ingest.doctype import NUMBERED_ITEM_RE

            num = minute_number(block.text)
            if num is None:
                m = NUMBERED_ITEM_RE.match(block.text)
                num = m.group(0).rstrip(".") if m else None
            extra = (num,) if num else ()
            for cs, ce, n in _pack_sentences(sents, max_sentences, max_chars):
                for hs, he in _hard_cut(text, cs, ce, max_chars * 4) if ce - cs > max_chars * 4 else [(cs, ce)]:
                    chunks.append(_Chunk(hs, he, n, i, i, kind, block.heading_path, mergeable=False, extra_heading=extra))
            continue
        spans = split_sentences(text, s, e)
        for cs, ce, n in _pack_sentences(spans, max_sentences, max_chars):
            if ce - cs > max_chars * 4:
                for hs, he in _hard_cut(text, cs, ce, max_chars):
                    chunks.append(_Chunk(hs, he, 1, i, i, kind, block.heading_path, mergeable=False))
            else:
                add(_Chunk(cs, ce, n, i, i, kind, block.heading_path))

    chunks = _merge_short_minute_items(chunks, max_chars, 2 * max_sentences)

    passages: list[Passage] = []
    prefix = doc.document_id[:12]
    for idx, c in enumerate(chunks):
        first, last = blocks[c.first], blocks[c.last]
        page_end = last.page_end or last.page
        passages.append(
            Passage(
                passage_id=f"{prefix}-{idx:05d}",
                document_id=doc.document_id,
                text=text[c.start : c.end],
                source_path=doc.source_path,
                doc_type=doc.doc_type,
                kind=c.kind,
                page=first.page,
                page_end=page_end if page_end is not None and page_end != first.page else first.page,
                sheet=first.sheet,
                row=first.row,
                location=first.location,
                heading_path=c.heading_path + c.extra_heading if c.extra_heading else c.heading_path,
                char_start=c.start,
                char_end=c.end,
            )
        )
    return passages


def _add_list(chunks: list[_Chunk], blocks: tuple, i: int, text: str, max_sentences: int, max_chars: int) -> int:
    """Add the list that starts at block ``i`` (with its lead-in) as list passages; return the next block index.

    A list is the run of list items under one heading; its lead-in is the
    prose chunk just before it when that ends with ":" ("The committee
    shall:") or is short. Lead-in and items stay one passage when they fit
    ``max_chars`` and ``2 * max_sentences``; a longer list is cut between
    items into balanced passages, the lead-in with the first items. An item
    longer than ``max_chars`` is cut at its sentence ends.
    """
    heading_path = blocks[i].heading_path
    k = i
    while k + 1 < len(blocks) and blocks[k + 1].kind == BlockKind.LIST_ITEM.value and blocks[k + 1].heading_path == heading_path:
        k += 1
    units: list[tuple[int, int, int, int]] = []  # (start, end, sentences, block index)
    lead = chunks[-1] if chunks else None
    if (
        lead is not None
        and lead.mergeable
        and lead.last == i - 1
        and lead.heading_path == heading_path
        and not lead.extra_heading
        and lead.kind == BlockKind.PARAGRAPH.value
        and (text[lead.end - 1] == ":" or lead.end - lead.start < MIN_PASSAGE_CHARS)
    ):
        chunks.pop()
        units.append((lead.start, lead.end, lead.sentences, lead.first))
    else:
        lead = None
    for j in range(i, k + 1):
        b = blocks[j]
        sents = split_sentences(text, b.char_start, b.char_end)
        if b.char_end - b.char_start <= max_chars:
            units.append((b.char_start, b.char_end, max(len(sents), 1), j))
            continue
        for cs, ce, n in _pack_sentences(sents, max_sentences, max_chars):
            if ce - cs > max_chars * 4:
                units.extend((hs, he, 1, j) for hs, he in _hard_cut(text, cs, ce, max_chars))
            else:
                units.append((cs, ce, n, j))
    kind = BlockKind.LIST_ITEM.value
    for group in _pack_units(units, 2 * max_sentences, max_chars, keep_first_with_next=lead is not None):
        first, last = group[0], group[-1]
        chunks.append(
            _Chunk(first[0], last[1], sum(u[2] for u in group), first[3], last[3], kind, heading_path, mergeable=False)
        )
    return k + 1


def _pack_units(
    units: list[tuple[int, int, int, int]], max_sentences: int, max_chars: int, *, keep_first_with_next: bool = False
) -> list[list[tuple[int, int, int, int]]]:
    """Group consecutive units (start, end, sentences, block) into balanced runs within the limits."""
    total = units[-1][1] - units[0][0]
    n = max(math.ceil(sum(u[2] for u in units) / max_sentences), math.ceil(total / max_chars), 1)
    target = total / n
    groups: list[list[tuple[int, int, int, int]]] = []
    cur: list[tuple[int, int, int, int]] = []
    sents = 0
    for u in units:
        if cur:
            over = sents + u[2] > max_sentences or u[1] - cur[0][0] > max_chars
            full = cur[-1][1] - cur[0][0] >= target
            if over or (full and not (keep_first_with_next and not groups and len(cur) == 1)):
                groups.append(cur)
                cur, sents = [], 0
        cur.append(u)
        sents += u[2]
    groups.append(cur)
    return groups


def _merge_short_minute_items(chunks: list[_Chunk], max_chars: int, max_sentences: int) -> list[_Chunk]:
    """Keep a short minute item whole: join the prose under one minute heading.

    A run of prose chunks from consecutive blocks under the same minute-item
    heading becomes one chunk when the whole run fits in ``max_chars`` and
    ``max_sentences``.
    """
    from pipeline.ingest._blocks import minute_number

    out: list[_Chunk] = []
    i = 0
    while i < len(chunks):
        c = chunks[i]
        j = i + 1
        if c.mergeable and c.heading_path and minute_number(c.heading_path[-1]):
            while (
                j < len(chunks)
                and chunks[j].mergeable
                and chunks[j].heading_path == c.heading_path
                and chunks[j].first <= chunks[j - 1].last + 1
            ):
                j += 1
        if j - i > 1 and chunks[j - 1].end - c.start <= max_chars and sum(r.sentences for r in chunks[i:j]) <= max_sentences:
            run = chunks[i:j]
            kinds = {r.kind for r in run}
            out.append(
                _Chunk(
                    c.start,
                    run[-1].end,
                    sum(r.sentences for r in run),
                    c.first,
                    run[-1].last,
                    kinds.pop() if len(kinds) == 1 else BlockKind.PARAGRAPH.value,
                    c.heading_path,
                )
            )
        else:
            out.extend(chunks[i:j])
        i = j
    return out
