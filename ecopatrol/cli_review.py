"""``ecopatrol map`` and ``ecopatrol export``: the commander's review from the command line.

Registered on the main app with ``register(app)``: ``map`` writes the coverage map as ONE standalone
HTML file (Leaflet and its plugins inlined: it opens from disk with no server and no internet);
``export`` writes the GeoPackage (or GeoJSON / CSV files) analysts open in QGIS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="config.toml (default: ECOPATROL_CONFIG or the project's config.toml)"),
]


def map_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="the HTML file to write")],
    since: Annotated[str, typer.Option(help="window: 24h, 7d, 30d or an ISO-8601 time")] = "7d",
    township: Annotated[str | None, typer.Option(help="only this township")] = None,
    squad: Annotated[str | None, typer.Option(help="only this squad's patrols (id or name)")] = None,
    mode: Annotated[str | None, typer.Option(help="only vehicle | foot | boat patrols")] = None,
    lang: Annotated[str, typer.Option(help="zh | en (the page has a switch)")] = "zh",
    metric: Annotated[str, typer.Option(help="forest cells shaded by hours | km")] = "hours",
    fixes: Annotated[bool, typer.Option("--fixes", help="also draw the GPS fixes")] = False,
    config: ConfigOpt = None,
) -> None:
    """Write the coverage map as a standalone HTML file (opens from disk, no internet needed)."""
    from ecopatrol.cli import _runtime, fail
    from ecopatrol.maps_service import build_coverage_map
    from ecopatrol.review_data import ReviewQueryError

    if mode is not None and mode not in ("vehicle", "foot", "boat"):
        raise fail(f"--mode must be vehicle, foot or boat, got {mode!r}")
    if lang not in ("zh", "en"):
        raise fail(f"--lang must be zh or en, got {lang!r}")
    if metric not in ("hours", "km"):
        raise fail(f"--metric must be hours or km, got {metric!r}")
    runtime = _runtime(config)
    try:
        page = build_coverage_map(
            runtime,
            since,
            township=township,
            squad=squad,
            mode=mode,
            lang=lang,
            assets="inline",
            include_fixes=fixes,
            cell_metric=metric,
        )  # type: ignore[arg-type]
    except ReviewQueryError as exc:
        raise fail(str(exc)) from None
    finally:
        runtime.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    typer.echo(f"map: {output} ({len(page.encode('utf-8')) / 1e6:.2f} MB, since {since})")


def export_command(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="gpkg: the file; geojson/csv: a folder, or a .zip")
    ],
    fmt: Annotated[str, typer.Option("--format", help="gpkg | geojson | csv")] = "gpkg",
    since: Annotated[
        str | None, typer.Option(help="window: 24h, 7d, 30d or ISO-8601 (default: everything stored)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Export fixes, tracks, reaches and cells with their coverage, reports and alerts (QGIS-ready)."""
    from ecopatrol.cli import _runtime, fail
    from ecopatrol.export_service import FORMATS, ExportError, export

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    runtime = _runtime(config)
    try:
        summary = export(runtime, fmt, output, since)  # type: ignore[arg-type]
    except ExportError as exc:
        raise fail(str(exc)) from None
    finally:
        runtime.close()
    for line in summary.lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add ``map`` and ``export`` to the main command line."""
    app.command("map")(map_command)
    app.command("export")(export_command)
