"""Tests for pipeline.redact: finding and masking personal data in passages."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.document import Passage
from pipeline.redact import (
    KINDS,
    MASKS,
    PIIMatch,
    Redaction,
    find_personal_data,
    nhs_number_is_valid,
    redact_passage,
    redact_text,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------
# Tiny corpora: (text, kind, the span that must be found)

POSITIVES = [
    # NHS numbers, three layouts, all with a correct check digit
    ("Patient NHS no. 943 476 5919 was reviewed.", "nhs_number", "943 476 5919"),
    ("NHS number 943-476-5919 (SI 2025/041).", "nhs_number", "943-476-5919"),
    ("Ref 9434765919, harm level moderate.", "nhs_number", "9434765919"),
    ("check digit 11 reads as 0: 400 000 0020", "nhs_number", "400 000 0020"),
    # dates of birth: only the date is the match
    ("Mr J.T. (DOB: 12/03/1980) was admitted.", "date_of_birth", "12/03/1980"),
    ("D.O.B. 3 March 1980", "date_of_birth", "3 March 1980"),
    ("date of birth was recorded as 12th of March 1980.", "date_of_birth", "12th of March 1980"),
    ("Date of Birth: 1980-03-12", "date_of_birth", "1980-03-12"),
    ("She was born on 12 March 1980 in Leeds.", "date_of_birth", "12 March 1980"),
    ("Ms K., aged 45 (dob 12.03.80), raised the concern.", "date_of_birth", "12.03.80"),
    ("Birth date: March 12, 1980", "date_of_birth", "March 12, 1980"),
    ("DoB Sept 1979", "date_of_birth", "Sept 1979"),
    # email
    ("Contact speakup@calderbrook.example.nhs.uk for advice.", "email", "speakup@calderbrook.example.nhs.uk"),
    ("Email J.T.Smith+board@nhs.net.", "email", "J.T.Smith+board@nhs.net"),
    # phones
    ("Call 0113 496 0000 for the duty manager.", "phone", "0113 496 0000"),
    ("London office 020 7946 0000.", "phone", "020 7946 0000"),
    ("mobile 07700 900123, out of hours", "phone", "07700 900123"),
    ("mobile 07700-900-123", "phone", "07700-900-123"),
    ("call +44 7700 900123 today", "phone", "+44 7700 900123"),
    ("call +44 (0)113 496 0000 today", "phone", "+44 (0)113 496 0000"),
    ("switchboard (01632) 960123.", "phone", "(01632) 960123"),
    ("tel: 01632960123", "phone", "01632960123"),
    ("helpline 0300 123 4567", "phone", "0300 123 4567"),
    ("freephone 0800 123 456", "phone", "0800 123 456"),
    ("Tel\u00a00113\u00a0496\u00a00000", "phone", "0113\u00a0496\u00a00000"),
    # postcodes
    ("Lives at 1 Park Row, Leeds LS1 4AP.", "postcode", "LS1 4AP"),
    ("Westminster SW1A 1AA", "postcode", "SW1A 1AA"),
    ("Manchester M1 1AE.", "postcode", "M1 1AE"),
    ("Birmingham B33 8TH", "postcode", "B33 8TH"),
    ("written without a space: B338TH.", "postcode", "B338TH"),
    ("lower case, no space: ls14ap", "postcode", "ls14ap"),
    ("lower case ls1 4ap", "postcode", "ls1 4ap"),
    ("EC1A 1BB", "postcode", "EC1A 1BB"),
]

NEGATIVES = [
    "The Board met on 25 September 2025 and approved the minutes of 24 July 2025.",
    "Meeting held 25/09/2025 at 13:05; next meeting 07/10/2025.",
    "The deficit is £1,234,567 against a plan of £12,345,678 in 2024/25.",
    "Capital plan 2025/26 and 2026/27; CIP delivery 95.2% (target 98%).",
    "TB 25/112 Minutes of the previous meeting were agreed. TB 25/113 Action log.",
    "BAF 3 risk score 20 (5x4), target 8; BAF risk 12 reduced to 16.",
    "Risk ID 004 5678 9123 was closed; Datix 1234567 opened.",
    "Risk 0012 345 6789 remains open.",
    "Invalid check digit: 943 476 5918 and 9434765918.",
    "Check digit ten is never valid: 4000000080 or 400 000 0089.",
    "Eleven digits is not an NHS number: 94347659191.",
    "Money is not an NHS number: £9434765919 or 0.9434765919 or 9434765919%.",
    "Company number 01234567 and charity number 1234567.",
    "Page 12 of 45; version 3.2; appendix 4b; item 7.1.2.",
    "KLOE W3 and W5; room C3 4th floor; item W3 2nd on the agenda; Q3 2025.",
    "Clinic hours 0900-1700 Monday to Friday; 2019 2020 2021 2022 trend.",
    "Twitter @CalderbrookNHS and the hashtag #WellLed.",
    "The service was born out of the 2019 review, agreed on 1 April 2020.",
    "Births rose 4% in 2024; the birth rate falls. Meeting 3 March 2025.",
    "born. The meeting on 25 September 2025 followed.",
    "ICD-10 F20.0; NEWS2 score 5; 4-hour standard 76.3%.",
    "Telephone extension 4471; bleep 2345.",
]


@pytest.mark.parametrize(("text", "kind", "span"), POSITIVES)
def test_finds_each_kind(text: str, kind: str, span: str) -> None:
    matches = find_personal_data(text)
    assert [(m.kind, m.text) for m in matches] == [(kind, span)]
    m = matches[0]
    assert text[m.start : m.end] == span


@pytest.mark.parametrize("text", NEGATIVES)
def test_board_paper_numbers_are_not_personal_data(text: str) -> None:
    assert find_personal_data(text) == []
    assert redact_text(text).text == text


def test_nhs_number_is_valid() -> None:
    assert nhs_number_is_valid("9434765919")
    assert nhs_number_is_valid("943 476 5919")
    assert nhs_number_is_valid("943-476-5919")
    assert nhs_number_is_valid("4000000020")  # 11 - 0 = 11 -> check digit 0
    assert not nhs_number_is_valid("9434765918")
    assert not any(nhs_number_is_valid(f"400000008{d}") for d in "0123456789")  # 10 -> invalid
    assert not nhs_number_is_valid("943476591")  # nine digits
    assert not nhs_number_is_valid("94347659190")  # eleven digits
    assert not nhs_number_is_valid("94347659l9")
    assert not nhs_number_is_valid("９４３４７６５９１９")  # full-width digits are not ASCII


def test_dob_keeps_the_cue_and_masks_only_the_date() -> None:
    r = redact_text("DOB: 12/03/1980. Seen 25 September 2025.")
    assert r.text == "DOB: [date of birth]. Seen 25 September 2025."
    r = redact_text("Mr J.T., aged 45 (dob 12.03.80), seen on 25 September 2025.")
    assert r.text == "Mr J.T., aged 45 (dob [date of birth]), seen on 25 September 2025."
    assert r.counts["date_of_birth"] == 1


def test_dob_cue_must_be_close_and_in_the_same_sentence() -> None:
    far = "Date of birth is not recorded in the note made at the meeting of 25 September 2025."
    assert find_personal_data(far) == []
    # only the first date after the cue is a date of birth
    r = redact_text("DOB 12/03/1980 admitted 01/02/2025")
    assert r.text == "DOB [date of birth] admitted 01/02/2025"


def test_redact_text_masks_and_counts_every_kind() -> None:
    text = (
        "Patient NHS 943 476 5919, DOB 12/03/1980, of LS1 4AP, tel 07700 900123, "
        "email pals@calderbrook.example.nhs.uk; board met 25 September 2025."
    )
    r = redact_text(text)
    assert isinstance(r, Redaction)
    assert r.text == (
        "Patient NHS [NHS number], DOB [date of birth], of [postcode], tel [phone], "
        "email [email]; board met 25 September 2025."
    )
    assert r.counts == {k: 1 for k in KINDS}
    assert [m.kind for m in r.matches] == ["nhs_number", "date_of_birth", "postcode", "phone", "email"]


def test_redact_text_only_the_kinds_asked_for() -> None:
    text = "NHS 943 476 5919, tel 07700 900123, LS1 4AP"
    r = redact_text(text, kinds=("phone",))
    assert r.text == "NHS 943 476 5919, tel [phone], LS1 4AP"
    assert r.counts == {"phone": 1}
    r = redact_text(text, kinds=["postcode", "nhs_number"])
    assert r.text == "NHS [NHS number], tel 07700 900123, [postcode]"
    assert r.counts == {"nhs_number": 1, "postcode": 1}
    r = redact_text("nothing here", kinds=())
    assert r == Redaction("nothing here", {}, ())


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kinds"):
        redact_text("x", kinds=("nhs_number", "passport"))


def test_no_personal_data_gives_zero_counts() -> None:
    r = redact_text("The Board approved the strategy.")
    assert r.text == "The Board approved the strategy."
    assert r.counts == dict.fromkeys(KINDS, 0)
    assert r.matches == ()


def test_longest_overlapping_match_wins() -> None:
    # the phone number lies inside the email address; the address is longer
    text = "write to ward.07700900123@nhs.net today"
    assert [(m.kind, m.text) for m in find_personal_data(text)] == [("email", "ward.07700900123@nhs.net")]


def test_a_mask_is_a_boundary() -> None:
    # "(0113)" straight after a word is not taken as a phone number, but once
    # the postcode before it is masked it stands alone, so it is masked too.
    text = "LS1 4AP(0113) 496 0000"
    assert [m.kind for m in find_personal_data(text)] == ["postcode", "phone"]
    r = redact_text(text)
    assert r.text == "[postcode][phone]"
    assert redact_text(r.text).text == r.text


def test_matches_are_frozen_slotted_records() -> None:
    m = find_personal_data("tel 07700 900123")[0]
    assert m == PIIMatch("phone", 4, 16, "07700 900123")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.start = 0  # type: ignore[misc]
    assert not hasattr(m, "__dict__")


def test_masks_hold_no_digits_or_at_sign() -> None:
    assert set(MASKS) == set(KINDS)
    for mask in MASKS.values():
        assert mask.startswith("[") and mask.endswith("]")
        assert not any(ch.isdigit() or ch == "@" for ch in mask)
        assert find_personal_data(mask) == []


def test_redact_passage_keeps_offsets_and_fields() -> None:
    p = Passage(
        passage_id="p1",
        document_id="d1",
        text="Complaint from Mr J.T. (DOB 12/03/1980), tel 07700 900123.",
        source_path="pack/complaints.docx",
        doc_type="committee_report",
        page=4,
        heading_path=("Complaints", "Case 3"),
        char_start=1200,
        char_end=1258,
    )
    out, counts = redact_passage(p)
    assert out.text == "Complaint from Mr J.T. (DOB [date of birth]), tel [phone]."
    assert (out.char_start, out.char_end) == (1200, 1258)  # still the span in the original document
    assert dataclasses.replace(out, text=p.text) == p
    assert counts == {**dict.fromkeys(KINDS, 0), "date_of_birth": 1, "phone": 1}
    clean = dataclasses.replace(p, text="No personal data here.")
    same, counts = redact_passage(clean)
    assert same is clean
    assert sum(counts.values()) == 0


# ---------------------------------------------------------------------------
# Properties

SEPARATORS = st.sampled_from(["", " ", "-"])


@st.composite
def nhs_numbers(draw: st.DrawFn) -> str:
    """A valid NHS number, its check digit computed, laid out with random separators."""
    first9 = draw(st.lists(st.integers(0, 9), min_size=9, max_size=9))
    check = 11 - sum(d * w for d, w in zip(first9, range(10, 1, -1))) % 11
    if check == 11:
        check = 0
    if check == 10:  # no valid number starts with these nine digits; change the last one
        first9[8] = (first9[8] + 1) % 10
        check = 11 - sum(d * w for d, w in zip(first9, range(10, 1, -1))) % 11
        check = 0 if check == 11 else check
    digits = "".join(map(str, first9)) + str(check)
    assert nhs_number_is_valid(digits)
    s1, s2 = draw(SEPARATORS), draw(SEPARATORS)
    return f"{digits[:3]}{s1}{digits[3:6]}{s2}{digits[6:]}"


# Glue chosen to sit awkwardly against numbers: digits, separators, punctuation,
# currency, brackets (as in the masks), '@', letters that start postcodes.
GLUE_CHARS = "0123456789 -.,/:;()[]@+£%abcLSWMBxyz\n\u00a0"
glue = st.text(alphabet=GLUE_CHARS, max_size=12)
snippets = st.sampled_from(
    [
        "DOB: 12/03/1980",
        "born on 3 March 1980",
        "j.t@example.nhs.uk",
        "07700 900123",
        "+44 (0)113 496 0000",
        "(01632) 960123",
        "LS1 4AP",
        "sw1a1aa",
        "25 September 2025",
        "£1,234,567",
        "TB 25/112",
        "2024/25",
        "13:05",
        "95.2%",
        "[NHS number]",
        "[date of birth]",
        "date of birth",
    ]
)
rich_texts = st.lists(st.one_of(nhs_numbers(), snippets, glue), max_size=12).map("".join)
any_texts = st.one_of(rich_texts, st.text(max_size=80))
NEIGHBOURS = st.sampled_from(["Patient", "ref", "£", "%", "0.", "(", ")", "-", ",", "0113", "DOB"])
kind_sets = st.sets(st.sampled_from(KINDS)).map(lambda s: tuple(k for k in KINDS if k in s))


@PROPERTY
@given(st.lists(st.one_of(nhs_numbers(), snippets, glue), min_size=1, max_size=12))
def test_no_valid_nhs_number_survives(pieces: list[str]) -> None:
    text = "".join(pieces)
    result = redact_text(text)
    assert not any(m.kind == "nhs_number" for m in find_personal_data(result.text))
    assert find_personal_data(result.text) == []


@PROPERTY
@given(st.lists(st.one_of(nhs_numbers(), NEIGHBOURS), min_size=1, max_size=10))
def test_nhs_numbers_between_spaces_are_masked(words: list[str]) -> None:
    text = " ".join(words)
    result = redact_text(text, kinds=("nhs_number",))
    numbers = [w for w in words if nhs_number_is_valid(w.replace(" ", "").replace("-", ""))]
    assert result.counts["nhs_number"] == len(numbers)
    for n in numbers:
        assert n not in result.text


@PROPERTY
@given(any_texts, kind_sets)
def test_text_outside_the_matches_is_unchanged(text: str, kinds: tuple[str, ...]) -> None:
    result = redact_text(text, kinds)
    # rebuild independently: the original with each match replaced by its mask
    rebuilt, pos = [], 0
    for m in result.matches:
        assert m.kind in kinds
        assert pos <= m.start < m.end  # sorted, non-overlapping, non-empty
        assert text[m.start : m.end] == m.text
        rebuilt += [text[pos : m.start], MASKS[m.kind]]
        pos = m.end
    rebuilt.append(text[pos:])
    assert result.text == "".join(rebuilt)
    # and the unmasked pieces appear in order
    at = 0
    for piece in rebuilt[::2]:
        found = result.text.find(piece, at)
        assert found >= at
        at = found + len(piece)


@PROPERTY
@given(any_texts, kind_sets)
def test_counts_match_the_matches(text: str, kinds: tuple[str, ...]) -> None:
    result = redact_text(text, kinds)
    per_kind = Counter(m.kind for m in result.matches)
    assert result.counts == {k: per_kind.get(k, 0) for k in kinds}
    if kinds == KINDS:
        assert list(result.matches) == find_personal_data(text)


@PROPERTY
@given(any_texts, kind_sets)
def test_redaction_is_idempotent(text: str, kinds: tuple[str, ...]) -> None:
    once = redact_text(text, kinds)
    twice = redact_text(once.text, kinds)
    assert twice.text == once.text
    assert twice.matches == ()


@PROPERTY
@given(st.lists(st.sampled_from(NEGATIVES), min_size=1, max_size=4).map(" ".join))
def test_board_paper_numbers_stay_clean_when_joined(text: str) -> None:
    assert find_personal_data(text) == []
