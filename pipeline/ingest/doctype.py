"""Document type, date and title of an ingested file, from rules.

Type is scored from the file name (and its folder in the pack), the title,
the structure of the blocks (many spreadsheet records -> risk register;
minute numbering with "present"/"apologies" -> minutes) and keywords near the
start of the text. Committee minutes and committee or guardian reports to the
board are ``committee_report``; minutes of the board (or council of governors)
are ``board_minutes``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from pathlib import PurePosixPath

from pipeline.document import Block, BlockKind, DocType

__all__ = ["detect_doc_type", "detect_date", "detect_title", "MINUTE_NUMBER_RE", "NUMBERED_ITEM_RE"]

#: A minute or agenda item number at the start of a line: "23/145", "TB 24/031",
#: "BoD 25/041", "Item 7", "Minute 12", "5.2" (numbers alone only when followed by text).
MINUTE_NUMBER_RE = re.compile(
    r"^(?:(?:[A-Z][A-Za-z&]{0,7}[\s/.]?){0,2}\d{2}/\d{2,4}(?![/\d])(?:\.\d{1,3})?[a-z]?"
    r"|(?:Item|Minute|Agenda item)\s+\d{1,3}(?:\.\d{1,3})*[a-z]?)\b[.:)]?"
)
#: A numbered paragraph or section at the start of a line: "5.2", "3.1.4".
NUMBERED_ITEM_RE = re.compile(r"^\d{1,2}(?:\.\d{1,2}){1,3}\.?(?=\s)")

_RULES: tuple[tuple[DocType, re.Pattern[str], int], ...] = (
    (DocType.BOARD_MINUTES, re.compile(r"\bminutes?\b"), 4),
    (DocType.ANNUAL_REPORT, re.compile(r"\bannual report\b|\bquality account\b|\bannual governance statement\b"), 4),
    (DocType.RISK_REGISTER, re.compile(r"\brisk register\b|\bbaf\b|\bboard assurance framework\b|\bcorporate risks?\b|\brisk log\b"), 5),
    (DocType.STRATEGY, re.compile(r"\bstrateg(?:y|ies|ic plan)\b|\bfive[- ]year plan\b|\bour plan\b|\bvision and values\b"), 4),
    (DocType.POLICY, re.compile(r"\bpolicy\b|\bprocedure\b|\bprotocol\b|\bstanding orders\b|\bscheme of (?:reservation and )?delegation\b|\bstanding financial instructions\b|\bcode of conduct\b|\bterms of reference\b"), 4),
    (DocType.COMMITTEE_REPORT, re.compile(r"\breport\b|\bupdate\b|\bpaper\b|\bbriefing\b"), 2),
    (DocType.STRATEGY, re.compile(r"\bgreen plan\b|\bclinical plan\b|\bpeople plan\b|\broadmap\b"), 3),
    (DocType.COMMITTEE_REPORT, re.compile(r"\bcommittee\b.*\breport\b|\b(?:chair'?s?|assurance|escalation|alert,? advise,? assure|aaa|highlight|guardian'?s?)\s+report\b|\breport (?:to|from) the\b|\bintegrated performance report\b|\bwres\b|\bwdes\b|\bgender pay gap\b"), 3),
)

_BOARD_RE = re.compile(r"\bboard\b|\bcouncil of governors\b|\bbod\b|\btrust board\b")
_COMMITTEE_RE = re.compile(r"\bcommittee\b|\bsub-?group\b")
#: An "annual report" on one topic (a committee, a guardian, a programme) is a report to the board.
_TOPIC_ANNUAL_RE = re.compile(
    r"\bcommittee\b|\bguardian\b|\bwres\b|\bwdes\b|\bsafeguarding\b|\bcomplaints\b|\beprr\b|"
    r"\bemergency preparedness\b|\binfection prevention\b|\bresearch\b|\beducation\b|\bmortality\b|"
    r"\blearning from deaths\b|\bhealth and safety\b|\bmedical (?:education|revalidation|appraisal)\b|"
    r"\bequality\b|\bpatient experience\b|\bchaplaincy\b|\bvolunteer"
)
_TRUST_ANNUAL_RE = re.compile(r"\bannual report and accounts\b|\btrust annual report\b|\bannual report of the trust\b")


def _norm_name(name: str) -> str:
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", name)
    return re.sub(r"[_\-+.]+", " ", stem).lower()


def _score_text(text: str, weight: int, scores: dict[DocType, int]) -> None:
    for doc_type, pattern, points in _RULES:
        if pattern.search(text):
            scores[doc_type] = scores.get(doc_type, 0) + points * weight


def detect_doc_type(
    file_name: str,
    title: str,
    blocks: Sequence[Block],
    *,
    source_path: str = "",
) -> DocType:
    """Decide the :class:`DocType` of a document from name, title, structure and text."""
    name = _norm_name(file_name)
    folder = " ".join(_norm_name(p) for p in PurePosixPath(source_path).parts[:-1]) if source_path else ""
    title_l = title.lower()
    head = " ".join(b.text for b in blocks[:60])[:6000].lower()
    scores: dict[DocType, int] = {}
    _score_text(name, 3, scores)
    _score_text(title_l, 2, scores)
    _score_text(folder, 1, scores)

    # Structure: spreadsheet records of risks.
    records = [b for b in blocks if b.kind == BlockKind.RECORD.value]
    if records and len(records) >= max(3, len(blocks) * 0.4):
        rec_text = " ".join(b.text[:200] for b in records[:30]).lower()
        if re.search(r"\brisk\b|\bscore\b|\blikelihood\b|\bcontrols?\b|\bassurance\b", rec_text):
            scores[DocType.RISK_REGISTER] = scores.get(DocType.RISK_REGISTER, 0) + 12
    # Structure: minute numbering plus attendance.
    minute_items = sum(1 for b in blocks if b.kind == BlockKind.MINUTE_ITEM.value or MINUTE_NUMBER_RE.match(b.text))
    attendance = bool(re.search(r"\bpresent\b", head)) and bool(re.search(r"\bapologies\b|\bin attendance\b", head))
    if attendance and minute_items >= 2:
        scores[DocType.BOARD_MINUTES] = scores.get(DocType.BOARD_MINUTES, 0) + 12
    elif attendance:
        scores[DocType.BOARD_MINUTES] = scores.get(DocType.BOARD_MINUTES, 0) + 5
    # Body keywords, only when name, title and structure say nothing.
    if not scores:
        _score_text(head[:1500], 1, scores)

    if not scores or max(scores.values()) <= 0:
        return DocType.OTHER
    best = max(scores, key=lambda k: (scores[k], -list(DocType).index(k)))
    context = f"{name} {title_l} {head[:600]}"
    if best is DocType.BOARD_MINUTES:
        # Minutes of a committee (not the board) are committee papers.
        who = f"{name} {title_l}"
        if _COMMITTEE_RE.search(who) and not _BOARD_RE.search(who):
            return DocType.COMMITTEE_REPORT
    if best is DocType.ANNUAL_REPORT:
        # "Mental Health Act Committee annual report", "FTSU Guardian annual report".
        if _TOPIC_ANNUAL_RE.search(f"{name} {title_l}") and not _TRUST_ANNUAL_RE.search(context):
            return DocType.COMMITTEE_REPORT
    return best


_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<!\d)(20\d\d)[-_.](0?[1-9]|1[0-2])[-_.](0?[1-9]|[12]\d|3[01])(?!\d)"), "ymd"),
    (re.compile(r"(?<!\d)(0?[1-9]|[12]\d|3[01])[./-](0?[1-9]|1[0-2])[./-](20\d\d)(?!\d)"), "dmy"),
    (re.compile(rf"(?<![\w])(0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_ALT})\.?,?\s+(20\d\d)(?!\d)", re.I), "dMy"),
    (re.compile(rf"(?<![\w])({_MONTH_ALT})\.?\s+(0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,\s+(20\d\d)(?!\d)", re.I), "Mdy"),
    (re.compile(rf"(?<![\w])({_MONTH_ALT})\.?\s+(20\d\d)(?!\d)", re.I), "My"),
    (re.compile(r"(?<!\d)(20\d\d)[-_](0[1-9]|1[0-2])(?![\d])"), "ym"),
)


def _dates_in(text: str) -> list[tuple[int, int, str, str]]:
    """Every date in ``text`` as (start, end, iso, precision), full dates before month-only ones at one place."""
    found: list[tuple[int, int, str, str]] = []
    for pattern, form in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            g = m.groups()
            try:
                if form == "ymd":
                    d, prec = date(int(g[0]), int(g[1]), int(g[2])), "day"
                elif form == "dmy":
                    d, prec = date(int(g[2]), int(g[1]), int(g[0])), "day"
                elif form == "dMy":
                    d, prec = date(int(g[2]), _MONTHS[g[1].lower()], int(g[0])), "day"
                elif form == "Mdy":
                    d, prec = date(int(g[2]), _MONTHS[g[0].lower()], int(g[1])), "day"
                elif form == "My":
                    d, prec = date(int(g[1]), _MONTHS[g[0].lower()], 1), "month"
                else:
                    d, prec = date(int(g[0]), int(g[1]), 1), "month"
            except (ValueError, KeyError):
                continue
            if 2000 <= d.year <= 2100:
                found.append((m.start(), m.end(), d.isoformat(), prec))
    found.sort(key=lambda f: (f[0], 0 if f[3] == "day" else 1))
    return found


def _find_date(text: str) -> tuple[str, str, int] | None:
    """The first full date in ``text`` (else the first month) as (iso, precision, position)."""
    found = _dates_in(text)
    if not found:
        return None
    best = min(found, key=lambda f: (0 if f[3] == "day" else 1, f[0]))  # a full date anywhere beats a month
    return best[2], best[3], best[0]


#: Words before a date that make it the date of a meeting or of the paper itself.
_EVENT_RE = re.compile(
    r"\b(?:date of (?:meeting|issue|approval|publication|board)|meeting(?: date)?|held|board|committee|council|"
    r"presented|approved|ratified|published|publication date|issued|dated|signed|date(?: approved)?)\b[^.;]{0,80}$",
    re.I,
)
#: Words just before a date that make it the end (or start) of a period or a deadline, not the paper's date.
_PERIOD_RE = re.compile(
    r"(?:\bto|\bended|\bending|\bas at|\bposition at|\buntil|\bup to|\bfrom|\bbetween|\bby|\bbefore|\bdue(?:\s+(?:in|on|by))?|\bby\s+the\s+end\s+of|\bno later than|\bon or before)"
    r"\s+(?:the\s+)?(?:\w+day\s+)?$",
    re.I,
)
#: A date that belongs to another meeting: "the minutes of the meeting held on 22 May 2025 were
#: approved", "the next meeting will be held on 25 September 2025" (text before, text after).
_OTHER_MEETING_BEFORE_RE = re.compile(r"\b(?:previous|last|next|following|future)\b[^.;]{0,60}$", re.I)
_OTHER_MEETING_AFTER_RE = re.compile(r"^[^.;]{0,30}?\b(?:was|were)\s+(?:approved|agreed|accepted|confirmed|signed)\b", re.I)
#: A financial year: "2024-25", "2024/25", "2024/2025".
_FY_RE = re.compile(r"(?<!\d)(20\d\d)\s*[-/–]\s*(\d\d|20\d\d)(?!\d)")


def _event_date(blocks: Sequence[Block]) -> str | None:
    """The first full date labelled as the meeting's or the paper's ("Date of meeting: 21 May 2025").

    Body text and cover-sheet rows are read before headings (a title may name
    the period or the meetings it covers); spreadsheet records not at all
    (their dates are each risk's own).
    """
    body = [b for b in blocks if b.kind not in (BlockKind.HEADING.value, BlockKind.RECORD.value)]
    titles = [b for b in blocks if b.kind == BlockKind.HEADING.value]
    for b in body + titles:
        for start, end, iso, prec in _dates_in(b.text[:1500]):
            if prec != "day":
                continue
            before = b.text[max(0, start - 120) : start]
            if _PERIOD_RE.search(before):
                continue
            if _OTHER_MEETING_BEFORE_RE.search(before) or _OTHER_MEETING_AFTER_RE.search(b.text[end : end + 80]):
                continue
            if _EVENT_RE.search(before):
                return iso
    return None


def _year_end(text: str) -> str | None:
    """31 March closing the financial year named in ``text`` ("Annual Report 2024-25" -> 2025-03-31)."""
    for m in _FY_RE.finditer(text):
        first, second = int(m.group(1)), m.group(2)
        end = int(second) if len(second) == 4 else (first // 100) * 100 + int(second)
        if end == first + 1:
            return f"{end}-03-31"
    return None


def detect_date(file_name: str, blocks: Sequence[Block], title: str = "") -> tuple[str | None, str | None]:
    """The document's date as (ISO YYYY-MM-DD, precision "day" | "month" | "year_end").

    Rules, in order:

    1. A full date in the file name ("2025-03-27", "27.03.2025").
    2. The meeting or publication date on the first page: a full date after
       "Date of meeting", "Meeting:", "Board of Directors", "held on",
       "approved", "presented", "published"... ("Board of Directors (Public),
       31 July 2025"). Dates that close a period or set a deadline ("data to
       31 March 2025", "position at 30 September", "publication by ...")
       are not the paper's date.
    3. A month in the name ("March 2025"), made a full date by a full date
       of the same month on the first page.
    4. An annual report for a financial year ("Annual Report 2024-25") with no
       better date: the year end, 31 March (2025-03-31), precision "year_end".
    5. The first full date on the first page that does not close a period,
       else any full date there, else the first month that is not a target
       or deadline ("by March 2027").

    Spreadsheet records are not read for the date (each row's dates are its
    own), nor are dates of another meeting ("the minutes of the meeting held
    on 22 May 2025 were approved", "the next meeting will be held on ...").

    Month precision gives the first of the month.
    """
    from_name = _find_date(re.sub(r"[_]+", " ", file_name))
    if not from_name or from_name[1] != "day":
        # "TB-Minutes-24-July-2025.pdf", "Risk-Register-June-2025.csv"
        spaced = _find_date(re.sub(r"[-_.]+", " ", file_name))
        if spaced and (not from_name or spaced[1] == "day"):
            from_name = spaced
    if from_name and from_name[1] == "day":
        return from_name[0], "day"
    first_page = blocks[0].page if blocks else None
    head_blocks = [b for b in blocks[:40] if b.page == first_page] or list(blocks[:20])
    event = _event_date(head_blocks)
    if event:
        return event, "day"
    # A spreadsheet record's dates are its risk's own (opened, due, reviewed), never the paper's.
    head = " \n".join(b.text for b in head_blocks if b.kind != BlockKind.RECORD.value)[:3000]
    from_text = _find_date(head)
    if from_text and from_text[1] == "month":
        # "eliminate ... by March 2027", "due Oct 2025": a target, not the paper's month.
        months = [d for d in _dates_in(head) if not _PERIOD_RE.search(head[max(0, d[0] - 40) : d[0]])]
        from_text = (months[0][2], months[0][3], months[0][0]) if months else None
    if from_name:
        if from_text and from_text[1] == "day" and from_text[0][:7] == from_name[0][:7]:
            return from_text[0], "day"
        return from_name[0], from_name[1]
    name_and_title = f"{file_name} {title}"
    if re.search(r"\bannual\b", name_and_title, re.I) and (end := _year_end(name_and_title)):
        return end, "year_end"
    days = [d for d in _dates_in(head) if d[3] == "day"]
    for start, _end, iso, _prec in days:
        if not _PERIOD_RE.search(head[max(0, start - 40) : start]):
            return iso, "day"
    if from_text:
        return from_text[0], from_text[1]
    return None, None


_ORG_RE = re.compile(r"\b(?:NHS (?:Foundation )?Trust|Integrated Care Board|NHS)\s*$", re.I)
_JUNK_TITLE_RE = re.compile(r"^(?:untitled|document\d*|microsoft (?:word|excel) - .*|slide \d+|title|sheet\d*|\(?anonymous\)?)$", re.I)


def detect_title(meta_title: str | None, blocks: Sequence[Block], file_name: str) -> str:
    """A title: a meaningful metadata title, else the first real heading, else the name."""
    if meta_title:
        t = " ".join(meta_title.split())
        if 4 <= len(t) <= 200 and not _JUNK_TITLE_RE.match(t) and t.lower() != file_name.lower():
            return t
    headings = [b for b in blocks[:30] if b.kind == BlockKind.HEADING.value and 3 <= len(b.text) <= 200]
    for b in headings:
        if not _ORG_RE.search(b.text):
            return b.text
    if headings:
        return headings[0].text
    for b in blocks[:3]:
        if len(b.text) <= 120 and b.kind in (BlockKind.PARAGRAPH.value, BlockKind.HEADING.value):
            return b.text
    stem = PurePosixPath(file_name).stem
    return re.sub(r"[_]+", " ", stem).strip() or file_name
