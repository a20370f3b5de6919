"""The ``ecopatrol`` command line (typer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ecopatrol.config import ConfigError, load_settings
from ecopatrol.runtime import Runtime, build_runtime

app = typer.Typer(help="ecopatrol — 生态警务巡护与预警 / ecological-policing patrols and alerts",
                  no_args_is_help=True, pretty_exceptions_enable=False)
units_app = typer.Typer(help="Patrol units and their devices", no_args_is_help=True)
layers_app = typer.Typer(help="River, forest, township and zone layers", no_args_is_help=True)
tracks_app = typer.Typer(help="Patrol track files", no_args_is_help=True)
app.add_typer(units_app, name="units")
app.add_typer(layers_app, name="layers")
app.add_typer(tracks_app, name="tracks")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="config.toml (default: ECOPATROL_CONFIG "
                                                "or the project's config.toml)")]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _runtime(config: Path | None) -> Runtime:
    try:
        return build_runtime(load_settings(config))
    except ConfigError as exc:
        raise fail(str(exc)) from None


@app.command()
def serve(host: Annotated[str | None, typer.Option()] = None,
          port: Annotated[int | None, typer.Option()] = None,
          workers: Annotated[int, typer.Option(min=1, max=64, help="API processes on this address "
                                               "(PostgreSQL only)")] = 1,
          config: ConfigOpt = None) -> None:
    """Run the HTTP server (API, phone page, forms, maps) and the scheduler."""
    from ecopatrol.server import run_server

    runtime = _runtime(config)
    try:
        run_server(runtime, host=host, port=port, workers=workers)
    except ValueError as exc:
        raise fail(str(exc)) from None


@app.command()
def demo(host: Annotated[str | None, typer.Option()] = None,
         port: Annotated[int | None, typer.Option()] = None,
         no_serve: Annotated[bool, typer.Option("--no-serve", help="seed only")] = False,
         days: Annotated[float, typer.Option(help="days of simulated patrols")] = 7.0,
         config: ConfigOpt = None) -> None:
    """Seed the synthetic demo county (layers, units, squads, patrols, reports), then serve."""
    from ecopatrol.demo import seed_demo

    runtime = _runtime(config)
    summary = seed_demo(runtime, days=days, echo=lambda m: typer.echo(m, err=True))
    for line in summary:
        typer.echo(line)
    if not no_serve:
        from ecopatrol.server import run_server

        run_server(runtime, host=host, port=port)


@app.command()
def simulate(unit: Annotated[list[str] | None, typer.Option(help="only these units")] = None,
             days: Annotated[float, typer.Option()] = 1.0,
             seed: Annotated[int, typer.Option()] = 7, config: ConfigOpt = None) -> None:
    """Simulate patrols of the demo units ending now and ingest them (for trying rules and maps)."""
    from ecopatrol.demo import simulate_into

    runtime = _runtime(config)
    outcome = simulate_into(runtime, days=days, seed=seed, only_units=unit or None)
    typer.echo(json.dumps(outcome, ensure_ascii=False))


@units_app.command("add")
def units_add(unit_id: str,
              mode: Annotated[str, typer.Option(help="vehicle | foot | boat")],
              datum: Annotated[str, typer.Option(help="wgs84 | gcj02 | cgcs2000")] = "wgs84",
              device: Annotated[list[str] | None, typer.Option(help="a reporting device id")] = None,
              name: Annotated[str, typer.Option()] = "", config: ConfigOpt = None) -> None:
    """Register a unit (and the devices that report for it; again: lifts a device's revoke)."""
    from ecopatrol.audit import cli_actor
    from ecopatrol.store import units_repo

    if mode not in ("vehicle", "foot", "boat"):
        raise fail(f"--mode must be vehicle, foot or boat, got {mode!r}")
    if datum not in ("wgs84", "gcj02", "cgcs2000"):
        raise fail(f"--datum must be wgs84, gcj02 or cgcs2000, got {datum!r}")
    runtime = _runtime(config)
    with runtime.store.write() as conn:
        units_repo.upsert_unit(conn, unit_id, mode=mode, datum=datum, name=name, now_ms=runtime.now_ms())
        for d in device or []:  # keyless (and so never expiring); registering again lifts a revoke
            units_repo.add_device(conn, d, unit_id, key_hash=None, now_ms=runtime.now_ms(), actor=cli_actor())
    typer.echo(f"unit {unit_id} ({mode}, {datum}) registered" + (f" with devices {', '.join(device)}"
                                                                  if device else ""))


@layers_app.command("import")
def layers_import(kind: Annotated[str, typer.Argument(help="rivers | forests | townships | zones")],
                  file: Path,
                  crs: Annotated[str | None, typer.Option(help="CRS of a file that declares none, "
                                                          "e.g. EPSG:4490")] = None,
                  config: ConfigOpt = None) -> None:
    """Import a layer from any file OGR reads (GeoJSON, GeoPackage, Shapefile, …)."""
    from ecopatrol.layer_import import LayerImportError, import_layer

    if kind not in ("rivers", "forests", "townships", "zones"):
        raise fail(f"the kind must be rivers, forests, townships or zones, got {kind!r}")
    if not file.exists():
        raise fail(f"{file}: no such file")
    runtime = _runtime(config)
    try:
        summary = import_layer(runtime, kind, file, crs=crs)
    except LayerImportError as exc:
        raise fail(f"{file}: {exc}") from None
    for line in summary.lines():
        typer.echo(line)


@tracks_app.command("import")
def tracks_import(file: Path, unit: Annotated[str, typer.Option(help="the unit these tracks belong to")],
                  mode: Annotated[str, typer.Option(help="vehicle | foot | boat")],
                  datum: Annotated[str | None, typer.Option(help="wgs84 | gcj02 | cgcs2000")] = None,
                  fmt: Annotated[str | None, typer.Option("--format", help="gpx | geojson | csv "
                                                          "(default: by extension)")] = None,
                  delimiter: Annotated[str | None, typer.Option(help="CSV delimiter")] = None,
                  time_format: Annotated[str | None, typer.Option(help="CSV strftime format")] = None,
                  column: Annotated[list[str] | None, typer.Option(help="CSV mapping, e.g. lat=Y")] = None,
                  timezone: Annotated[str, typer.Option(help="zone of naive CSV times")] = "UTC",
                  skip_bad: Annotated[bool, typer.Option("--skip-bad", help="import the good records "
                                                         "and list the bad ones")] = False,
                  config: ConfigOpt = None) -> None:
    """Import a GPX 1.0/1.1, GeoJSON or CSV track file for a unit."""
    from ecopatrol.track_import import TrackImportError, import_track_file

    if mode not in ("vehicle", "foot", "boat"):
        raise fail(f"--mode must be vehicle, foot or boat, got {mode!r}")
    if datum is not None and datum not in ("wgs84", "gcj02", "cgcs2000"):
        raise fail(f"--datum must be wgs84, gcj02 or cgcs2000, got {datum!r}")
    if not file.exists():
        raise fail(f"{file}: no such file")
    mapping: dict[str, str] = {}
    for item in column or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--column takes FIELD=HEADER, got {item!r}")
        mapping[key.strip()] = value.strip()
    runtime = _runtime(config)
    try:
        outcome = import_track_file(runtime, file, unit_id=unit, mode=mode, datum=datum, fmt=fmt,
                                    delimiter=delimiter, time_format=time_format, columns=mapping or None,
                                    timezone=timezone, skip_bad=skip_bad)
    except TrackImportError as exc:
        typer.secho(f"error: {file}: {exc.summary}", fg=typer.colors.RED, err=True)
        for err in exc.errors[:200]:
            typer.echo(f"  {err}", err=True)
        if len(exc.errors) > 200:
            typer.echo(f"  … and {len(exc.errors) - 200} more", err=True)
        raise typer.Exit(1) from None
    for line in outcome:
        typer.echo(line)


@app.command()
def coverage(since: Annotated[str, typer.Option(help="window, e.g. 24h, 7d, 30d")] = "7d",
             as_json: Annotated[bool, typer.Option("--json")] = False, config: ConfigOpt = None) -> None:
    """Share of river length and forest area patrolled over a window, by mode, unit and township."""
    from ecopatrol.coverage_service import CoverageQueryError, coverage_report, format_coverage

    runtime = _runtime(config)
    try:
        report = coverage_report(runtime, since=since)
    except CoverageQueryError as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_coverage(report))


from ecopatrol.cli_audit import audit_app  # noqa: E402
from ecopatrol.cli_devices import register as register_devices  # noqa: E402
from ecopatrol.cli_reports import reports_app  # noqa: E402
from ecopatrol.cli_review import register as register_review  # noqa: E402
from ecopatrol.cli_rules import rules_app  # noqa: E402
from ecopatrol.cli_tokens import token_app  # noqa: E402

app.add_typer(token_app, name="token")
app.add_typer(reports_app, name="reports")
app.add_typer(rules_app, name="rules")
app.add_typer(audit_app, name="audit")
register_review(app)  # map, export
register_devices(units_app)  # units devices, units revoke-device


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
