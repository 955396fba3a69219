"""The labelled corpus: formats, validation against framework/, split, duplicates."""

from __future__ import annotations

import json

import pytest

from pipeline.corpus import (
    SPLIT_FILE,
    apply_split,
    corpus_stats,
    load_labelled,
    load_split,
    make_split,
    near_duplicates,
    validate_passages,
)
from pipeline.errors import CorpusError


def test_committed_corpus_is_valid_and_large_enough(corpus, library):
    assert validate_passages(corpus, library) == []
    stats = corpus_stats(corpus, library)
    assert stats.passages >= 2000
    assert stats.negative_share >= 0.20
    for fw, counts in stats.per_label.items():
        for label, n in counts.items():
            assert n >= 60, f"{fw} {label} has only {n} positives"
    assert stats.duplicates == [], "near-duplicate passages in the corpus"
    assert set(stats.per_trust_type) >= {"acute", "mental_health", "community", "ambulance"}


def test_split_is_fixed_by_source_and_covers_every_label(corpus):
    split = load_split(SPLIT_FILE)
    train, test = apply_split(corpus, split)
    assert len(train) + len(test) == len(corpus)
    assert not {p.source for p in train} & {p.source for p in test}
    # the split is fixed (figures stay comparable across model versions) and new batches go to train, so the test
    # share shrinks as the corpus grows: 531 of 4,560 (11.6%) with c1-c11
    assert 0.10 <= len(test) / len(corpus) <= 0.3
    for fw in ("kloe", "qs"):
        labels = {label for p in corpus for label in getattr(p, fw)}
        for label in labels:
            assert sum(label in getattr(p, fw) for p in test) >= 8, f"{label} has too few test passages"


def test_make_split_is_deterministic(corpus):
    assert make_split(corpus, seed=3) == make_split(corpus, seed=3)


def test_unknown_label_names_file_line_and_id(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"id": "x1", "text": "Some text", "kloe": ["W9"], "qs": []}) + "\n")
    with pytest.raises(CorpusError, match=r"bad.jsonl:1: kloe label 'W9'"):
        load_labelled([f])


def test_bad_json_is_reported_with_its_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "a", "text": "ok"}\n{not json\n')
    with pytest.raises(CorpusError, match=r"bad.jsonl:2: not valid JSON"):
        load_labelled([f])


def test_prodigy_textcat_lines_are_read(tmp_path, library):
    f = tmp_path / "prodigy.jsonl"
    rows = [
        {"text": "The FTSU Guardian reports quarterly to the Board.", "accept": ["W3", "freedom-to-speak-up"],
         "answer": "accept", "meta": {"source": "t/doc1", "doc_type": "committee_report"}},
        {"text": "Apologies were noted.", "accept": [], "answer": "accept"},
        {"text": "Skipped line", "accept": ["W1"], "answer": "ignore"},
        {"text": "Rejected suggestion.", "accept": ["W2"], "answer": "reject"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ps = load_labelled([f], library=library)
    assert len(ps) == 3
    assert ps[0].kloe == ("W3",) and ps[0].qs == ("freedom-to-speak-up",) and ps[0].source == "t/doc1"
    assert ps[1].is_negative and ps[2].is_negative


def test_near_duplicates_are_found():
    from pipeline.corpus import LabelledPassage

    a = LabelledPassage("a", "The Board noted the quarterly Freedom to Speak Up report and the themes raised.")
    b = LabelledPassage("b", "The Board noted the quarterly Freedom to Speak Up report and the themes raised!")
    c = LabelledPassage("c", "Estates works on ward 7 will finish in March.")
    assert [(x, y) for x, y, _ in near_duplicates([a, b, c])] == [("a", "b")]


def test_corpus_stats_command_validates(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a", "text": "The board approved the strategy.", "kloe": ["W2"],
                                "qs": ["shared-direction-and-culture"], "doc_type": "board_minutes",
                                "trust_type": "acute", "source": "t/d"}) + "\n")
    res = CliRunner().invoke(app, ["corpus", "stats", str(good)])
    assert res.exit_code == 0, res.output
    assert "every label id is valid" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "text": "x", "qs": ["not-a-statement"]}) + "\n")
    res = CliRunner().invoke(app, ["corpus", "stats", str(bad)])
    assert res.exit_code == 1
    assert "not-a-statement" in res.output
