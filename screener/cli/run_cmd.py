"""``screener run`` (the service) and ``screener demo`` (the service against a simulated PBX)."""

from __future__ import annotations

import typer

from screener.cli.common import run as run_coroutine
from screener.cli.common import settings_of
from screener.demo.simulator import run_demo
from screener.service import Component, ServiceContext, run_service
from screener.settings import Settings

NO_ARI_MESSAGE = (
    "ari.url is not set and FastAGI is off, so there is no Asterisk to screen calls for.\n"
    "Starting the built-in PBX simulator instead (the same as `screener demo --keep-running`).\n"
    "To screen real calls set [ari] url, username and password in screener.toml "
    "(see docs/ari.md and asterisk-config/)."
)


def service_components(settings: Settings) -> list[Component]:
    """The components ``screener run`` starts beside call handling.

    Each is ``async def component(ctx: ServiceContext) -> None`` (see screener.service):
    metrics and the ARI state for ``/healthz``, MQTT and FastAGI when enabled, and the web
    console (with ``/healthz`` and ``/metrics``) when ``web.enabled``.
    """
    from screener.ops.components import ops_components
    from screener.ops.router import make_ops_router
    from screener.ops.state import ServiceState

    state = ServiceState.from_settings(settings)
    components: list[Component] = list(ops_components(settings, state))
    if settings.web.enabled:
        from screener.web.server import serve_web

        async def web_console(ctx: ServiceContext) -> None:
            await serve_web(
                ctx.settings,
                ctx.database,
                ctx.screening,
                ctx.bus,
                public_routers=[make_ops_router(state)],
            )

        components.append(web_console)
    return components


def run(ctx: typer.Context) -> None:
    """Run the service: screen live calls from Asterisk (ARI and/or FastAGI) until stopped.

    With neither ``[ari] url`` nor ``[agi] enabled``, the built-in PBX simulator runs instead.
    """
    settings = settings_of(ctx)
    components = service_components(settings)
    if not settings.ari.url and not settings.agi.enabled:
        typer.echo(NO_ARI_MESSAGE, err=True)
        run_coroutine(run_demo(settings, keep_running=True, extra_components=components), settings)
        return
    run_coroutine(run_service(settings, components), settings)


def demo(
    ctx: typer.Context,
    keep_running: bool = typer.Option(
        False, "--keep-running", help="Keep the service running after the demo calls."
    ),
    speed: float = typer.Option(
        4.0, "--speed", min=0.1, max=100.0, help="How much faster than real time prompts play."
    ),
) -> None:
    """Screen a realistic mix of calls from a built-in simulated Asterisk (no PBX needed)."""
    settings = settings_of(ctx)
    components = service_components(settings) if keep_running else []
    results = run_coroutine(
        run_demo(settings, speed=speed, keep_running=keep_running, extra_components=components),
        settings,
    )
    typer.echo(f"{len(results)} calls screened; see them with `screener calls list`.")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)


__all__ = ["demo", "register", "run"]
