"""Every scenario in tests/scenarios/ against the pure state machine and the fake server."""

from __future__ import annotations

import pytest

from tests.ari.scenarios import Scenario, load_scenarios, run_on_fake_server, run_on_machine

SCENARIOS = load_scenarios()


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 10


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.path.stem)
def test_scenario_on_state_machine(scenario: Scenario) -> None:
    run_on_machine(scenario)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.path.stem)
async def test_scenario_on_fake_server(scenario: Scenario, sqlite_url: str) -> None:
    await run_on_fake_server(scenario, sqlite_url)
