"""Checks on an Office Open XML file (DOCX, XLSX) before any parser sees it.

An OOXML file is a zip of XML parts, so it can hold a zip bomb (a part that
expands to gigabytes) or an XML entity attack (a DTD with ENTITY
declarations: "billion laughs", external entities). Office itself never
writes a DTD into a part, so any DOCTYPE or ENTITY declaration is refused,
and each part's uncompressed size is bounded.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from pipeline.errors import DocumentLoadError, ResourceLimitError
from pipeline.limits import Limits

__all__ = ["check_ooxml"]

_DTD_RE = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.I)
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_PROLOG_BYTES = 64 * 1024
_MAX_PARTS = 10_000


def check_ooxml(path: Path, limits: Limits) -> None:
    """Refuse an OOXML file with DTD/ENTITY declarations or oversized parts.

    Raises:
        DocumentLoadError: Not a readable zip, encrypted parts, or a DTD.
        ResourceLimitError: A part or the whole file expands past the limits.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentLoadError(f"corrupt Office file: not a readable zip ({exc})") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > _MAX_PARTS:
            raise ResourceLimitError(f"Office file has {len(infos)} parts, over the limit of {_MAX_PARTS}")
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise DocumentLoadError("encrypted Office file (password required)")
            total += info.file_size
            name = info.filename
            if info.file_size > limits.max_xml_part_bytes and name.lower().endswith(_XML_SUFFIXES):
                raise ResourceLimitError(
                    f"part {name} expands to {info.file_size // (1 << 20)} MB, over the limit of "
                    f"{limits.max_xml_part_bytes // (1 << 20)} MB (max_xml_part_bytes)"
                )
            if info.file_size > 10 * (1 << 20) and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
                raise ResourceLimitError(
                    f"part {name} expands {info.file_size // max(info.compress_size, 1)}:1, over the "
                    f"limit of {limits.max_zip_ratio:g}:1 (max_zip_ratio): possible zip bomb"
                )
        if total > limits.max_zip_total_bytes:
            raise ResourceLimitError(
                f"Office file expands to {total // (1 << 20)} MB, over the limit of "
                f"{limits.max_zip_total_bytes // (1 << 20)} MB (max_zip_total_bytes)"
            )
        for info in infos:
            if not info.filename.lower().endswith(_XML_SUFFIXES) or info.file_size == 0:
                continue
            try:
                with zf.open(info) as fh:
                    head = fh.read(_PROLOG_BYTES)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise DocumentLoadError(f"corrupt Office file: part {info.filename} unreadable ({exc})") from exc
            if _DTD_RE.search(head):
                raise DocumentLoadError(
                    f"XML entity declarations are not allowed (DOCTYPE/ENTITY in part {info.filename})"
                )
