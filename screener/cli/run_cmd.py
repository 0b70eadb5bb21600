"""``screener run`` (the service) and ``screener demo`` (the service against a simulated PBX)."""

from __future__ import annotations

import typer

from screener import composition
from screener.cli.common import fail, settings_of
from screener.cli.common import run as run_coroutine
from screener.demo.simulator import run_demo
from screener.web.server import WebPortUnavailable

NO_ASTERISK_MESSAGE = (
    "ari.url is not set and FastAGI is off, so there is no Asterisk to screen calls for.\n"
    "Starting the built-in PBX SIMULATOR instead (as `screener demo --keep-running`), on a\n"
    "demo database of its own: nothing is written to the configured database.\n"
    "To screen real calls set [ari] url, username and password in screener.toml "
    "(see docs/ari.md and asterisk-config/)."
)


def run(
    ctx: typer.Context,
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=32,
        help="Processes to run (each its own ARI application screener-1, screener-2 ...; "
        "web and FastAGI ports counted up from the settings; needs PostgreSQL).",
    ),
) -> None:
    """Run the service: screen live calls from Asterisk (ARI and/or FastAGI) until stopped.

    With neither ``[ari] url`` nor ``[agi] enabled``, the built-in PBX simulator runs
    instead, on its own demo database (``demo.database_url``).
    """
    settings = settings_of(ctx)
    if workers > 1:
        from screener.workers import WorkersError, run_workers

        config = ctx.find_root().params.get("config")
        try:
            raise typer.Exit(
                run_workers(settings, workers, ["--config", str(config)] if config else [])
            )
        except WorkersError as exc:
            fail(str(exc), 2)
    try:
        if not settings.ari.url and not settings.agi.enabled:
            typer.echo(NO_ASTERISK_MESSAGE, err=True)
            run_coroutine(run_demo(settings, keep_running=True, web=True), settings)
            return
        run_coroutine(composition.run(settings), settings)
    except WebPortUnavailable as exc:
        fail(str(exc))


def demo(
    ctx: typer.Context,
    keep_running: bool = typer.Option(
        False, "--keep-running", help="Keep the service (and its console) running afterwards."
    ),
    speed: float = typer.Option(
        4.0, "--speed", min=0.1, max=100.0, help="How much faster than real time prompts play."
    ),
) -> None:
    """Screen a realistic mix of calls from a built-in simulated Asterisk (no PBX needed).

    The simulation runs on a demo database of its own (``demo.database_url``).
    """
    settings = settings_of(ctx)
    try:
        results = run_coroutine(
            run_demo(settings, speed=speed, keep_running=keep_running, web=keep_running),
            settings,
        )
    except (WebPortUnavailable, ValueError) as exc:
        fail(str(exc))
    demo_db = settings.demo.database_url
    typer.echo(
        f"{len(results)} calls screened; see them with "
        f"`SCREENER_DATABASE__URL={demo_db} screener calls list`."
    )


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)


__all__ = ["demo", "register", "run"]
