"""The label store: inspectors' decisions on tagged passages, kept as events.

Every decision is one appended row (``accept``, ``reject``, ``add``,
``not_evidence`` or ``clear``) with who made it, when, and a snapshot of the
passage (text, document type, source, the model's tags). Nothing is ever
updated in place, so inspectors labelling the same run at once never
overwrite each other. What a user currently thinks of a passage is their
latest event per label (:func:`resolve_verdicts`); what the team thinks is
the majority of its members' verdicts, and disagreements are reported
(:func:`merge_verdicts`).

The store is SQLite by default (embedded, WAL mode) or PostgreSQL when a team
shares a server; the URL decides (``sqlite:///path``,
``postgresql+psycopg://user:pw@host/db``). :func:`migrate` creates and
upgrades the schema (table ``schema_version``); :class:`LabelStore` runs it
when it opens a database.

Exports: passages with at least one decision become our training JSONL
(``{"id", "text", "doc_type", "trust_type", "kloe", "qs", "evidence",
"source"}``) or Prodigy-style JSONL (``{"text", "accept", "answer",
"meta"}``); both load with :func:`pipeline.corpus.load_labelled`. Offline
reviewers' corrections come back from the coverage workbook's Excerpts sheet
(:func:`read_corrections`).
"""

from __future__ import annotations

import heapq
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.errors import CorpusError
from pipeline.framework import Library, load_library

__all__ = [
    "ACTIONS",
    "PASSAGE_LABEL",
    "SCHEMA_VERSION",
    "PassageRef",
    "LabelEvent",
    "Verdict",
    "Conflict",
    "LabelExport",
    "CorrectionImport",
    "Suggestion",
    "LabelStore",
    "make_engine",
    "migrate",
    "schema_version",
    "default_db_url",
    "resolve_verdicts",
    "merge_verdicts",
    "export_labels",
    "write_jsonl",
    "read_corrections",
    "uncertainty",
    "suggest_passages",
]

logger = logging.getLogger(__name__)

ACTIONS = ("accept", "reject", "add", "not_evidence", "clear")
INCLUDE = frozenset({"accept", "add"})
PASSAGE_LABEL = "*"  # the label of decisions about the whole passage (not_evidence, or clearing it)
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TRUE_WORDS = {"yes", "y", "x", "true", "1", "✓", "✔", "not evidence"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# ------------------------------------------------------------------ records
@dataclass(frozen=True, slots=True)
class PassageRef:
    """What a label event keeps of the passage it is about.

    ``source`` is ``<run id>/<document path>``: passages from one document
    share it, which is what the corpus's train/test split groups by.
    """

    run_id: str
    passage_id: str
    text: str
    doc_type: str = "other"
    source: str = ""
    trust_type: str = "unknown"
    model_labels: tuple[str, ...] = ()  # area ids the model tagged


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """One decision by one user on one passage (and one label, or the whole passage)."""

    id: int
    run_id: str
    passage_id: str
    framework: str  # "kloe", "qs", or "" for a whole-passage decision
    label: str  # area id, or PASSAGE_LABEL
    action: str
    user: str
    created_at: str  # ISO 8601, UTC
    text: str = ""
    doc_type: str = "other"
    source: str = ""
    trust_type: str = "unknown"
    model_labels: tuple[str, ...] = ()
    via: str = "app"  # "app", "xlsx:<file name>", "api"
    comment: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "run_id": self.run_id, "passage_id": self.passage_id, "framework": self.framework,
            "label": self.label, "action": self.action, "user": self.user, "created_at": self.created_at,
            "via": self.via, "comment": self.comment,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one user currently says about one passage.

    ``labels`` are the areas the passage is evidence for in this user's view:
    the model's tags, plus what they accepted or added, minus what they
    rejected; nothing when they marked it not evidence (after their last
    label decision on it).
    """

    run_id: str
    passage_id: str
    user: str
    decisions: Mapping[str, str]  # label -> latest action (cleared labels left out)
    not_evidence: bool
    labels: tuple[str, ...]
    updated_at: str
    last_event: int
    passage: PassageRef


@dataclass(frozen=True, slots=True)
class Conflict:
    """Users disagree on whether a passage is evidence for a label."""

    run_id: str
    passage_id: str
    label: str
    for_users: tuple[str, ...]
    against_users: tuple[str, ...]
    kept: bool  # the label went into the export

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "passage_id": self.passage_id, "label": self.label,
                "for": list(self.for_users), "against": list(self.against_users), "kept": self.kept}


@dataclass
class LabelExport:
    """The team's labels, one merged record per decided passage."""

    training: list[dict[str, Any]] = field(default_factory=list)
    prodigy: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    events: int = 0
    users: tuple[str, ...] = ()

    def records(self, fmt: str) -> list[dict[str, Any]]:
        """The records of one format: ``training`` (ours) or ``prodigy``."""
        if fmt not in ("training", "prodigy"):
            raise ValueError(f"export format must be 'training' or 'prodigy', got {fmt!r}")
        return self.training if fmt == "training" else self.prodigy


@dataclass
class CorrectionImport:
    """Label events read from a workbook, with the rows that could not be used."""

    events: list[dict[str, Any]] = field(default_factory=list)  # keyword arguments for LabelStore.record_many
    rows_read: int = 0
    rows_used: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A passage worth labelling next: the model is least sure about ``label``."""

    passage_id: str
    label: str
    score: float
    margin: float  # |score - 0.5|; smaller is less sure


# ------------------------------------------------------------------- schema
metadata = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements only INTEGER keys

schema_version_table = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.String(40), nullable=False),
)


def _users_columns() -> list[sa.Column]:
    return [
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
    ]


def _labels_columns_v1() -> list[sa.Column]:
    return [
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("passage_id", sa.String(200), nullable=False),
        sa.Column("framework", sa.String(16), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("doc_type", sa.String(40), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
    ]


users_table = sa.Table("users", metadata, *_users_columns())
labels_table = sa.Table(
    "labels", metadata,
    *_labels_columns_v1(),
    # added by migration 2
    sa.Column("trust_type", sa.String(40), nullable=False, server_default="unknown"),
    sa.Column("model_labels", sa.Text, nullable=False, server_default=""),
    sa.Column("via", sa.String(200), nullable=False, server_default="app"),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
)


def _migration_1(conn: Connection) -> None:
    """Users and label events (the first release's columns)."""
    v1 = sa.MetaData()
    sa.Table("users", v1, *_users_columns())
    sa.Table("labels", v1, *_labels_columns_v1())
    v1.create_all(conn)
    conn.execute(sa.text("CREATE INDEX ix_labels_run_passage ON labels (run_id, passage_id)"))


def _migration_2(conn: Connection) -> None:
    """Keep the passage's trust type and model tags with each event; record where it came from."""
    for ddl in (
        "ALTER TABLE labels ADD COLUMN trust_type VARCHAR(40) NOT NULL DEFAULT 'unknown'",
        "ALTER TABLE labels ADD COLUMN model_labels TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE labels ADD COLUMN via VARCHAR(200) NOT NULL DEFAULT 'app'",
        "ALTER TABLE labels ADD COLUMN comment TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX ix_labels_run_user ON labels (run_id, user_name)",
    ):
        conn.execute(sa.text(ddl))


MIGRATIONS: tuple[tuple[int, Callable[[Connection], None]], ...] = ((1, _migration_1), (2, _migration_2))
SCHEMA_VERSION = MIGRATIONS[-1][0]
_PG_LOCK_KEY = 0x77656C6C  # "well": one migrator at a time on a shared server


def make_engine(url: str) -> Engine:
    """An engine for a label database; SQLite gets WAL mode, a busy timeout and real transactions."""
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        if not in_memory:
            path = sa.engine.make_url(url).database
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=sa.pool.StaticPool if in_memory else None,
        )

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below open transactions (DDL included)
            cur = dbapi_conn.cursor()
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def schema_version(engine: Engine) -> int:
    """The database's schema version (0 for an empty database)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return 0
        return int(conn.execute(sa.select(sa.func.max(schema_version_table.c.version))).scalar() or 0)


def migrate(engine: Engine, *, target: int | None = None) -> int:
    """Create or upgrade the schema to ``target`` (default: the latest); return the version reached.

    Idempotent. Each step runs in one transaction with the version row it
    adds; on PostgreSQL an advisory lock keeps two processes from migrating
    at once, on SQLite an immediate transaction does.
    """
    target = SCHEMA_VERSION if target is None else target
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"target must be between 0 and {SCHEMA_VERSION}, got {target!r}")
    reached = 0
    for version, step in MIGRATIONS:
        if version > target:
            break
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            schema_version_table.create(conn, checkfirst=True)
            have = conn.execute(sa.select(sa.func.max(schema_version_table.c.version))).scalar() or 0
            if have < version:
                logger.info("label store: migrating schema to version %d", version)
                step(conn)
                conn.execute(schema_version_table.insert().values(version=version, applied_at=_now()))
            reached = max(have, version)
    return reached


def default_db_url(runs_dir: str | Path) -> str:
    """``sqlite:///<runs dir>/.wellled/labels.sqlite``."""
    return f"sqlite:///{(Path(runs_dir).resolve() / '.wellled' / 'labels.sqlite').as_posix()}"


# -------------------------------------------------------------------- store
def _area_frameworks(library: Library) -> dict[str, str]:
    return {a: fw for fw in library.frameworks for a in library.area_ids(fw)}


class LabelStore:
    """Users and label events in one database.

    Args:
        url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``).
        library: framework library whose area ids are the valid labels.
        engine: an engine to use instead of making one from ``url``.
        password_hasher: an ``argon2.PasswordHasher`` (default parameters when None).
    """

    def __init__(self, url: str, *, library: Library | None = None, engine: Engine | None = None,
                 password_hasher: Any = None) -> None:
        from argon2 import PasswordHasher

        self.url = url
        self.engine = engine or make_engine(url)
        self.library = library or load_library()
        self.frameworks = _area_frameworks(self.library)
        self.hasher = password_hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._dummy_hash: str | None = None
        migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- users ----------------------------------------------------------------
    def add_user(self, name: str, password: str, *, replace_password: bool = False) -> None:
        """Create a user (or, with ``replace_password``, set an existing user's password).

        Passwords are hashed with argon2id (argon2-cffi defaults); the clear
        text is never stored.
        """
        if not USER_NAME.match(name or ""):
            raise ValueError(f"user name must be 1-64 letters, digits or . _ @ - (starting with a letter or digit), "
                             f"got {name!r}")
        if len(password or "") < 8:
            raise ValueError("password must have at least 8 characters")
        digest = self.hasher.hash(password)
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(users_table.c.id).where(users_table.c.name == name)).first()
            if exists and not replace_password:
                raise ValueError(f"user {name!r} already exists")
            if exists:
                conn.execute(users_table.update().where(users_table.c.name == name).values(password_hash=digest))
            else:
                conn.execute(users_table.insert().values(name=name, password_hash=digest, created=_now()))

    def authenticate(self, name: str, password: str) -> bool:
        """Whether the password is this user's (the same work whether or not the user exists)."""
        import secrets

        from argon2.exceptions import InvalidHashError, VerificationError

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users_table.c.password_hash).where(users_table.c.name == name)).first()
        if row is None and self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        digest = row[0] if row else self._dummy_hash
        try:
            ok = self.hasher.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return False
        if ok and row and self.hasher.check_needs_rehash(digest):
            with self.engine.begin() as conn:
                conn.execute(users_table.update().where(users_table.c.name == name)
                             .values(password_hash=self.hasher.hash(password)))
        return bool(ok and row)

    def users(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(users_table.c.name).order_by(users_table.c.name))]

    # -- events ---------------------------------------------------------------
    def _row(self, passage: PassageRef, user: str, action: str, label: str | None, *, via: str, comment: str,
             created_at: str | None) -> dict[str, Any]:
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        if not USER_NAME.match(user or ""):
            raise ValueError(f"user must be a user name, got {user!r}")
        if action == "not_evidence":
            label = PASSAGE_LABEL
        if not label:
            raise ValueError(f"action {action!r} needs a label (an area id)")
        if label == PASSAGE_LABEL:
            if action not in ("not_evidence", "clear"):
                raise ValueError(f"the whole passage can be marked not_evidence or cleared, not {action!r}")
            framework = ""
        elif label in self.frameworks:
            framework = self.frameworks[label]
        else:
            raise CorpusError(f"label {label!r} is not an area id in framework/ (W1-W8 or a quality statement id)")
        if not passage.run_id or not passage.passage_id:
            raise ValueError("a label event needs the passage's run_id and passage_id")
        return {
            "run_id": passage.run_id, "passage_id": passage.passage_id, "framework": framework, "label": label,
            "action": action, "user_name": user, "created_at": created_at or _now(), "text": passage.text,
            "doc_type": passage.doc_type or "other", "source": passage.source or "",
            "trust_type": passage.trust_type or "unknown", "model_labels": json.dumps(list(passage.model_labels)),
            "via": via, "comment": comment or "",
        }

    def record(self, passage: PassageRef, user: str, action: str, label: str | None = None, *, via: str = "app",
               comment: str = "") -> LabelEvent:
        """Append one decision and return it.

        Args:
            passage: the passage decided on (its snapshot is stored with the event).
            user: who decided.
            action: ``accept``, ``reject``, ``add``, ``not_evidence`` or ``clear``.
            label: area id; for ``not_evidence`` leave it out; ``clear`` with
                :data:`PASSAGE_LABEL` withdraws a not-evidence mark.
        """
        row = self._row(passage, user, action, label, via=via, comment=comment, created_at=None)
        with self.engine.begin() as conn:  # insert only: no read before the write, so SQLite never upgrades a lock
            new_id = conn.execute(labels_table.insert().values(**row)).inserted_primary_key[0]
        return _event({**row, "id": int(new_id)})

    def record_many(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Append many decisions in one transaction; each item holds :meth:`record`'s arguments."""
        stamp = _now()
        rows = [self._row(i["passage"], i["user"], i["action"], i.get("label"), via=i.get("via", "app"),
                          comment=i.get("comment", ""), created_at=stamp) for i in items]
        if not rows:
            return 0
        with self.engine.begin() as conn:
            for row in rows:  # one by one keeps insertion order = id order (latest wins)
                conn.execute(labels_table.insert().values(**row))
        return len(rows)

    def events(self, run_id: str | None = None, *, passage_ids: Iterable[str] | None = None,
               user: str | None = None) -> list[LabelEvent]:
        """Events in the order they were recorded, optionally for one run, some passages, one user."""
        q = sa.select(labels_table).order_by(labels_table.c.id)
        if run_id is not None:
            q = q.where(labels_table.c.run_id == run_id)
        if user is not None:
            q = q.where(labels_table.c.user_name == user)
        out: list[LabelEvent] = []
        with self.engine.connect() as conn:
            if passage_ids is not None:
                ids = sorted(set(passage_ids))
                for start in range(0, len(ids), 500):
                    rows = conn.execute(q.where(labels_table.c.passage_id.in_(ids[start:start + 500]))).mappings()
                    out.extend(_event(r) for r in rows)
                out.sort(key=lambda e: e.id)
            else:
                out = [_event(r) for r in conn.execute(q).mappings()]
        return out

    def latest_events(self, run_id: str, *, limit: int = 200) -> list[LabelEvent]:
        """The run's most recent events, newest first."""
        q = (sa.select(labels_table).where(labels_table.c.run_id == run_id)
             .order_by(labels_table.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [_event(r) for r in conn.execute(q).mappings()]

    def verdicts(self, run_id: str, passage_ids: Iterable[str] | None = None) -> dict[str, dict[str, Verdict]]:
        """passage_id -> user -> that user's current verdict, for one run."""
        return {pid: users for (_, pid), users in
                resolve_verdicts(self.events(run_id, passage_ids=passage_ids)).items()}

    def decided(self, run_id: str, user: str | None = None) -> set[str]:
        """Passage ids with at least one decision (by ``user``, or by anyone)."""
        q = sa.select(labels_table.c.passage_id).distinct().where(labels_table.c.run_id == run_id)
        if user is not None:
            q = q.where(labels_table.c.user_name == user)
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(q)}

    def run_counts(self) -> dict[str, dict[str, int]]:
        """run_id -> {"events", "passages", "users"}."""
        q = sa.select(
            labels_table.c.run_id,
            sa.func.count(),
            sa.func.count(sa.distinct(labels_table.c.passage_id)),
            sa.func.count(sa.distinct(labels_table.c.user_name)),
        ).group_by(labels_table.c.run_id)
        with self.engine.connect() as conn:
            return {r[0]: {"events": r[1], "passages": r[2], "users": r[3]} for r in conn.execute(q)}

    def export(self, run_id: str | None = None) -> LabelExport:
        """Merged labels of one run (or all runs): see :func:`export_labels`."""
        return export_labels(self.events(run_id), self.library)


def _event(row: Mapping[str, Any]) -> LabelEvent:
    raw = row.get("model_labels") or ""
    model = tuple(json.loads(raw)) if raw.startswith("[") else ()
    return LabelEvent(
        id=int(row["id"]), run_id=row["run_id"], passage_id=row["passage_id"], framework=row["framework"],
        label=row["label"], action=row["action"], user=row.get("user_name") or row.get("user", ""),
        created_at=row["created_at"], text=row.get("text") or "", doc_type=row.get("doc_type") or "other",
        source=row.get("source") or "", trust_type=row.get("trust_type") or "unknown", model_labels=model,
        via=row.get("via") or "app", comment=row.get("comment") or "",
    )


# ------------------------------------------------------------------ verdicts
def resolve_verdicts(events: Iterable[LabelEvent]) -> dict[tuple[str, str], dict[str, Verdict]]:
    """(run_id, passage_id) -> user -> the user's current verdict.

    A user's decision on a label is their latest event for it (``clear``
    withdraws it). A not-evidence mark holds when it is the user's latest
    event on the passage; a label decision made after it overrides it.
    """
    grouped: dict[tuple[str, str], dict[str, list[LabelEvent]]] = defaultdict(lambda: defaultdict(list))
    for e in sorted(events, key=lambda e: e.id):
        grouped[(e.run_id, e.passage_id)][e.user].append(e)
    out: dict[tuple[str, str], dict[str, Verdict]] = {}
    for key, by_user in grouped.items():
        out[key] = {}
        for user, evs in by_user.items():
            latest: dict[str, LabelEvent] = {}
            for e in evs:
                latest[e.label] = e
            passage_mark = latest.get(PASSAGE_LABEL)
            label_ids = [e.id for lbl, e in latest.items() if lbl != PASSAGE_LABEL]
            not_evidence = bool(passage_mark and passage_mark.action == "not_evidence"
                                and passage_mark.id > max(label_ids, default=0))
            decisions = {lbl: e.action for lbl, e in latest.items() if e.action != "clear"}
            last = evs[-1]
            if not_evidence:
                labels: tuple[str, ...] = ()
            else:
                keep = list(last.model_labels)
                for lbl, act in decisions.items():
                    if lbl == PASSAGE_LABEL:
                        continue
                    if act in INCLUDE and lbl not in keep:
                        keep.append(lbl)
                    elif act == "reject" and lbl in keep:
                        keep.remove(lbl)
                labels = tuple(keep)
            ref = PassageRef(last.run_id, last.passage_id, last.text, last.doc_type, last.source, last.trust_type,
                             last.model_labels)
            out[key][user] = Verdict(last.run_id, last.passage_id, user, decisions, not_evidence, labels,
                                     last.created_at, last.id, ref)
    return out


def merge_verdicts(verdicts: Mapping[str, Verdict]) -> tuple[tuple[str, ...], list[Conflict]]:
    """The team's labels for one passage: each label kept when most users' verdicts include it.

    A tie goes to the user who decided on the passage last. Every label the
    users do not agree on is returned as a :class:`Conflict`.
    """
    if not verdicts:
        return (), []
    any_v = next(iter(verdicts.values()))
    candidates: list[str] = []
    for v in verdicts.values():
        for lbl in (*v.passage.model_labels, *v.labels):
            if lbl not in candidates:
                candidates.append(lbl)
    latest = max(verdicts.values(), key=lambda v: v.last_event)
    kept: list[str] = []
    conflicts: list[Conflict] = []
    for lbl in candidates:
        yes = tuple(sorted(u for u, v in verdicts.items() if lbl in v.labels))
        no = tuple(sorted(u for u, v in verdicts.items() if lbl not in v.labels))
        keep = len(yes) > len(no) or (len(yes) == len(no) and lbl in latest.labels)
        if keep:
            kept.append(lbl)
        if yes and no:
            conflicts.append(Conflict(any_v.run_id, any_v.passage_id, lbl, yes, no, keep))
    return tuple(kept), conflicts


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._/-]+", "-", text).strip("-")


def export_labels(events: Sequence[LabelEvent], library: Library | None = None) -> LabelExport:
    """Merge events into one training record (and one Prodigy-style line) per decided passage."""
    library = library or load_library()
    order = {a: i for i, a in enumerate(library.area_ids())}
    fw_of = _area_frameworks(library)
    result = LabelExport(events=len(events), users=tuple(sorted({e.user for e in events})))
    for (run_id, pid), by_user in sorted(resolve_verdicts(events).items()):
        labels, conflicts = merge_verdicts(by_user)
        result.conflicts.extend(conflicts)
        ref = max(by_user.values(), key=lambda v: v.last_event).passage
        labels = tuple(sorted((x for x in labels if x in fw_of), key=lambda x: order[x]))
        kloe = [x for x in labels if fw_of[x] == "kloe"]
        qs = [x for x in labels if fw_of[x] == "qs"]
        record_id = f"{_safe_id(run_id)}/{_safe_id(pid)}"
        result.training.append({
            "id": record_id, "text": ref.text, "doc_type": ref.doc_type, "trust_type": ref.trust_type,
            "kloe": kloe, "qs": qs, "evidence": [], "source": ref.source,
        })
        result.prodigy.append({
            "text": ref.text,
            "accept": list(labels),
            "answer": "accept",
            "meta": {
                "id": record_id, "run": run_id, "passage_id": pid, "source": ref.source,
                "doc_type": ref.doc_type, "trust_type": ref.trust_type, "annotators": sorted(by_user),
                "not_evidence": not labels and any(v.not_evidence for v in by_user.values()),
            },
        })
    return result


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Write records one JSON object a line (atomically); return how many."""
    from pipeline.outputs import atomic_write_text

    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in records]
    atomic_write_text(Path(path), "".join(lines))
    return len(lines)


# ------------------------------------------------------------------ workbook
CORRECTION_COLUMNS = ("correction_add", "correction_remove", "not_evidence", "reviewer", "comment")


def _split_ids(value: Any) -> list[str]:
    if value is None:
        return []
    parts = re.split(r"[,;\s]+", str(value))
    return [p for p in (x.strip() for x in parts) if p]


def _model_ids(value: Any) -> list[str]:
    """'W5 (0.62), W3 (0.51)' -> ['W5', 'W3']."""
    if value is None:
        return []
    return [m.group(1) for m in re.finditer(r"([A-Za-z0-9][A-Za-z0-9.-]*)\s*(?:\([^)]*\))?", str(value))]


def read_corrections(
    path: str | Path,
    *,
    run_id: str,
    passages: Mapping[str, PassageRef] | None = None,
    reviewer: str | None = None,
    library: Library | None = None,
    sheet: str = "Excerpts",
) -> CorrectionImport:
    """Label events from the corrections columns of a coverage workbook's Excerpts sheet.

    Per row: ``correction_add`` ids become ``add`` events (``accept`` when the
    model had tagged it), ``correction_remove`` ids ``reject``, a yes/x/1 in
    ``not_evidence`` a not-evidence mark; a row with only a ``reviewer``
    accepts the model's tags. The reviewer named in the row is recorded
    (``reviewer`` is the fallback); the comment is kept with each event.

    Args:
        path: the workbook (``coverage.xlsx`` filled in offline).
        run_id: the run the workbook belongs to.
        passages: the run's passages by id; when given, rows must name one of
            them and the stored snapshot comes from the run, not the sheet.
        reviewer: name recorded for rows that leave ``reviewer`` empty.
    """
    import openpyxl

    library = library or load_library()
    fw_of = _area_frameworks(library)
    by_lower = {a.lower(): a for a in fw_of}
    out = CorrectionImport()
    file = Path(path)
    try:
        wb = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a bad file
        raise CorpusError(f"{file}: cannot read the workbook ({exc})") from exc
    try:
        if sheet not in wb.sheetnames:
            raise CorpusError(f"{file}: no sheet named {sheet!r} (found: {', '.join(wb.sheetnames)})")
        rows = wb[sheet].iter_rows(values_only=True)
        header = [str(h or "").strip().lower() for h in next(rows, ())]
        if "passage_id" not in header or not any(c in header for c in CORRECTION_COLUMNS[:3]):
            raise CorpusError(f"{file}: sheet {sheet!r} needs a passage_id column and at least one of "
                              f"{', '.join(CORRECTION_COLUMNS[:3])}")
        col = {name: i for i, name in enumerate(header)}

        def cell(row: tuple[Any, ...], name: str) -> Any:
            i = col.get(name)
            return row[i] if i is not None and i < len(row) else None

        for n, row in enumerate(rows, start=2):
            if not row or all(v is None or str(v).strip() == "" for v in row):
                continue
            out.rows_read += 1
            pid = str(cell(row, "passage_id") or "").strip()
            adds_raw, removes_raw = _split_ids(cell(row, "correction_add")), _split_ids(cell(row, "correction_remove"))
            flag = str(cell(row, "not_evidence") or "").strip().lower()
            not_evidence = flag in TRUE_WORDS
            who = str(cell(row, "reviewer") or "").strip() or (reviewer or "")
            comment = str(cell(row, "comment") or "").strip()
            has_reviewer_cell = bool(str(cell(row, "reviewer") or "").strip())
            if not (adds_raw or removes_raw or not_evidence or has_reviewer_cell):
                continue  # not reviewed
            where = f"{file.name} row {n}"
            if not pid:
                out.problems.append(f"{where}: no passage_id")
                continue
            if flag and not not_evidence and flag not in ("no", "n", "0", "false", "-"):
                out.problems.append(f"{where}: not_evidence must be yes or no, got {flag!r}")
                continue
            if not who:
                out.problems.append(f"{where}: corrections without a reviewer (fill in the reviewer column)")
                continue
            if not USER_NAME.match(who):
                who = re.sub(r"[^A-Za-z0-9._@-]+", ".", who).strip(".")[:64] or "reviewer"
            unknown = [x for x in adds_raw + removes_raw if x.lower() not in by_lower]
            if unknown:
                out.problems.append(f"{where}: {', '.join(unknown)} not an area id (W1-W8 or a quality statement id)")
                continue
            adds = [by_lower[x.lower()] for x in adds_raw]
            removes = [by_lower[x.lower()] for x in removes_raw]
            if set(adds) & set(removes):
                out.problems.append(f"{where}: {', '.join(sorted(set(adds) & set(removes)))} both added and removed")
                continue
            if not_evidence and adds:
                out.problems.append(f"{where}: marked not evidence but also adds {', '.join(adds)}")
                continue
            if passages is not None:
                ref = passages.get(pid)
                if ref is None:
                    out.problems.append(f"{where}: passage {pid!r} is not in run {run_id!r}")
                    continue
            else:
                model = [x for x in _model_ids(cell(row, "kloe")) + _model_ids(cell(row, "qs")) if x in fw_of]
                ref = PassageRef(run_id, pid, str(cell(row, "text") or ""), str(cell(row, "doc_type") or "other"),
                                 f"{run_id}/{cell(row, 'source_path') or ''}", "unknown", tuple(model))
            via = f"xlsx:{file.name}"
            base = {"passage": ref, "user": who, "via": via, "comment": comment}
            if not (adds or removes or not_evidence):
                out.events.extend({**base, "action": "accept", "label": x} for x in ref.model_labels)
            out.events.extend({**base, "action": "accept" if x in ref.model_labels else "add", "label": x}
                              for x in adds)
            out.events.extend({**base, "action": "reject", "label": x} for x in removes)
            if not_evidence:
                out.events.append({**base, "action": "not_evidence", "label": PASSAGE_LABEL})
            out.rows_used += 1
    finally:
        wb.close()
    return out


# ---------------------------------------------------------------- uncertainty
def uncertainty(scores: Mapping[str, Mapping[str, float]]) -> tuple[float, str, float]:
    """(margin, label, score) of the label whose calibrated score is closest to 0.5."""
    best = (1.0, "", 0.0)
    for fw_scores in scores.values():
        for label, p in fw_scores.items():
            margin = abs(float(p) - 0.5)
            if margin < best[0] or (margin == best[0] and label < best[1]):
                best = (margin, label, float(p))
    return best


def suggest_passages(tag_rows: Iterable[Mapping[str, Any]], exclude: Iterable[str] = (), n: int = 25,
                     skip: Iterable[str] = ()) -> list[Suggestion]:
    """Uncertainty sampling: the ``n`` passages whose most uncertain label is closest to 0.5.

    Args:
        tag_rows: tags.jsonl lines (``{"id", ..., "scores": {fw: {label: p}}}``).
        exclude: passage ids already decided (by this user).
        n: how many to return.
        skip: more passage ids to leave out (e.g. repeated passages).
    """
    excluded = set(exclude) | set(skip)
    cands = []
    for row in tag_rows:
        pid = str(row.get("id") or row.get("passage_id"))
        scores = row.get("scores") or {}
        if pid in excluded or not scores:
            continue
        margin, label, score = uncertainty(scores)
        if label:
            cands.append(Suggestion(pid, label, round(score, 4), round(margin, 4)))
    return heapq.nsmallest(n, cands, key=lambda s: (s.margin, s.passage_id))
