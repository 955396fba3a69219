"""`wellled watch` (scheduled review of uploads) and `wellled retrain`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console(stderr=True)

_EVERY = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


def parse_every(text: str) -> int:
    """'10m' -> 600 seconds; plain numbers are seconds."""
    m = _EVERY.match(text or "")
    if not m:
        raise typer.BadParameter(f"--every takes a number with s, m, h or d (e.g. 10m), got {text!r}")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:  # loopback only
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def server_env(home: Path) -> dict[str, str]:
    """The environment of the local server ``--every`` starts: this one's, with its own home.

    The defaults :mod:`flows.settings` set for a run's temporary server (no
    task-run recording) are taken out: a served deployment's server records
    task runs, unless the user set otherwise.
    """
    from flows import settings

    env = dict(os.environ)
    for key in settings.EPHEMERAL_DEFAULTS:
        if key in settings.APPLIED:
            env.pop(key, None)
    env.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_UI_ENABLED": "false", "PREFECT_API_URL": ""})
    return env


def start_local_server(home: Path) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` (SQLite, loopback) and return (process, API URL)."""
    port = _free_port()
    env = server_env(home)
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "server.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    if not _wait_healthy(url, 120):
        proc.terminate()
        raise RuntimeError(f"the local Prefect server did not start within 120 s (see {home / 'server.log'})")
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def register(app: typer.Typer) -> None:
    @app.command()
    def watch(
        inbox: Annotated[Path, typer.Argument(help="Folder trusts upload into: INBOX/<trust>/<upload>/.")],
        outbox: Annotated[Path, typer.Option(help="Where each upload's review goes: OUTBOX/<trust>/<upload>/.")],
        every: Annotated[str, typer.Option(help="Schedule, e.g. 10m, 1h (needs a Prefect server: a local one is "
                                           "started if none is configured).")] = "10m",
        once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit (for cron and tests).")] = False,
        settle: Annotated[int, typer.Option(help="Seconds an upload must be unchanged to count as complete "
                                            "(a marker file UPLOAD_COMPLETE counts at once).")] = 60,
        model: Annotated[Optional[Path], typer.Option(help="Model folder (default: models/DEFAULT).")] = None,
    ) -> None:
        """Review every complete upload that is new or changed, once or on a schedule."""
        from flows.watch import watch_uploads

        if not inbox.is_dir():
            console.print(f"[bold red]error:[/] {inbox}: no such folder")
            raise typer.Exit(code=1)
        params = {"inbox": str(inbox.resolve()), "outbox": str(outbox.resolve()), "settle_seconds": float(settle),
                  "model_dir": str(model.resolve()) if model else None}
        if once:
            result = watch_uploads(**params)
            console.print(json.dumps({k: result[k] for k in ("reviewed", "waiting", "skipped", "failed")}, indent=1))
            raise typer.Exit(code=1 if result["failed"] else 0)
        seconds = parse_every(every)
        from prefect.settings import PREFECT_API_URL, temporary_settings

        proc = None
        url = PREFECT_API_URL.value()
        if not url:
            console.print("no Prefect server configured (PREFECT_API_URL): starting a local one (SQLite)...")
            proc, url = start_local_server(outbox.resolve() / ".prefect-server")
            console.print(f"local Prefect server at {url}")
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}):
                watch_uploads.serve(name="watch-uploads", interval=seconds, parameters=params)
        finally:
            if proc is not None:
                stop_server(proc)
                console.print("stopped the local Prefect server")

    @app.command()
    def retrain(
        labels: Annotated[Optional[list[Path]], typer.Argument(help="New labelled JSONL files (e.g. exported "
                                                               "from the review app).")] = None,
        corpus: Annotated[Optional[Path], typer.Option(help="Committed corpus (default: corpus_samples/labelled).")] = None,
        models_dir: Annotated[Optional[Path], typer.Option(help="Models folder (default: models/).")] = None,
        force: Annotated[bool, typer.Option("--force", help="Promote even if the new model is worse.")] = False,
    ) -> None:
        """Train a new model version on corpus + new labels; promote it only if it is not worse."""
        from flows.retrain import retrain as retrain_flow

        result = retrain_flow(labels=[str(p) for p in labels or []], corpus=str(corpus) if corpus else None,
                              models_dir=str(models_dir) if models_dir else None, force=force)
        Console().print(result["markdown"])
        console.print(f"model written to {result['model']}")
