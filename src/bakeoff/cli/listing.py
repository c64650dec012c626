"""``bakeoff tasks``, ``bakeoff models`` and ``bakeoff methods``: what can be run."""

from __future__ import annotations

from rich.table import Table

from bakeoff.cli.app import app, console


@app.command()
def tasks() -> None:
    """List built-in tasks."""
    from bakeoff.tasks import BUILTIN_TASKS

    table = Table(title="Built-in tasks")
    for col in ("task", "inputs", "labels", "description"):
        table.add_column(col)
    for spec in BUILTIN_TASKS.values():
        note = f" [dim]({spec.local.note})[/]" if spec.local and spec.local.note else ""
        table.add_row(
            spec.name,
            " + ".join(spec.text_fields),
            ", ".join(spec.label_names),
            spec.description + note,
        )
    console.print(table)


@app.command()
def models() -> None:
    """List model aliases and the methods each runs (any hub id, folder or .gguf file works too)."""
    from bakeoff.methods import method_specs
    from bakeoff.models import MODEL_ALIASES

    specs = method_specs().values()
    table = Table(title="Model aliases")
    for col in ("alias", "kind", "methods", "offline", "what"):
        table.add_column(col)
    for spec in MODEL_ALIASES.values():
        methods = ", ".join(m.name for m in specs if spec.kind in m.model_kinds)
        table.add_row(
            spec.alias, spec.kind, methods, "yes" if spec.offline else "hub", spec.description
        )
    console.print(table)


@app.command()
def methods() -> None:
    """List methods: what each does, the models it runs on and its grid settings section."""
    from bakeoff.methods import method_specs

    table = Table(title="Methods")
    for col in ("method", "family", "models", "settings", "what"):
        table.add_column(col)
    for spec in method_specs().values():
        fields = ", ".join(spec.settings_model.model_fields)
        table.add_row(
            spec.name,
            spec.family,
            ", ".join(spec.model_kinds),
            f"{spec.settings_section}: {fields}",
            spec.description,
        )
    console.print(table)
