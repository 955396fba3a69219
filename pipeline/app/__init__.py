"""The inspector review app: read a run's excerpts, correct its tags, export the labels.

``create_app(AppSettings(runs_dir=...))`` gives a FastAPI app; ``wellled app``
serves it with uvicorn. See :mod:`pipeline.app.web` for the pages and
:mod:`pipeline.labels` for where decisions are kept.
"""

from pipeline.app.settings import AppSettings
from pipeline.app.web import create_app

__all__ = ["AppSettings", "create_app"]
