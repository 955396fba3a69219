"""wellled library: ingest a trust pack, split it, tag it, measure coverage, report.

Never imports prefect. Public names are re-exported here.
"""

from pipeline.document import Block, Document, DocType, Passage, PassageTags, SourceFormat, Tag
from pipeline.errors import (
    CorpusError,
    DocumentLoadError,
    FrameworkError,
    ModelError,
    PipelineError,
    ResourceLimitError,
    UnsupportedFormatError,
)

__all__ = [
    "Block",
    "Document",
    "DocType",
    "Passage",
    "PassageTags",
    "SourceFormat",
    "Tag",
    "CorpusError",
    "DocumentLoadError",
    "FrameworkError",
    "ModelError",
    "PipelineError",
    "ResourceLimitError",
    "UnsupportedFormatError",
]
