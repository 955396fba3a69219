"""No stage opens a network connection outside loopback (issue 9).

Every Python process of a real `wellled review` run (the CLI, Prefect's local
server, the per-file worker processes) gets an audit hook through
``sitecustomize`` that records each socket connect and name lookup; the test
fails if any of them leaves the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_flows import write_pack

HOOK = r'''
import os, sys

_LOG = os.environ.get("WELLLED_NET_LOG")
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")


def _is_local(host):
    if not isinstance(host, str):
        return True
    return host == "" or host.startswith(_LOCAL) or host.startswith("/")


def _hook(event, args):
    if not _LOG:
        return
    host = None
    if event == "socket.connect":
        addr = args[1]
        host = addr[0] if isinstance(addr, tuple) else addr
    elif event in ("socket.getaddrinfo", "socket.gethostbyname"):
        host = args[0]
    if host is not None and not _is_local(host if isinstance(host, str) else str(host)):
        with open(_LOG, "a") as fh:
            fh.write(f"{os.getpid()} {event} {host}\n")


sys.addaudithook(_hook)
'''


def test_review_opens_no_socket_outside_loopback(tmp_path):
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    log = tmp_path / "net.log"
    pack = write_pack(tmp_path / "pack")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hook_dir), env.get("PYTHONPATH", "")])
    env["WELLLED_NET_LOG"] = str(log)
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env.pop("PREFECT_API_URL", None)
    wellled = Path(sys.executable).parent / "wellled"
    proc = subprocess.run([str(wellled), "review", str(pack), "--out", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "out" / "report.html").is_file()
    # the broken file is named once, with its reason, in the summary; Prefect's own copies stay off the terminal
    assert proc.stderr.count("Broken paper.pdf") == 1, proc.stderr[-3000:]
    assert "could not read Broken paper.pdf:" in " ".join(proc.stderr.split())
    assert "prefect.task_runs" not in proc.stderr and "prefect.flow_runs" not in proc.stderr
    # the hook really ran in the child processes: a deliberate outside lookup is recorded
    probe = subprocess.run([sys.executable, "-c", "import socket\ntry:\n socket.getaddrinfo('example.org', 443)\n"
                            "except OSError:\n pass"], env=env, timeout=60)
    assert probe.returncode == 0
    lines = log.read_text().splitlines() if log.exists() else []
    outside = [line for line in lines if "example.org" not in line]
    assert any("example.org" in line for line in lines), "the audit hook did not run"
    assert outside == [], f"network use outside loopback: {outside}"
