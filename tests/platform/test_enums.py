"""The schema's enums are the domain's closed sets, value for value, and the SDL declares them."""

from enum import StrEnum

import pytest
from graphql import GraphQLEnumType, build_schema

from api.enums import (
    ENUMS,
    BulkJobItemStatus,
    BulkJobKind,
    BulkJobStatus,
    BulkSelfPayType,
    CarcGroup,
    CommandStatus,
    LedgerEntryKind,
    TransactionStatus,
    TransactionType,
    WriteOffReason,
)
from domain import models
from domain.bulk import models as bulk_models
from domain.bulk import rules as bulk_rules
from tests.platform.test_schema_file import SCHEMA_FILE

DOMAIN_SETS: dict[type[StrEnum], tuple[str, ...]] = {
    TransactionType: models.TRANSACTION_TYPES,
    TransactionStatus: models.TRANSACTION_STATUSES,
    CommandStatus: models.COMMAND_STATUSES,
    BulkJobStatus: bulk_models.BULK_JOB_STATUSES,
    BulkJobItemStatus: bulk_models.BULK_ITEM_STATUSES,
    BulkJobKind: bulk_models.BULK_JOB_KINDS,
    LedgerEntryKind: models.ENTRY_KINDS,
    CarcGroup: models.CARC_GROUPS,
    BulkSelfPayType: bulk_rules.SELF_PAY_TYPES,
    WriteOffReason: models.WRITE_OFF_REASONS,
}


def _id(enum: type[StrEnum]) -> str:
    return enum.__name__


def test_every_enum_is_checked_here() -> None:
    # given every enum the API defines
    # then each has its domain tuple in this table, and nothing else does
    assert set(DOMAIN_SETS) == set(ENUMS)


@pytest.mark.parametrize("enum", ENUMS, ids=_id)
def test_enum_values_are_the_domain_set_exactly(enum: type[StrEnum]) -> None:
    # given the enum and the tuple the domain validates and stores against
    domain_values = DOMAIN_SETS[enum]
    # then the values are that tuple, in its order, with nothing missing or extra
    assert tuple(member.value for member in enum) == domain_values
    # and a member is its stored string: equal to it, str() to it, found by it
    for value in domain_values:
        assert enum(value) == value
        assert str(enum(value)) == value


@pytest.mark.parametrize("enum", ENUMS, ids=_id)
def test_sdl_declares_the_enum(enum: type[StrEnum]) -> None:
    # given the committed SDL
    sdl = build_schema(SCHEMA_FILE.read_text())
    # when the enum is looked up by its class name
    declared = sdl.get_type(enum.__name__)
    # then it is an enum of the members' names, described, and so is every value
    assert isinstance(declared, GraphQLEnumType), f"schema.graphql does not declare {enum}"
    assert list(declared.values) == [member.name for member in enum]
    assert declared.description
    assert all(value.description for value in declared.values.values())


def test_write_off_reasons_are_named_for_graphql_and_stored_hyphenated() -> None:
    # given the write-off reasons
    # then GraphQL names are upper-case with underscores; stored values are the seed's slugs
    assert [r.name for r in WriteOffReason] == [
        "SMALL_BALANCE",
        "PATIENT_UNCOLLECTABLE",
        "CHARITY",
        "BAD_DEBT",
        "DISPUTE_RESOLVED",
        "OTHER",
    ]
    assert WriteOffReason.SMALL_BALANCE == "small-balance"
