"""Model persistence: skops round trip, the card, the trusted-types check."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from pipeline.classify import tag_texts
from pipeline.errors import ModelError
from pipeline.model import load_model, save_model, set_default_model, default_model_dir

TEXTS = [
    "The Audit and Risk Committee reviewed the Board Assurance Framework and agreed to raise the score of BAF risk 4.",
    "Date of next meeting: Thursday 4 December 2025 at 10:00.",
]


def test_round_trip_gives_identical_scores(small_model, tmp_path):
    again = load_model(small_model.path)
    a = tag_texts(small_model, TEXTS)
    b = tag_texts(again, TEXTS)
    assert [t.scores for t in a] == [t.scores for t in b]


def test_card_describes_the_model(small_model):
    card = json.loads((small_model.path / "card.json").read_text())
    for key in ("name", "version", "created", "framework_version", "labels", "thresholds", "training",
                "libraries", "model_sha256"):
        assert key in card
    assert card["labels"]["kloe"] == ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"]
    assert len(card["labels"]["qs"]) == 8
    assert len(card["training"]["data_sha256"]) == 64
    assert "scikit-learn" in card["libraries"] and "spacy" in card["libraries"]


def test_missing_card_or_changed_file_is_refused(small_model, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(small_model.path, copy)
    (copy / "card.json").unlink()
    with pytest.raises(ModelError, match="card"):
        load_model(copy)
    shutil.copy(small_model.path / "card.json", copy / "card.json")
    with open(copy / "model.skops", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ModelError):
        load_model(copy)


def test_untrusted_types_are_refused_never_unpickled(tmp_path):
    import skops.io as sio

    class Evil:  # a type from nowhere we trust
        def __init__(self):
            self.x = 1

    bad = tmp_path / "bad"
    bad.mkdir()
    import collections

    sio.dump({"pipeline": collections.OrderedDict(a=1), "labels": [], "frameworks": [],
              "x": __import__("fractions").Fraction(1, 3)}, bad / "model.skops")
    (bad / "card.json").write_text("{}")
    with pytest.raises(ModelError, match="allow-list"):
        load_model(bad)


@pytest.mark.parametrize("listed", [None, ["builtins.eval"]])
def test_a_function_hidden_in_an_estimator_is_refused(tmp_path, listed):
    """builtins.eval as a vectorizer's analyzer would run on every passage: refused, card or no card."""
    import skops.io as sio
    from sklearn.feature_extraction.text import TfidfVectorizer

    bad = tmp_path / "evil"
    bad.mkdir()
    sio.dump({"pipeline": TfidfVectorizer(analyzer=eval), "labels": [], "frameworks": []}, bad / "model.skops")
    card = {} if listed is None else {"skops_types": listed}  # a card may even claim the type
    (bad / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="builtins.eval"):
        load_model(bad)


def test_saved_card_lists_the_files_types_and_loading_uses_them(small_model, tmp_path):
    out = save_model(small_model, tmp_path / "m")
    card = json.loads((out / "card.json").read_text())
    assert card["skops_types"] and all(t.startswith("pipeline.classify.") for t in card["skops_types"])
    assert load_model(out).labels == small_model.labels


def test_a_pickle_renamed_to_skops_is_refused(tmp_path):
    import pickle

    bad = tmp_path / "pickled"
    bad.mkdir()
    (bad / "model.skops").write_bytes(pickle.dumps({"a": 1}))
    (bad / "card.json").write_text("{}")
    with pytest.raises(ModelError, match="not a readable skops"):
        load_model(bad)


def test_default_pointer(tmp_path, small_model):
    root = tmp_path / "models"
    root.mkdir()
    with pytest.raises(ModelError, match="no default model"):
        default_model_dir(root)
    target = root / "wellled-tagger-9.9"
    shutil.copytree(small_model.path, target)
    set_default_model(target, root)
    assert default_model_dir(root) == target


def test_bundled_default_model_loads_and_tags():
    model = load_model()
    tags = tag_texts(model, TEXTS)
    assert "W5" in [t.label for t in tags[0].kloe]
    assert not tags[1].kloe and not tags[1].qs
    assert zipfile.is_zipfile(model.path / "model.skops")
