"""Every exception the wellled library raises.

One root, :class:`PipelineError`; each subclass also derives from the builtin
it most resembles so callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "PipelineError",
    "UnsupportedFormatError",
    "DocumentLoadError",
    "ResourceLimitError",
    "FrameworkError",
    "CorpusError",
    "ModelError",
]


class PipelineError(Exception):
    """Root of every error raised by :mod:`pipeline`."""


class UnsupportedFormatError(PipelineError, ValueError):
    """A file's content is not a format any backend reads."""


class DocumentLoadError(PipelineError, ValueError):
    """A file could not be read: bad input, not a bug in the pipeline."""


class ResourceLimitError(DocumentLoadError):
    """A file exceeded a configured bound (size, pages, time, memory, entries)."""


class FrameworkError(PipelineError, ValueError):
    """A framework data file is missing or does not match the schema.

    The message names the file, the path inside it and what is wrong.
    """


class CorpusError(PipelineError, ValueError):
    """A labelled-passage file is malformed or uses unknown label ids."""


class ModelError(PipelineError, RuntimeError):
    """A model directory is missing, untrusted or incompatible."""
