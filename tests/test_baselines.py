"""The keyword and zero-shot baselines of benchmarks/baselines.py on a tiny corpus.

The keyword baseline runs on a framework folder made here: the repo's
framework files plus a four-term vocabulary written by the test, so it does
not depend on how the shared vocabulary evolves. No torch.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.corpus import LabelledPassage
from pipeline.framework import load_library
from pipeline.nlp import analyse_texts

REPO = Path(__file__).resolve().parent.parent

VOCABULARY = """\
kind: vocabulary
description: "Four terms for the baseline tests."
terms:
  - id: tb-ftsu-guardian
    canonical: Freedom to Speak Up Guardian
    phrases: [freedom to speak up guardian, speak up guardian]
    acronyms: [FTSU]
    areas: [W3, freedom-to-speak-up]
  - id: tb-net-zero
    canonical: net zero
    phrases: [net zero, green plan, carbon emissions]
    areas: [environmental-sustainability]
  - id: tb-baf
    canonical: board assurance framework
    phrases: [board assurance framework]
    acronyms: [BAF]
    areas: [W4, W5, governance-management-sustainability]
  - id: tb-wres
    canonical: Workforce Race Equality Standard
    phrases: [workforce race equality standard]
    acronyms: [WRES]
    areas: [W3, workforce-edi]
"""

# (text, kloe, qs, source): a dozen passages, four of them negatives
PASSAGES = [
    ("The Freedom to Speak Up Guardian reported 41 concerns; two colleagues said they suffered detriment after "
     "speaking up, and the FTSU Guardian escalated both.", ["W3"], ["freedom-to-speak-up"], "t/ftsu-report"),
    ("Staff told the FTSU Guardian they did not feel safe to speak up on night shifts; the speak up guardian "
     "will hold drop-in sessions.", ["W3"], ["freedom-to-speak-up"], "t/ftsu-report"),
    ("Our Green Plan sets net zero for the carbon emissions we control by 2040; the fleet is moving to electric "
     "vehicles.", [], ["environmental-sustainability"], "t/green-plan"),
    ("Carbon emissions from anaesthetic gases fell by a third after desflurane was removed, a step toward net "
     "zero.", [], ["environmental-sustainability"], "t/green-plan"),
    ("The Board reviewed the Board Assurance Framework: BAF risk 3 on workforce supply stays at 16 and the "
     "controls were judged partly effective.", ["W4", "W5"], ["governance-management-sustainability"], "t/baf"),
    ("The Audit Committee tested the BAF controls for risk 5 and asked for clearer assurance ratings.",
     ["W4", "W5"], ["governance-management-sustainability"], "t/baf"),
    ("The WRES report shows BME staff are less likely to be appointed from shortlisting; the Workforce Race "
     "Equality Standard action plan was approved.", ["W3"], ["workforce-edi"], "t/wres"),
    ("WRES indicator 2 worsened this year and the People Committee asked for a deep dive.", ["W3"],
     ["workforce-edi"], "t/wres"),
    ("Apologies were received from the Director of Finance and one Non-Executive Director.", [], [], "t/minutes"),
    ("The meeting closed at 12:40. Date of next meeting: Thursday 4 September.", [], [], "t/minutes"),
    ("Declarations of interest: none declared in relation to items on the agenda.", [], [], "t/minutes"),
    ("The minutes of the previous meeting were approved as an accurate record.", [], [], "t/minutes"),
]
FTSU_TEXT = (
    "Staff feel safe to speak up without fear of detriment, and their voice is heard: the Freedom to Speak Up "
    "Guardian reports concerns raised and the trust's response to speaking up."
)


@pytest.fixture(scope="module")
def baselines():
    spec = importlib.util.spec_from_file_location("wellled_baselines", REPO / "benchmarks" / "baselines.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_framework(tmp_path_factory):
    """The repo's framework and crosswalk files with the four-term vocabulary above."""
    out = tmp_path_factory.mktemp("framework")
    for path in (REPO / "framework").glob("*.yaml"):
        if (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("kind") != "vocabulary":
            shutil.copy(path, out / path.name)
    (out / "vocabulary.yaml").write_text(VOCABULARY, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def corpus():
    return [
        LabelledPassage(id=f"tb-{i}", text=t, kloe=tuple(k), qs=tuple(q), source=s)
        for i, (t, k, q, s) in enumerate(PASSAGES)
    ]


def test_keyword_baseline_counts_matches_and_tags_areas(baselines, tiny_framework, corpus):
    library = load_library(tiny_framework)
    assert {t.id for t in library.vocabulary} == {"tb-ftsu-guardian", "tb-net-zero", "tb-baf", "tb-wres"}
    labels = baselines.framework_labels(library)
    assert labels["kloe"] == [f"W{i}" for i in range(1, 9)] and len(labels["qs"]) == 8

    analyses = list(analyse_texts([p.text for p in corpus], str(tiny_framework)))
    counts = baselines.keyword_counts([a.terms for a in analyses], library)
    assert len(counts) == len(corpus)
    assert counts[0]["freedom-to-speak-up"] == 2  # two Guardian mentions, repeats counted
    assert counts[8] == {}  # apologies: no vocabulary

    gold = baselines.gold_labels(corpus)
    n, scores = baselines.choose_min_matches(counts, gold, labels, candidates=(1, 2, 3))
    assert n == 1 and set(scores) == {1, 2, 3} and scores[1] > scores[3]

    pred = baselines.keyword_predict(counts, labels, n)
    assert all(set(p) == {"kloe", "qs"} for p in pred)
    assert pred[0] == {"kloe": ["W3"], "qs": ["freedom-to-speak-up"]}
    assert "environmental-sustainability" in pred[2]["qs"]
    assert pred[4]["kloe"] == ["W4", "W5"]
    assert all(p == {"kloe": [], "qs": []} for p in pred[8:])
    # a higher N drops single mentions
    assert baselines.keyword_predict(counts, labels, 2)[5]["qs"] == []
    with pytest.raises(ValueError, match="min_matches"):
        baselines.keyword_predict(counts, labels, 0)

    metrics = baselines.score_predictions(gold, pred, labels)
    row = baselines.summary_row(metrics)
    assert set(row) >= {"macro_f1_kloe", "macro_f1_qs", "min_label_f1", "negatives_precision", "negatives_recall"}
    assert row["negatives_recall"] == 1.0


def test_zero_shot_baseline_finds_the_area_whose_framework_text_matches(baselines, tiny_framework, corpus):
    library = load_library(tiny_framework)  # the repo's areas; its spaCy pipeline is already built
    fw_dir = str(tiny_framework)
    labels = baselines.framework_labels(library)
    texts = baselines.area_texts(library)
    assert set(texts) == set(labels["kloe"]) | set(labels["qs"])
    assert library.area("W3").question in texts["W3"]
    assert library.area("freedom-to-speak-up").we_statement in texts["freedom-to-speak-up"]

    ids = list(texts)
    area_lemmas = dict(zip(ids, (a.lemmas for a in analyse_texts([texts[i] for i in ids], fw_dir))))
    lemmas = [a.lemmas for a in analyse_texts([p.text for p in corpus], fw_dir)]
    model = baselines.ZeroShotBaseline(area_lemmas, labels).fit(lemmas, baselines.gold_labels(corpus))
    assert set(model.thresholds_) == {"kloe", "qs"}
    assert all(0 < t < 1 for t in model.thresholds_.values())

    (probe,) = [a.lemmas for a in analyse_texts([FTSU_TEXT], fw_dir)]
    sims = model.similarities([probe])
    assert sims.shape == (1, 16)
    qs_cols = {a: model.order_.index(a) for a in labels["qs"]}
    assert max(qs_cols, key=lambda a: sims[0, qs_cols[a]]) == "freedom-to-speak-up"

    pred = model.predict(lemmas + [probe])
    assert len(pred) == len(corpus) + 1 and all(set(p) == {"kloe", "qs"} for p in pred)
    assert "freedom-to-speak-up" in pred[-1]["qs"]
    assert pred[8]["qs"] == []  # apologies


def test_zero_shot_refuses_to_predict_unfitted_or_without_area_text(baselines):
    labels = {"kloe": ["W1"], "qs": ["freedom-to-speak-up"]}
    model = baselines.ZeroShotBaseline({"W1": "lead"}, labels)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(["lead"])
    with pytest.raises(ValueError, match="freedom-to-speak-up"):
        model.fit(["lead"], [{"kloe": ["W1"], "qs": []}])
