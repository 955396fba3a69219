"""Each sample pack, reviewed with the bundled model, gives the statuses its README intends."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from pipeline.ingest import ingest_pack
from pipeline.model import load_model
from pipeline.review import OUTPUT_FILES, classify_run, finish_results, write_review_outputs

PACKS = Path(__file__).resolve().parent.parent / "corpus_samples" / "packs"
EXPECT = yaml.safe_load((PACKS / "expectations.yaml").read_text())


@pytest.fixture(scope="module")
def bundled():
    return load_model()


@pytest.mark.slow
@pytest.mark.parametrize("pack", sorted(EXPECT))
def test_sample_pack_statuses_agree_with_its_readme(pack, bundled, tmp_path):
    spec = EXPECT[pack]
    result = ingest_pack(PACKS / pack, tmp_path, workers=2)
    assert result.count("failed") == 0, [r.reason for r in result.results if r.status == "failed"]
    assert not (tmp_path / "README.md").exists()
    from pipeline.ingest import write_outputs

    write_outputs(finish_results(result.results), tmp_path)
    classify_run(tmp_path, bundled)
    write_review_outputs(tmp_path, pack_name=pack, trust_type=spec["trust_type"])
    for name in OUTPUT_FILES:
        assert (tmp_path / name).is_file(), name
    got = {r["id"]: r["status"] for r in csv.DictReader((tmp_path / "coverage.csv").open())}
    wrong = {area: (got[area], allowed) for area, allowed in spec["expect"].items() if got[area] not in allowed}
    assert not wrong, f"{pack}: status differs from the README's intent: {wrong}"
