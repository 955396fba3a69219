"""The watch_uploads flow: review every complete, new or changed upload in an inbox.

Run once per schedule tick (``wellled watch INBOX --outbox OUT --once`` for
cron, ``--every 10m`` to serve it on a schedule). Each upload's outputs go to
``outbox/<trust>/<upload>/``; the ledger in the outbox records what was done
so a crash or restart never loses or repeats an upload.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from flows import settings  # noqa: F401  (must come before prefect)
from prefect import flow, get_run_logger, task

from flows.review import review_pack
from pipeline.uploads import Ledger, Upload, find_uploads, upload_summary

__all__ = ["watch_uploads", "scan_inbox"]

logger = logging.getLogger(__name__)


@task(name="scan-inbox")
def scan_inbox(inbox: str, settle_seconds: float) -> list[Upload]:
    return find_uploads(inbox, settle_seconds=settle_seconds)


@flow(name="watch_uploads")
def watch_uploads(
    inbox: str,
    outbox: str,
    settle_seconds: float = 60.0,
    model_dir: Optional[str] = None,
) -> dict[str, Any]:
    """One cycle: review each complete upload that is new or changed since it was last reviewed.

    Returns ``{"reviewed": [...], "waiting": [...], "skipped": [...], "failed": [...]}`` (upload keys).
    """
    log = get_run_logger()
    ledger = Ledger(outbox)
    uploads = scan_inbox(inbox, settle_seconds)
    done: dict[str, list[Any]] = {"reviewed": [], "waiting": [], "skipped": [], "failed": []}
    for up in uploads:
        if not up.complete:
            log.info("%s is not complete yet (%s); leaving it for the next run", up.key, up.reason)
            done["waiting"].append({"upload": up.key, "reason": up.reason})
            continue
        if not ledger.needs_review(up):
            done["skipped"].append(up.key)
            continue
        out = Path(outbox) / up.trust / up.name
        ledger.mark(up, "running", out=str(out))
        try:
            summary = review_pack(pack=str(up.path), out=str(out), model_dir=model_dir,
                                  pack_name=f"{up.trust} / {up.name}")
        except Exception as exc:  # one bad upload must not stop the others
            log.error("review of %s failed: %s", up.key, exc)
            ledger.mark(up, "failed", out=str(out), reason=str(exc))
            done["failed"].append({"upload": up.key, "reason": str(exc)})
            continue
        ledger.mark(up, "done", out=str(out), files=summary["files"], failed_files=len(summary["failed"]))
        done["reviewed"].append(up.key)
    log.info("watch cycle: %s", {k: len(v) for k, v in done.items()})
    done["uploads"] = [upload_summary(u) for u in uploads]
    return done
