"""The committed energy fixtures (Tests/Fixtures/*/energy.json) equal what the Python accounting computes now.

The Swift side checks the same files (Tests/SpikeCLIPTests/EnergyFixtureTests.swift), so a change of either
implementation's counts fails one of the two; regenerate with
``python -m spikeclip_training.energy_fixture Tests/Fixtures/tiny-default Tests/Fixtures/tiny-official``.
"""

from pathlib import Path

import pytest

from spikeclip_training import energy_fixture

FIXTURES = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures"


@pytest.mark.parametrize("name", ["tiny-default", "tiny-official", "official-import"])
def test_committed_energy_fixture_matches_python_accounting(name):
    committed = FIXTURES / name / "energy.json"
    assert committed.exists(), f"committed fixture {committed} missing"
    assert energy_fixture.serialize(energy_fixture.fixture_counts(FIXTURES / name)) == committed.read_bytes()
