"""Records pickle quickly and exactly (they cross process and cache boundaries)."""

from __future__ import annotations

import copyreg
import dataclasses
import pickle
from pathlib import Path

import pytest

from pipeline.document import Block, BlockKind, Document, Passage, Tag
from pipeline.ingest.base import FileResult, SourceFile


def _result() -> FileResult:
    source = SourceFile("Board/minutes.pdf", Path("/tmp/minutes.pdf"), sha256="ab" * 32, size=1234, fmt="pdf")
    block = Block(kind=BlockKind.MINUTE_ITEM.value, text="TB 25/101 The Board noted the FTSU report.", page=3,
                  heading_path=("Minutes", "TB 25/101"))
    doc = Document(document_id="d1", source_path="Board/minutes.pdf", file_name="minutes.pdf", format="pdf",
                   doc_type="board_minutes", title="Board minutes", text=block.text, blocks=(block,), page_count=4,
                   warnings=("page 2: no text",), meta={"redacted": {"phone": 1}})
    passage = Passage(passage_id="d1-p0001", document_id="d1", text=block.text, source_path="Board/minutes.pdf",
                      doc_type="board_minutes", kind="minute_item", page=3, heading_path=("Minutes", "TB 25/101"))
    return FileResult(source, "ingested", document=doc, passages=[passage], seconds=0.25, fmt="pdf")


def test_records_round_trip_through_pickle():
    result = _result()
    for protocol in (2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(result, protocol=protocol))
        assert back == result
        assert back.passages[0].heading_path == ("Minutes", "TB 25/101")
        with pytest.raises(dataclasses.FrozenInstanceError):
            back.passages[0].text = "changed"  # type: ignore[misc]
    tag = Tag(framework="kloe", label="W3", score=0.91, terms=("speak up",))
    assert pickle.loads(pickle.dumps(tag)) == tag


def test_state_is_the_field_values_in_order():
    passage = _result().passages[0]
    assert passage.__getstate__() == tuple(getattr(passage, f.name) for f in dataclasses.fields(Passage))


def test_records_pickled_by_the_standard_state_methods_still_load():
    """Cache records written before fast_pickle hold the standard state: a list of the field values."""
    result = _result()

    def standard(obj):  # what dataclasses' own __getstate__ gave
        return copyreg._reconstructor, (type(obj), object, None), [getattr(obj, f.name) for f in dataclasses.fields(obj)]

    class OldPickler(pickle.Pickler):
        def reducer_override(self, obj):
            if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
                return standard(obj)
            return NotImplemented

    import io

    buf = io.BytesIO()
    OldPickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(result)
    assert pickle.loads(buf.getvalue()) == result
