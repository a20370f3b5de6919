"""``ecopatrol rules …``: check, unit-test and backtest the alert rules (typer)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ecopatrol.config import ConfigError, load_settings

rules_app = typer.Typer(help="Alert rules: test against cases, replay over history", no_args_is_help=True)


@rules_app.callback()
def _rules() -> None:
    """Alert rules: test against cases (like promtool test rules), replay over stored history."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@rules_app.command("test")
def rules_test(
    file: Annotated[Path | None, typer.Argument(help="TOML or JSON file of [[tests]] cases")] = None,
    replay: Annotated[bool, typer.Option("--replay", help="rerun the rules over stored history")] = False,
    since: Annotated[str, typer.Option(help="replay window, e.g. 7d, 30d")] = "30d",
    step: Annotated[float, typer.Option(help="replay step in hours")] = 1.0,
    config: Annotated[Path | None, typer.Option("--config", help="config.toml")] = None,
) -> None:
    """Test rules like ``promtool test rules``: pass/fail per case, non-zero exit on any failure.
    With ``--replay``: list what the current rules would have fired over the stored history."""
    from ecopatrol.alerting.settings import load_alerting

    try:
        settings = load_settings(config)
        cfg = load_alerting(settings)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if replay:
        _replay(settings, cfg, since, step)
        return
    if file is None:
        raise _fail("give a FILE of test cases, or --replay")
    if not file.exists():
        raise _fail(f"{file}: no such file")
    from ecopatrol.alerting.rulecases import CaseError, run_file

    try:
        results = run_file(file, settings)
    except (CaseError, ConfigError) as exc:
        raise _fail(str(exc)) from None
    for result in results:
        for line in result.lines():
            typer.secho(line, fg=typer.colors.GREEN if result.passed else typer.colors.RED)
    failed = sum(not r.passed for r in results)
    typer.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


def _replay(settings, cfg, since: str, step_h: float) -> None:  # type: ignore[no-untyped-def]
    from ecopatrol.alerting.backtest import format_fired, replay
    from ecopatrol.runtime import build_runtime
    from ecopatrol.windows import WindowError, since_ms

    runtime = build_runtime(settings)
    try:
        start = since_ms(since, now_ms=runtime.now_ms())
    except WindowError as exc:
        raise _fail(str(exc)) from None
    with typer.progressbar(length=1, label="replaying", file=sys.stderr) as bar:
        last = [0]

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - last[0])
            last[0] = done

        fired = replay(runtime, cfg, since_ms=start, step_ms=int(step_h * 3_600_000), progress=progress)
    for line in format_fired(fired, settings.deployment.timezone):
        typer.echo(line)
    runtime.close()
