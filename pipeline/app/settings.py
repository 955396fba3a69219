"""How the review app is configured: where runs and labels live, who may log in, for how long."""

from __future__ import annotations

import getpass
import logging
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from pipeline.labels import default_db_url

__all__ = ["AppSettings", "RetrainFn"]

logger = logging.getLogger(__name__)

# (label files, force) -> the retrain flow's summary (see flows/retrain.py)
RetrainFn = Callable[[list[str], bool], dict[str, Any]]


def _local_user_name() -> str:
    try:
        name = getpass.getuser()
    except Exception:  # no login name in some containers
        name = "local"
    name = re.sub(r"[^A-Za-z0-9._@-]+", "-", name).strip("-.") or "local"
    return name[:64]


@dataclass(frozen=True)
class AppSettings:
    """Settings of one app server.

    Attributes:
        runs_dir: folder holding review run folders.
        db_url: label database URL (default ``sqlite:///<runs_dir>/.wellled/labels.sqlite``;
            env ``WELLLED_DB_URL`` when the CLI reads it).
        local: single-user laptop mode: no login; every request is ``local_user``.
        local_user: the name recorded on labels in local mode.
        secret_key: signs session cookies (default: env ``WELLLED_SECRET_KEY``,
            else a random key kept in ``<runs_dir>/.wellled/secret.key``).
        session_hours: a login lasts this long.
        secure_cookies: mark cookies Secure (serve over HTTPS).
        context_passages: passages shown before and after one in context.
        page_size: excerpts per page.
        suggest_count: passages listed under "Suggested next".
        retrain: runs the retrain flow on label files (the CLI passes
            :func:`flows.retrain.retrain`; the library never imports Prefect).
        models_dir: where the current default model's card is read from.
    """

    runs_dir: Path
    db_url: Optional[str] = None
    local: bool = False
    local_user: str = field(default_factory=_local_user_name)
    secret_key: Optional[str] = None
    session_hours: float = 8.0
    secure_cookies: bool = False
    context_passages: int = 3
    page_size: int = 40
    suggest_count: int = 25
    retrain: Optional[RetrainFn] = field(default=None, compare=False, repr=False)
    models_dir: Optional[Path] = None

    def __post_init__(self) -> None:
        if not Path(self.runs_dir).is_dir():
            raise ValueError(f"runs_dir must be an existing folder, got {str(self.runs_dir)!r}")
        if not 0 < self.session_hours <= 24 * 30:
            raise ValueError(f"session_hours must be in (0, 720], got {self.session_hours!r}")
        for name in ("context_passages", "page_size", "suggest_count"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$", self.local_user):
            raise ValueError(f"local_user must be a user name, got {self.local_user!r}")

    @property
    def state_dir(self) -> Path:
        return Path(self.runs_dir) / ".wellled"

    def resolve(self) -> AppSettings:
        """A copy with the database URL and secret key filled in."""
        db_url = self.db_url or os.environ.get("WELLLED_DB_URL") or default_db_url(self.runs_dir)
        key = self.secret_key or os.environ.get("WELLLED_SECRET_KEY") or self._stored_key()
        return replace(self, db_url=db_url, secret_key=key)

    def _stored_key(self) -> str:
        path = self.state_dir / "secret.key"
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server made it first
            return path.read_text(encoding="utf-8").strip()
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        return key
