"""The FHIR tests' tenants, built once per session (see `tests.fhir.world`)."""

import pytest

from domain.db import SessionFactory
from tests.fhir.world import Tenancy, build_clinic, build_rival


@pytest.fixture(scope="session")
async def clinic(sessions: SessionFactory) -> Tenancy:
    return await build_clinic(sessions)


@pytest.fixture(scope="session")
async def rival(sessions: SessionFactory) -> Tenancy:
    return await build_rival(sessions)
