"""The `wellled` command line: one Typer app; commands call the library or flows."""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
    name="wellled",
    help="Read an NHS trust's well-led pack and show where its evidence is strong, thin or missing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Each module registers its commands on `app`. Add a module here to add commands.
COMMAND_MODULES = [
    "flows.commands.framework",
    "flows.commands.extract",
    "flows.commands.corpus",
    "flows.commands.model",
    "flows.commands.review",
    "flows.commands.watch",
    "flows.commands.app",
]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # the module is not written yet
                continue
            raise
        module.register(app)


@app.command()
def version() -> None:
    """Print the wellled version."""
    from importlib.metadata import version as _v

    typer.echo(_v("wellled"))


_register_all()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
