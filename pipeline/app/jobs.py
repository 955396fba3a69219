"""Retraining from the app: one background run at a time, its result kept on disk."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.app.settings import RetrainFn
from pipeline.outputs import atomic_write_text

__all__ = ["RetrainJob", "current_model_summary"]

logger = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class RetrainJob:
    """Runs the retrain function in a thread and remembers the last outcome.

    Args:
        fn: ``(label files, force) -> summary`` (the retrain flow), or None
            when this server cannot retrain.
        state_file: where the last outcome is kept between restarts.
    """

    def __init__(self, fn: RetrainFn | None, state_file: Path) -> None:
        self.fn = fn
        self.state_file = state_file
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state: dict[str, Any] = {"status": "idle"}
        if state_file.is_file():
            try:
                self._state = json.loads(state_file.read_text(encoding="utf-8"))
                if self._state.get("status") == "running":  # the server stopped during a run
                    self._state["status"] = "failed"
                    self._state["error"] = "the server stopped before the run finished"
            except (OSError, ValueError):
                logger.warning("%s: unreadable; starting with no retrain history", state_file)

    @property
    def available(self) -> bool:
        return self.fn is not None

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def _save(self) -> None:
        try:
            atomic_write_text(self.state_file, json.dumps(self._state, indent=2, default=str) + "\n")
        except OSError:
            logger.warning("could not write %s", self.state_file, exc_info=True)

    def start(self, label_file: Path, *, passages: int, force: bool, user: str) -> bool:
        """Start a run on ``label_file``; False when one is already running or retraining is off."""
        if self.fn is None:
            return False
        with self._lock:
            if self._state.get("status") == "running":
                return False
            self._state = {"status": "running", "started": _now(), "user": user, "force": force,
                           "labels_file": str(label_file), "passages": passages}
            self._save()
        self._thread = threading.Thread(target=self._run, args=(label_file, force), name="wellled-retrain",
                                        daemon=True)
        self._thread.start()
        return True

    def _run(self, label_file: Path, force: bool) -> None:
        assert self.fn is not None
        try:
            result = self.fn([str(label_file)], force)
            update = {"status": "done", "finished": _now(), "result": _plain(result)}
        except Exception as exc:  # show any failure on the page instead of losing it in a thread
            logger.exception("retrain failed")
            update = {"status": "failed", "finished": _now(), "error": f"{type(exc).__name__}: {exc}",
                      "trace": traceback.format_exc(limit=5)}
        with self._lock:
            self._state.update(update)
            self._save()

    def promote(self, models_dir: Path | None, *, user: str) -> str:
        """Make the last run's model the default after all (it was not promoted: worse on macro F1).

        Returns:
            The promoted model's folder.

        Raises:
            ValueError: there is no finished, unpromoted run.
        """
        from pipeline.model import set_default_model

        with self._lock:
            result = self._state.get("result") or {}
            if self._state.get("status") != "done" or not result.get("model"):
                raise ValueError("no finished retrain run to promote")
            if result.get("promoted"):
                raise ValueError(f"{result['model']} is already the default")
            set_default_model(result["model"], models_dir)
            result["promoted"] = True
            self._state["promoted_by"] = user
            self._state["promoted_at"] = _now()
            self._save()
            return str(result["model"])

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def _plain(result: Any) -> Any:
    return json.loads(json.dumps(result, default=str))


def current_model_summary(models_dir: Path | None) -> dict[str, Any] | None:
    """The default model's name, version and held-out macro F1 per framework, from its card."""
    from pipeline.errors import ModelError
    from pipeline.model import CARD_FILE, default_model_dir

    try:
        folder = default_model_dir(models_dir)
        card = json.loads((Path(folder) / CARD_FILE).read_text(encoding="utf-8"))
    except (ModelError, OSError, ValueError):
        return None
    metrics = card.get("metrics") or {}
    return {
        "path": str(folder),
        "name": card.get("name", Path(folder).name),
        "version": card.get("version", ""),
        "test_passages": metrics.get("passages"),
        "macro_f1": {fw: (metrics.get(fw) or {}).get("macro_f1") for fw in ("kloe", "qs")},
        "created": card.get("created", ""),
    }
