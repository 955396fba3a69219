"""Prefect flows and the `wellled` command line: orchestration only.

Every step calls a function in :mod:`pipeline`; nothing here reads a file
format, tags a passage or computes coverage itself.
"""
