"""The classifier: spaCy analysis, the sklearn pipeline, tagging with explanations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from pipeline.classify import SpacyAnalyser, ThresholdedOneVsRest, make_classifier, tag_texts
from pipeline.nlp import analyse

FTSU = (
    "The Freedom to Speak Up Guardian reported 41 concerns raised in the year, most about attitudes and "
    "behaviours; two colleagues reported detriment after speaking up and both cases were reviewed by the "
    "Chief People Officer."
)
APOLOGIES = "Apologies were received from the Director of Finance and the Chief Operating Officer."
GREEN = (
    "Our Green Plan commits the trust to net zero for the emissions we control by 2040; this year we replaced "
    "desflurane, moved 30% of the fleet to electric vehicles and cut carbon from our estate by 11%."
)


def test_framework_terms_are_marked_and_normalised():
    a = analyse("The board reviewed the BAF; the FTSU Guardian and two NEDs discussed the Green Plan.")
    terms = set(a.terms)
    assert len(terms) >= 3
    texts = {m.text for m in a.matches}
    assert "BAF" in texts
    assert any("Green Plan" in t for t in texts)
    # lemmas are lower-cased; digits become <num>, number words do not
    b = analyse("Net Zero by 2040: Boards Noted it")
    assert "<num>" in b.lemmas.split()
    assert "zero" in b.lemmas.split()
    assert "board" in b.lemmas.split() and "note" in b.lemmas.split()


def test_lemma_phrases_match_plural_and_capitalised_forms():
    a = analyse("Board Assurance Frameworks were reviewed.")
    b = analyse("the board assurance framework was reviewed")
    assert set(a.terms) & set(b.terms)


def test_analyser_follows_sklearn_contract():
    est = SpacyAnalyser(batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        est.fit(["x"])
    params = SpacyAnalyser(framework_dir=None, batch_size=64).get_params()
    assert params == {"framework_dir": None, "batch_size": 64}
    frame = SpacyAnalyser().fit(["a"]).transform([FTSU, APOLOGIES])
    assert list(frame.columns) == ["lemmas", "terms"]
    assert "area:freedom-to-speak-up" in frame.loc[0, "terms"]
    assert frame.loc[1, "terms"] == "__none__"


def test_pipeline_clones_and_untrained_tagger_refuses_to_predict():
    pipe = make_classifier()
    cloned = clone(pipe)
    assert cloned.get_params()["tag__C"] == pipe.get_params()["tag__C"]
    with pytest.raises(Exception):
        ThresholdedOneVsRest().predict(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="C must be"):
        ThresholdedOneVsRest(C=0).fit(np.eye(4), np.eye(4, 2, dtype=int))


def test_thresholds_and_calibration_are_learned():
    rng = np.random.default_rng(0)
    X = rng.random((80, 6))
    Y = np.stack([(X[:, 0] > 0.5), (X[:, 1] > 0.7)], axis=1).astype(int)
    est = ThresholdedOneVsRest(cv=4).fit(X, Y)
    proba = est.predict_proba(X)
    assert proba.shape == (80, 2) and proba.min() >= 0 and proba.max() <= 1
    assert ((est.predict(X) == Y).mean()) > 0.8
    assert all(0.25 <= t <= 0.8 for t in est.thresholds_)


def test_tagging_gives_labels_scores_and_reasons(small_model, library):
    out = tag_texts(small_model, [FTSU, APOLOGIES, GREEN], passage_ids=["f", "a", "g"], library=library)
    f, a, g = out
    assert "freedom-to-speak-up" in [t.label for t in f.qs]
    assert not a.kloe and not a.qs, "a procedural line is evidence for nothing"
    assert "environmental-sustainability" in [t.label for t in g.qs]
    top = f.qs[0]
    assert 0.0 <= top.score <= 1.0
    assert top.terms, "each tag carries the terms that drove it"
    assert [t.score for t in f.qs] == sorted([t.score for t in f.qs], reverse=True)
    assert f.passage_id == "f"
    assert set(f.scores) == {"kloe", "qs"} and len(f.scores["kloe"]) == 8
