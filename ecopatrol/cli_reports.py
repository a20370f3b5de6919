"""``ecopatrol reports …``: partners' spreadsheets of sighting reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

reports_app = typer.Typer(help="Sighting reports (举报线索)", no_args_is_help=True)

MAX_LISTED = 500


@reports_app.callback()
def _reports() -> None:
    """Sighting reports (举报线索): import partners' spreadsheets."""


@reports_app.command("import")
def reports_import(
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8 or GBK; English or Chinese headers)")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check every row and list the problems; import nothing")
    ] = False,
    org: Annotated[str | None, typer.Option(help="the partner organisation the reports belong to")] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="import the valid rows even when others have problems")
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", help="config.toml")] = None,
) -> None:
    """Import reports from a CSV file; with any bad row nothing is imported (unless --skip-bad)."""
    from ecopatrol.cli import _runtime, fail
    from ecopatrol.reports.csv_import import CsvImportError, import_reports_csv

    if not file.exists():
        raise fail(f"{file}: no such file")
    runtime = _runtime(config)
    try:
        result = import_reports_csv(runtime, file, dry_run=dry_run, org=org, skip_bad=skip_bad)
    except CsvImportError as exc:
        raise fail(f"{file}: {exc}") from None
    finally:
        runtime.close()
    for problem in result.problems[:MAX_LISTED]:
        typer.echo(f"{file.name}: {problem}", err=True)
    if len(result.problems) > MAX_LISTED:
        typer.echo(f"… and {len(result.problems) - MAX_LISTED} more problems", err=True)
    for line in result.lines():
        typer.echo(line)
    if result.problems and not (skip_bad and result.imported):
        raise typer.Exit(1)
