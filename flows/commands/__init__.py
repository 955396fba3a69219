"""Command groups of the `wellled` command line, one module a group.

Each module defines ``register(app: typer.Typer) -> None``.
"""
