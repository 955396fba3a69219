"""Prefect settings wellled needs, applied before prefect is imported.

* No network: analytics off (the telemetry call fails and logs errors here).
* The temporary (ephemeral) API server takes 7-20 s to start on these
  machines against Prefect's default 20 s start-up timeout: raise it.
* Keep Prefect's own logs quiet on the command line unless asked.

* Ephemeral mode only (no ``PREFECT_API_URL``): the temporary server does
  not record task runs (``PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED``).
  That server lives for one run, with no UI, and the run's own record is
  ``run.json`` and the manifest; the flow reads task states from its own
  futures, never from the server. Recording costs ~6 ms of server CPU per
  task state change, taken from the file workers on a two-core machine: on
  the sample pack that was a third of Prefect's CPU cost per document
  (``benchmarks/RESULTS-flows.md``). Flow runs, logs and artifacts are still
  recorded. With a real server (``PREFECT_API_URL``) nothing here applies:
  that server records everything by its own settings.

Values already set in the environment win, so a user can point the same
flows at a Prefect server (``PREFECT_API_URL``) without code changes, or set
the recorder back on.
"""

from __future__ import annotations

import os

DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_TASKS_REFRESH_CACHE": "false",
    "DO_NOT_TRACK": "1",
}


#: Set only when no Prefect server is configured (the temporary server of one run).
EPHEMERAL_DEFAULTS = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",
}

#: The keys :func:`apply` set itself (not the user's values).
APPLIED: dict[str, str] = {}


def apply() -> None:
    """Set each default unless the environment already has a value."""
    defaults = dict(DEFAULTS)
    if not os.environ.get("PREFECT_API_URL"):
        defaults.update(EPHEMERAL_DEFAULTS)
    for key, value in defaults.items():
        if key not in os.environ:
            os.environ[key] = value
            APPLIED[key] = value


apply()
