"""The remittance enums are the domain's closed sets, value for value, and the SDL declares them
(as `tests/platform/test_enums.py` does for the shared ones in `api.enums`)."""

import csv
from enum import StrEnum
from typing import get_args

import pytest
from graphql import GraphQLEnumType, build_schema

from api.remittances.enums import (
    REMITTANCE_ENUMS,
    AdjustmentEffect,
    CasGroup,
    ImbalanceLevel,
    RemittanceClaimOutcome,
    RemittanceStatus,
)
from domain.remittances import models
from domain.remittances.balance import Level
from domain.remittances.codes import CODES_DIR
from tests.platform.test_schema_file import SCHEMA_FILE


def _group_codes() -> tuple[str, ...]:
    with (CODES_DIR / "claim_adjustment_group_codes.csv").open(newline="") as handle:
        return tuple(row["code"] for row in csv.DictReader(handle))


DOMAIN_SETS: dict[type[StrEnum], tuple[str, ...]] = {
    RemittanceStatus: models.REMITTANCE_STATUSES,
    RemittanceClaimOutcome: models.CLAIM_OUTCOMES,
    AdjustmentEffect: models.EFFECTS,
    CasGroup: _group_codes(),
    ImbalanceLevel: get_args(Level),
}


def test_every_remittance_enum_is_checked_here() -> None:
    assert set(DOMAIN_SETS) == set(REMITTANCE_ENUMS)


@pytest.mark.parametrize("enum", REMITTANCE_ENUMS, ids=lambda e: e.__name__)
def test_values_are_the_domain_set_and_the_sdl_declares_them(enum: type[StrEnum]) -> None:
    assert tuple(member.value for member in enum) == DOMAIN_SETS[enum]
    declared = build_schema(SCHEMA_FILE.read_text()).get_type(enum.__name__)
    assert isinstance(declared, GraphQLEnumType), f"schema.graphql does not declare {enum}"
    assert list(declared.values) == [member.name for member in enum]
    assert declared.description
    assert all(value.description for value in declared.values.values())
