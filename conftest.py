"""Fixtures shared by the tests and the benchmarks: the bundled schedules and contract,
loaded once per session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def schedules():
    from pricer.schedules import load_schedules
    return load_schedules()


@pytest.fixture(scope="session")
def contract():
    from pricer.contract import default_contract
    return default_contract()
