"""Find and mask personal data in passage text (issue 9).

Board papers now and then carry patient or staff details: an NHS number in a
serious-incident summary, a date of birth in a complaint case, a mobile
number or a home postcode in a table. This module finds five kinds and masks
them before passages leave the run folder:

* ``nhs_number`` -> ``[NHS number]``: 10 digits as ``943 476 5919``,
  ``943-476-5919`` or ``9434765919`` whose modulus 11 check digit is right
  (:func:`nhs_number_is_valid`).
* ``date_of_birth`` -> ``[date of birth]``: a date just after a DOB cue
  ("DOB", "D.O.B.", "date of birth", "birth date", "born", as in
  "aged 45 (dob 12.03.80)"). Only the date is masked, the cue stays:
  ``DOB: [date of birth]``.
* ``email`` -> ``[email]``: ``local@domain.tld``.
* ``phone`` -> ``[phone]``: UK numbers such as ``0113 496 0000``,
  ``020 7946 0000``, ``07700 900123``, ``(01632) 960123``,
  ``+44 (0)7700 900123``, with spaces, hyphens or brackets.
* ``postcode`` -> ``[postcode]``: outward + inward code, any case, space
  optional: ``LS1 4AP``, ``SW1A 1AA``, ``m1 1ae``, ``B338TH``.

False positives we avoid on purpose (board papers are full of numbers):

* A date is personal data only after a DOB cue: "25 September 2025" alone
  is a meeting date. The cue and the date must be close (at most 20
  characters of gap with no digit, no sentence end and no ``[``/``]``;
  after "born" only "on"/"in"/"the" and punctuation may come between).
* A 10-digit number is an NHS number only if its check digit is right and it
  stands alone: not inside a longer digit run or word, not after a currency
  sign, not a decimal (``0.9434765919``), not followed by ``%``.
* A phone number starts ``0`` (or ``+44``), has a UK prefix (01, 02, 03, 07,
  08), groups of at least three digits after the area code, and 10 or 11
  digits in all (mobiles, 02 and 03 numbers exactly 11). So money
  ("£1,234,567"), years ("2024/25"), minute numbers ("TB 25/112"), dates
  ("07/10/2025"), times ("13:05"), risk scores and ids padded with ``00``
  are left alone.
* A postcode follows the Royal Mail letter rules (no Q/V/X first, no I/J/Z
  second, inward letters without C/I/K/M/O/V) and stands alone. An inward
  code that reads as an ordinal in lower or mixed case ("W3 2nd", "C3 4th")
  is not a postcode; upper case ("B33 8TH") is.

Detection is a pure function of the text. Candidates of every kind are
collected, then the longest wins where they overlap (ties go to the kind
listed first in :data:`KINDS`). A mask is a boundary, so a neighbour of a
masked span that only becomes visible once the span is masked (for example
a phone number glued to a postcode) is masked too: :func:`find_personal_data`
repeats the scan over the masked text until nothing new appears, which makes
:func:`redact_text` idempotent.

Speed: a passage with no digit and no ``@`` returns at once. Otherwise one
scan (``_GATE``) finds the leftmost place an NHS number, phone number or
postcode could start; most passages have none and skip those three patterns,
which then start from that place. Email runs only when ``@`` is present and
dates of birth only when a cue word is. Measured with a one-off script (not
a test) over 50,000 synthetic ~100-word passages built from the labelled
corpus plus meeting dates, money, minute numbers and percentages, one in 20
carrying personal data: about 30,000 passages/s of CPU time for
:func:`redact_text` in one process (27,000-36,000 over runs; 11,000/s wall
clock on the shared 2-CPU machine at load 9). The 2,242 committed labelled
passages (~54 words) run at about 70,000/s of CPU time.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import Iterable

from pipeline.document import Passage

__all__ = [
    "KINDS",
    "MASKS",
    "PIIMatch",
    "Redaction",
    "find_personal_data",
    "redact_text",
    "redact_passage",
    "nhs_number_is_valid",
]

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("nhs_number", "date_of_birth", "email", "phone", "postcode")
"""Every kind of personal data found, in tie-break order."""

MASKS: dict[str, str] = {
    "nhs_number": "[NHS number]",
    "date_of_birth": "[date of birth]",
    "email": "[email]",
    "phone": "[phone]",
    "postcode": "[postcode]",
}
"""What each kind is replaced with. No mask holds a digit or ``@``."""

_PRIORITY = {kind: i for i, kind in enumerate(KINDS)}
_MAX_ROUNDS = 8  # rescans of the masked text; one is enough in practice


@dataclass(frozen=True, slots=True)
class PIIMatch:
    """One span of personal data: ``text[start:end]`` of the scanned text."""

    kind: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Redaction:
    """A masked text, how many spans of each kind were masked, and where.

    ``counts`` has every requested kind, zero included. ``matches`` index into
    the original (unmasked) text.
    """

    text: str
    counts: dict[str, int]
    matches: tuple[PIIMatch, ...]


# --------------------------------------------------------------------------
# Patterns (compiled once)

_SEP = r"[ \u00a0\-\u2010\u2011\u2013]"  # space, no-break space, hyphens, en dash
# Each pattern starts with a plain character class (so the regex engine can
# skip ahead fast) and checks what comes before it with a lookbehind that
# includes that first character. A number must not continue a word, a longer
# number or a decimal, and must not be money; nor run on into one.
_NUM_AFTER = r"(?![\w%])(?![.,][0-9])"


def _num_start(first: str) -> str:
    return rf"(?<![\w£$€]{first})(?<![0-9][.,]{first})"


_ANY_TRIGGER = re.compile(r"[0-9@]")
_DIGIT = re.compile(r"[0-9]")
_SEP_RE = re.compile(_SEP)
# Every NHS number and phone number holds three digits, at most two of
# space/hyphen/")" and three more; every postcode holds a digit, an optional
# character and space, and digit + two letters. One scan for the leftmost of
# these tells where the digit-based patterns need to start, if at all.
_GATE = re.compile(
    r"[0-9](?:[0-9]{2}[ \u00a0\-\u2010\u2011\u2013)]{0,2}[0-9]{3}"
    r"|[0-9A-Za-z]?[ \u00a0]?[0-9][A-Za-z]{2}(?![A-Za-z0-9]))"
)
# A phone number starts at most ~15 characters before its gate hit ("+44 (0) (20) 7946").
_GATE_BACK = 24

_NHS_RE = re.compile(
    r"[0-9]" + _num_start("[0-9]") + rf"[0-9]{{2}}{_SEP}?[0-9]{{3}}{_SEP}?[0-9]{{4}}" + _NUM_AFTER
)

_PHONE_RE = re.compile(
    r"(?:"
    r"\+(?<![0-9+]\+)44" + _SEP + r"?(?:\(0\)" + _SEP + r"?)?(?:\([1-9][0-9]{1,4}\)|[1-9][0-9]{1,4})"
    r"|\((?<![\w(]\()0[0-9]{2,5}\)"
    r"|0" + _num_start("0") + r"[0-9]{2,5}"
    r")"
    r"(?:" + _SEP + r"?[0-9]{3,6}){1,2}" + _NUM_AFTER
)

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![A-Za-z0-9\-])"
)

# Postcodes: find the digits first (cheap), then try the full pattern from one
# or two letters before the first digit.
_POSTCODE_HINT = re.compile(r"[0-9][0-9A-Za-z]?[ \u00a0]?[0-9][A-Za-z]{2}(?![A-Za-z0-9])")
_POSTCODE_RE = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(?P<out>[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRVWXY]?))"
    r"[ \u00a0]?"
    r"(?P<inward>[0-9][ABD-HJLNP-UW-Z]{2})"
    r"(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_ORDINAL = re.compile(r"1st|2nd|3rd|[04-9]th", re.IGNORECASE)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])\.?"
)
_DAY = r"(?:[0-3]?[0-9])(?:st|nd|rd|th)?"
_DATE = (
    r"(?P<date>"
    r"(?P<n1>[0-9]{1,2})[/.\-](?P<n2>[0-9]{1,2})[/.\-](?:[0-9]{4}|[0-9]{2})"  # 12/03/1980, 3.12.80
    r"|[0-9]{4}[/\-](?P<m3>[0-9]{1,2})[/\-](?P<d3>[0-9]{1,2})"  # 1980-03-12
    r"|" + _DAY + r"(?:[ \t]+of)?[ \t]+" + _MONTH + r",?[ \t]+(?:[0-9]{4}|[0-9]{2})"  # 12th of March 1980
    r"|" + _MONTH + r"[ \t]+" + _DAY + r",?[ \t]+[0-9]{4}"  # March 12, 1980
    r"|" + _MONTH + r",?[ \t]+[0-9]{4}"  # March 1980
    r")(?![0-9])(?![.,/\-][0-9])"
)
# Strong cues may be followed by a short gap ("DOB recorded as ..."); the gap
# holds no digit, no sentence end and no bracket (so a mask never bridges).
_GAP = r"(?:[^0-9\[\].!?;]|\.(?!\s)){0,20}?"
_DOB_CUED_RE = re.compile(
    r"(?<![\w\[])(?:d\.[ ]?o\.[ ]?b\.?|dob|date[ \t\-]*of[ \t\-]*birth|birth[ \t\-]*date)(?![a-z])"
    + _GAP
    + _DATE,
    re.IGNORECASE,
)
_BORN_RE = re.compile(
    r"(?<![\w\[])born(?![a-z])[ \t]*[:,\-]?[ \t]*(?:(?:on|in)[ \t]+)?(?:the[ \t]+)?" + _DATE,
    re.IGNORECASE,
)


# --------------------------------------------------------------------------
# Validators


def nhs_number_is_valid(digits: str) -> bool:
    """Whether ``digits`` is a 10-digit NHS number with a correct check digit.

    Spaces and hyphens are ignored. The check digit is ``11 - (sum mod 11)``
    of the first nine digits weighted 10 down to 2; 11 means 0 and 10 means
    the number is not valid.

    Args:
        digits: the number, e.g. ``"943 476 5919"`` or ``"9434765919"``.

    Returns:
        True if there are exactly ten ASCII digits and the last is the check digit.
    """
    s = digits.replace(" ", "").replace("-", "")
    if len(s) != 10 or not s.isascii() or not s.isdigit():
        return False
    total = sum(int(ch) * w for ch, w in zip(s[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(s[9])


def _phone_is_valid(span: str) -> bool:
    digits = "".join(ch for ch in span if "0" <= ch <= "9")
    if span.startswith("+"):
        digits = digits[2:]  # drop the 44
        if not digits.startswith("0"):
            digits = "0" + digits
    n = len(digits)
    prefix = digits[:2]
    if prefix in ("07", "02", "03"):
        return n == 11
    if prefix == "01":
        return n in (10, 11)
    if prefix == "08":
        return n == 11 or (n == 10 and digits.startswith("080"))
    return False


def _date_is_plausible(m: re.Match[str]) -> bool:
    if m.group("n1") is not None:
        a, b = int(m.group("n1")), int(m.group("n2"))
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= b <= 31 and 1 <= a <= 12)
    if m.group("m3") is not None:
        return 1 <= int(m.group("m3")) <= 12 and 1 <= int(m.group("d3")) <= 31
    return True


# --------------------------------------------------------------------------
# Scanning


def _candidates(text: str, kinds: frozenset[str]) -> list[PIIMatch]:
    """Every candidate span of the wanted kinds; may overlap across kinds."""
    out: list[PIIMatch] = []
    if "email" in kinds and "@" in text:
        out.extend(PIIMatch("email", m.start(), m.end(), m.group()) for m in _EMAIL_RE.finditer(text))
    if _DIGIT.search(text) is None:
        return out
    if "date_of_birth" in kinds:
        low = text.lower()
        if "dob" in low or "d.o" in low or "d. o" in low or "birth" in low or "born" in low:
            for pattern in (_DOB_CUED_RE, _BORN_RE):
                for m in pattern.finditer(text):
                    if _date_is_plausible(m):
                        s, e = m.span("date")
                        out.append(PIIMatch("date_of_birth", s, e, m.group("date")))
    gate = _GATE.search(text)
    if gate is None:
        return out
    first = max(0, gate.start() - _GATE_BACK)
    if "nhs_number" in kinds:
        # A failed check digit must not hide a valid number that starts inside it.
        pos = first
        while (m := _NHS_RE.search(text, pos)) is not None:
            if nhs_number_is_valid(_SEP_RE.sub("", m.group())):
                out.append(PIIMatch("nhs_number", m.start(), m.end(), m.group()))
                pos = m.end()
            else:
                pos = m.start() + 1
    if "phone" in kinds:
        pos = first
        while (m := _PHONE_RE.search(text, pos)) is not None:
            if _phone_is_valid(m.group()):
                out.append(PIIMatch("phone", m.start(), m.end(), m.group()))
                pos = m.end()
            else:
                pos = m.start() + 1
    if "postcode" in kinds:
        for h in _POSTCODE_HINT.finditer(text, gate.start()):
            for start in (h.start() - 2, h.start() - 1):
                m = _POSTCODE_RE.match(text, start) if start >= 0 else None
                if m is None:
                    continue
                inward = m.group("inward")
                if not (_ORDINAL.fullmatch(inward) and not inward.isupper()):
                    out.append(PIIMatch("postcode", m.start(), m.end(), m.group()))
                break
    return out


def _select(cands: Iterable[PIIMatch]) -> list[PIIMatch]:
    """Non-overlapping spans, longest first (ties: earlier kind, then earlier start)."""
    ranked = sorted(cands, key=lambda c: (c.start - c.end, _PRIORITY[c.kind], c.start))
    taken: list[PIIMatch] = []
    for c in ranked:
        if all(c.end <= t.start or c.start >= t.end for t in taken):
            taken.append(c)
    taken.sort(key=lambda c: c.start)
    return taken


def _mask(text: str, matches: list[PIIMatch]) -> tuple[str, list[tuple[int, int]]]:
    """Masked text and, per unmasked piece, (start in masked text, start in original)."""
    parts: list[str] = []
    pieces: list[tuple[int, int]] = []
    pos = 0
    out_len = 0
    for m in matches:
        pieces.append((out_len, pos))
        parts.append(text[pos : m.start])
        out_len += m.start - pos
        mask = MASKS[m.kind]
        parts.append(mask)
        out_len += len(mask)
        pos = m.end
    pieces.append((out_len, pos))
    parts.append(text[pos:])
    return "".join(parts), pieces


def _find(text: str, kinds: frozenset[str]) -> list[PIIMatch]:
    if not _ANY_TRIGGER.search(text):
        return []
    found = _select(_candidates(text, kinds))
    for _ in range(_MAX_ROUNDS):
        if not found:
            break
        masked, pieces = _mask(text, found)
        extra = _select(_candidates(masked, kinds))
        if not extra:
            break
        starts = [p[0] for p in pieces]
        for x in extra:
            # Masks hold no digit or '@', so a new span lies inside one unmasked piece.
            i = bisect_right(starts, x.start) - 1
            shift = pieces[i][1] - pieces[i][0]
            found.append(PIIMatch(x.kind, x.start + shift, x.end + shift, x.text))
        found.sort(key=lambda c: c.start)
    else:
        logger.warning("personal-data rescan stopped after %d rounds", _MAX_ROUNDS)
    return found


def _check_kinds(kinds: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(kinds)
    unknown = sorted(wanted - set(KINDS))
    if unknown:
        raise ValueError(f"kinds must be a subset of {KINDS}; got unknown {unknown}")
    return wanted


# --------------------------------------------------------------------------
# Public API


def find_personal_data(text: str) -> list[PIIMatch]:
    """Find every span of personal data in ``text``.

    Args:
        text: passage text.

    Returns:
        Matches sorted by start, not overlapping; where candidates overlap the
        longest wins (ties: the kind listed first in :data:`KINDS`).
    """
    return _find(text, frozenset(KINDS))


def redact_text(text: str, kinds: Iterable[str] = KINDS) -> Redaction:
    """Mask personal data of the given kinds in ``text``.

    Each span is replaced by its mask (:data:`MASKS`); everything else is
    kept as it was. For a date of birth only the date is masked, the cue
    stays ("DOB: [date of birth]"). Redacting the result again changes
    nothing.

    Args:
        text: passage text.
        kinds: which kinds to mask; defaults to all of :data:`KINDS`.

    Returns:
        The masked text, a count per requested kind (zeros included) and the
        masked spans (offsets into ``text``).

    Raises:
        ValueError: if ``kinds`` names a kind not in :data:`KINDS`.
    """
    wanted = _check_kinds(kinds)
    matches = _find(text, wanted)
    counts = {k: 0 for k in KINDS if k in wanted}
    if not matches:
        return Redaction(text=text, counts=counts, matches=())
    for m in matches:
        counts[m.kind] += 1
    masked, _ = _mask(text, matches)
    return Redaction(text=masked, counts=counts, matches=tuple(matches))


def redact_passage(passage: Passage, kinds: Iterable[str] = KINDS) -> tuple[Passage, dict[str, int]]:
    """A copy of ``passage`` with its text masked, and the counts per kind.

    Only ``text`` changes. ``char_start``/``char_end`` keep pointing at the
    passage's span in the original document text (the place an inspector is
    taken back to), so after masking ``char_end - char_start`` may differ
    from ``len(text)``. Nothing else is added to the passage; the caller
    records the counts (e.g. in the manifest).

    Args:
        passage: the passage to mask.
        kinds: which kinds to mask; defaults to all of :data:`KINDS`.

    Returns:
        ``(passage, counts)``; the same passage object when nothing was found.
    """
    result = redact_text(passage.text, kinds)
    if not result.matches:
        return passage, result.counts
    return replace(passage, text=result.text), result.counts
