"""``wellled framework``: list, show and export the well-led framework library.

Commands call :mod:`pipeline.framework`; a :class:`FrameworkError` becomes a
red message on stderr and exit code 1.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from pipeline.errors import FrameworkError
from pipeline.framework import (
    Area,
    EvidenceItem,
    Framework,
    Library,
    Reference,
    VocabTerm,
    default_framework_dir,
    load_library,
    schema_documents,
    write_schemas,
)

app = typer.Typer(help="Show the well-led frameworks (2018 KLOEs and quality statements) and export them.", no_args_is_help=True)

FrameworkDir = Annotated[
    Path | None,
    typer.Option(
        "--framework-dir",
        help="Directory of framework YAML files (default: $WELLLED_FRAMEWORK_DIR or <repo>/framework).",
        file_okay=False,
    ),
]


class ExportFormat(str, Enum):
    """Formats ``framework export`` writes."""

    json = "json"
    yaml = "yaml"


def register(root: typer.Typer) -> None:
    """Add the ``framework`` command group to the root CLI."""
    root.add_typer(app, name="framework")


def _out() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True, highlight=False).print(f"[bold red]Framework error[/bold red]\n{escape(str(exc))}")
    return typer.Exit(code=1)


def _load(framework_dir: Path | None) -> Library:
    try:
        return load_library(framework_dir)
    except FrameworkError as exc:
        raise _fail(exc) from None


def _scope(scope: tuple[str, ...]) -> str:
    return f" [magenta]({', '.join(scope)} only)[/magenta]" if scope else ""


# --------------------------------------------------------------------------- #
# list
# --------------------------------------------------------------------------- #


@app.command("list")
def list_(framework_dir: FrameworkDir = None) -> None:
    """List every framework and its areas with counts and crosswalk links."""
    lib = _load(framework_dir)
    console = _out()
    console.print(
        f"[bold]Framework library[/bold] {escape(lib.version)}  "
        f"({len(lib.frameworks)} frameworks, {len(lib.crosswalk)} crosswalk links, "
        f"{len(lib.vocabulary)} vocabulary terms)  {escape(str(lib.path))}"
    )
    for fw in lib.frameworks.values():
        console.print(_areas_table(lib, fw))


def _areas_table(lib: Library, fw: Framework) -> Group:
    """Areas of one framework, one block each: id, title, counts, linked areas."""
    lines: list[Any] = [Text.from_markup(f"\n[bold]{escape(fw.id)}[/bold]: {escape(fw.title)}")]
    for area in fw.areas:
        counted = (("prompts", len(area.prompts)), ("guidance", len(area.guidance)), ("key evidence", len(area.evidence_items())))
        counts = ", ".join(f"{n} {label}" for label, n in counted if n)
        lines.append(Text.from_markup(f"  [bold cyan]{escape(area.id)}[/bold cyan]  {escape(area.title)}  [dim]({counts})[/dim]"))
        links = sorted(lib.links(area.id), key=lambda link: link.strength != "primary")
        linked = [
            f"{(link.qs if link.kloe == area.id else link.kloe) or '(no counterpart)'} ({link.strength})" for link in links
        ]
        lines.append(Padding(Text("<-> " + ("; ".join(linked) or "no crosswalk links")), (0, 0, 0, 4)))
    return Group(*lines)


# --------------------------------------------------------------------------- #
# show
# --------------------------------------------------------------------------- #


@app.command()
def show(
    item_id: Annotated[str, typer.Argument(metavar="ID", help="A framework, area (W3, freedom-to-speak-up), prompt, guidance, key-evidence or term id.")],
    full: Annotated[bool, typer.Option("--full", help="Also show references, resources, what good looks like and further detail.")] = False,
    framework_dir: FrameworkDir = None,
) -> None:
    """Show one framework, area, prompt, guidance question, key-evidence item or vocabulary term."""
    lib = _load(framework_dir)
    try:
        kind, obj = lib.resolve(item_id)
    except FrameworkError as exc:
        raise _fail(exc) from None
    console = _out()
    if kind == "framework":
        _show_framework(console, lib, obj)
    elif kind == "area":
        _show_area(console, lib, obj, full=full)
    elif kind == "evidence":
        _show_evidence(console, lib, obj)
    elif kind == "term":
        _show_term(console, obj)
    else:  # prompt or guidance question
        console.print(f"[bold cyan]{escape(obj.id)}[/bold cyan] ({kind} in {escape(str(obj.area_id))}){_scope(obj.scope)}")
        console.print(escape(obj.text))
        for sub in getattr(obj, "items", ()):
            console.print(f"  - {escape(sub)}")
        if getattr(obj, "derived_from", None):
            console.print(f"[dim]Derived from: {escape(obj.derived_from)} (our reading, not the seed's words)[/dim]")
        for line in (obj.scope_note, obj.note):
            if line:
                console.print(f"[dim]{escape(line)}[/dim]")
        links = [link for link in lib.crosswalk if obj.id in link.prompts]
        if links:
            console.print("Crosswalk: " + escape(", ".join(f"{link.kloe} ~ {link.qs} ({link.strength})" for link in links)))


def _show_framework(console: Console, lib: Library, fw: Framework) -> None:
    console.print(Panel(escape(fw.description), title=f"{escape(fw.id)}: {escape(fw.title)}", title_align="left"))
    console.print(f"Version {escape(fw.version)}; source {escape(fw.source)}")
    console.print(_areas_table(lib, fw))
    if fw.interviews is not None:
        for label, items in (("Key interviews", fw.interviews.key), ("Other interviews", fw.interviews.other)):
            if items:
                console.print(f"[bold]{label}[/bold]: " + escape("; ".join(i.text + (f" ({', '.join(i.scope)} only)" if i.scope else "") for i in items)))


def _evidence_tree(items: tuple[EvidenceItem, ...], tree: Tree) -> Tree:
    for item in items:
        extra = f" [dim]({item.kind})[/dim]"
        if item.derived_from:
            extra += f" [dim]derived from {escape(item.derived_from)}[/dim]"
        branch = tree.add(f"[cyan]{escape(item.id)}[/cyan]  {escape(item.text)}{extra}{_scope(item.scope)}")
        _evidence_tree(item.children, branch)
    return tree


def _references(tree: Tree, refs: tuple[Reference, ...]) -> None:
    for ref in refs:
        label = escape(ref.title) + (f" [dim]{escape(ref.detail)}[/dim]" if ref.detail else "")
        _references(tree.add(label), ref.children)


def _show_area(console: Console, lib: Library, area: Area, *, full: bool) -> None:
    head = [f"[bold]{'We statement' if area.we_statement else 'Key line of enquiry'}:[/bold] {escape(area.question)}"]
    head.append(f"[bold]Report sub-heading:[/bold] {escape(area.report_subheading)}")
    if area.note:
        head.append(f"[dim]{escape(area.note)}[/dim]")
    console.print(
        Panel(
            "\n".join(head),
            title=f"{escape(area.id)}  {escape(area.title)}  [dim]({escape(str(area.framework_id))})[/dim]",
            title_align="left",
        )
    )

    if full and area.what_good_looks_like:
        console.print("[bold]What good looks like[/bold]")
        for block in area.what_good_looks_like:
            console.print(escape(block.text))
            for item in block.items:
                console.print(f"  - {escape(item)}")

    if area.prompts:
        derived = any(p.derived for p in area.prompts)
        title = "Prompts" + (" (derived from what good looks like: our reading)" if derived else "")
        table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for prompt in area.prompts:
            table.add_row(escape(prompt.id), escape(prompt.text) + _scope(prompt.scope))
        console.print(table)

    if area.guidance:
        table = Table(title="Trust-level guidance", title_justify="left", show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for question in area.guidance:
            text = escape(question.text) + "".join(f"\n  - {escape(i)}" for i in question.items)
            table.add_row(escape(question.id), text + _scope(question.scope))
        console.print(table)

    if area.key_evidence:
        console.print(_evidence_tree(area.key_evidence, Tree("[bold]Key evidence[/bold]")))

    console.print("[bold]Crosswalk[/bold]")
    links = lib.links(area.id)
    for link in links:
        other = link.qs if link.kloe == area.id else link.kloe
        prompts = f"; {', '.join(link.prompts)}" if link.prompts else ""
        console.print(f"  [bold cyan]{escape(other or '(no counterpart)')}[/bold cyan] ({link.strength}{escape(prompts)})")
        console.print(Padding(Text(link.rationale), (0, 0, 0, 4)))
    if not links:
        console.print("  (no links)")

    if area.regulations:
        console.print(
            "[bold]Regulations:[/bold] "
            + escape("; ".join(r.label + (" (may also consider)" if r.relationship == "may_also_consider" else "") for r in area.regulations))
        )
    terms = lib.terms_for(area.id)
    console.print(f"[bold]Vocabulary terms:[/bold] {len(terms)} (e.g. {escape(', '.join(t.canonical for t in terms[:6]))})" if terms else "[bold]Vocabulary terms:[/bold] none")

    if full:
        if area.references:
            tree = Tree("[bold]Professional standards and good practice references[/bold]")
            _references(tree, area.references)
            console.print(tree)
        if area.resources:
            tree = Tree("[bold]Best practice / guidance[/bold]")
            for group in area.resources:
                _references(tree.add(escape(group.title)), group.items)
            console.print(tree)
        for section in area.further_detail:
            console.print(f"[bold]{escape(section.title)}[/bold]")
            for block in section.blocks:
                console.print(escape(block.text))
                for item in block.items:
                    console.print(f"  - {escape(item)}")


def _show_evidence(console: Console, lib: Library, item: EvidenceItem) -> None:
    console.print(f"[bold cyan]{escape(item.id)}[/bold cyan]  {escape(item.text)}{_scope(item.scope)}")
    console.print(f"Area {escape(str(item.area_id))}; kind {item.kind}" + (f"; parent {escape(item.parent)}" if item.parent else ""))
    for line in (item.derived_from and f"Derived from: {item.derived_from}", item.scope_note, item.note):
        if line:
            console.print(f"[dim]{escape(line)}[/dim]")
    if item.children:
        console.print(_evidence_tree(item.children, Tree("Sub-items")))
    terms = lib.terms_for(item.id)
    console.print("Signalled by: " + (escape(", ".join(t.canonical for t in terms)) if terms else "no vocabulary terms"))


def _show_term(console: Console, term: VocabTerm) -> None:
    table = Table(title=f"Term {escape(term.id)}", title_justify="left", show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("Canonical", escape(term.canonical))
    table.add_row("Phrases", escape(", ".join(term.phrases) or "-"))
    table.add_row("Acronyms", escape(", ".join(term.acronyms) or "-"))
    table.add_row("Areas", escape(", ".join(term.areas)))
    table.add_row("Evidence", escape(", ".join(term.evidence) or "-"))
    table.add_row("Document types", escape(", ".join(d.value for d in term.doc_types) or "-"))
    if term.note:
        table.add_row("Note", escape(term.note))
    console.print(table)


# --------------------------------------------------------------------------- #
# export and schema
# --------------------------------------------------------------------------- #


@app.command()
def export(
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")] = ExportFormat.json,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.", dir_okay=False)] = None,
    framework_dir: FrameworkDir = None,
) -> None:
    """Print the whole library as JSON or YAML: a list of frameworks with their areas."""
    lib = _load(framework_dir)
    data: list[dict[str, Any]] = lib.to_export()
    if format is ExportFormat.json:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        text = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        Console(stderr=True).print(f"Wrote {escape(str(output))}")


@app.command()
def schema(
    check: Annotated[bool, typer.Option("--check", help="Only check that the exported schema files are current.")] = False,
    directory: Annotated[Path | None, typer.Option("--dir", help="Where the schema files live (default: <framework dir>/schema).", file_okay=False)] = None,
) -> None:
    """Write (or check) the JSON Schema files exported from the pydantic models."""
    target = directory or default_framework_dir() / "schema"
    if check:
        stale = []
        for name, doc in schema_documents().items():
            path = target / name
            current = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
            if not path.exists() or path.read_text(encoding="utf-8") != current:
                stale.append(name)
        if stale:
            raise _fail(FrameworkError(f"{target}: schema files out of date: {', '.join(stale)}; run 'wellled framework schema'"))
        _out().print(f"Schema files in {escape(str(target))} are current.")
        return
    for path in write_schemas(target):
        _out().print(f"Wrote {escape(str(path))}")
