"""Prefect settings wellled needs, applied before prefect is imported.

* No network: analytics off (the telemetry call fails and logs errors here).
* The temporary (ephemeral) API server takes 7-20 s to start on these
  machines against Prefect's default 20 s start-up timeout: raise it.
* Keep Prefect's own logs quiet on the command line unless asked.

Values already set in the environment win, so a user can point the same
flows at a Prefect server (``PREFECT_API_URL``) without code changes.
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


def apply() -> None:
    """Set each default unless the environment already has a value."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


apply()
