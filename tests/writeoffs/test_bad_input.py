"""Bad input: every malformed write-off is a typed userError (or, for a value outside an enum, a
typed GraphQL error) and stores nothing; money parsing is exact; documents beyond the depth,
alias and token limits are refused before execution."""

import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from arledger.config import Settings
from domain.db import SessionFactory
from domain.errors import InvalidMoney
from domain.models import ChargeLine, Command, LedgerEntry
from domain.money import MAX_CENTS, format_cents, parse_money
from tests.support.client import WRITE_OFF, gid, gql
from tests.support.factories import World, make_world


def _input(
    lines: list[tuple[str, Any]],
    reason: str = "CHARITY",
    note: str | None = None,
    key: str = "bad-input",
) -> dict[str, Any]:
    return {
        "input": {
            "idempotencyKey": key,
            "reason": reason,
            "note": note,
            "lines": [{"lineId": i, "amount": a} for i, a in lines],
        }
    }


def _line(world: World, n: int = 0) -> str:
    return gid("ChargeLine", world.line_ids[n])


async def _stored(sessions: SessionFactory, world: World) -> tuple[int, list[int], list[Any]]:
    """The tenant's command count, its line balances and its ledger entries."""
    async with sessions() as session:
        commands = await session.scalar(
            select(func.count()).select_from(Command).where(Command.tenant_id == world.tenant_id)
        )
        balances = list(
            await session.scalars(
                select(ChargeLine.balance_cents)
                .where(ChargeLine.tenant_id == world.tenant_id)
                .order_by(ChargeLine.id)
            )
        )
        entries = (
            await session.execute(
                select(LedgerEntry.kind, LedgerEntry.amount_cents)
                .where(LedgerEntry.tenant_id == world.tenant_id)
                .order_by(LedgerEntry.id)
            )
        ).all()
    assert commands is not None
    return commands, balances, [tuple(e) for e in entries]


NOTHING_STORED = (0, [10000, 2000], [("CHARGE", 10000), ("CHARGE", 2000)])

# (variables for world `w` and another tenant's world `o`, expected [(field, code)])
Case = Callable[[World, World], dict[str, Any]]
CASES: list[Any] = [
    pytest.param(
        lambda w, o: _input([(_line(w), "0")]),
        [("lines.0.amount", "AMOUNT_NOT_POSITIVE")],
        id="zero",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "0.00")]),
        [("lines.0.amount", "AMOUNT_NOT_POSITIVE")],
        id="zero-with-decimals",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "-5")]),
        [("lines.0.amount", "AMOUNT_NOT_POSITIVE")],
        id="negative",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "1.005")]),
        [("lines.0.amount", "TOO_MANY_DECIMALS")],
        id="three-decimals",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "1e3")]),
        [("lines.0.amount", "INVALID_AMOUNT")],
        id="exponent",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "NaN")]), [("lines.0.amount", "INVALID_AMOUNT")], id="nan"
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "Infinity")]),
        [("lines.0.amount", "INVALID_AMOUNT")],
        id="infinity",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "")]),
        [("lines.0.amount", "INVALID_AMOUNT")],
        id="empty-amount",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "1,000")]),
        [("lines.0.amount", "INVALID_AMOUNT")],
        id="thousands-separator",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "1000000000000000")]),
        [("lines.0.amount", "AMOUNT_TOO_LARGE")],
        id="ten-to-the-15-dollars",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), 10.5)]),
        [("lines.0.amount", "INVALID_AMOUNT")],
        id="json-float",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), True)]),
        [("lines.0.amount", "INVALID_AMOUNT")],
        id="json-boolean",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), 10**15)]),
        [("lines.0.amount", "AMOUNT_TOO_LARGE")],
        id="json-huge-integer",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "10")], reason="OTHER"),
        [("note", "NOTE_REQUIRED")],
        id="other-without-note",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "10")], reason="OTHER", note="   "),
        [("note", "NOTE_REQUIRED")],
        id="other-with-blank-note",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "10")], note="x" * 2001),
        [("note", "NOTE_TOO_LONG")],
        id="note-too-long",
    ),
    pytest.param(
        lambda w, o: _input([("not a global id!", "10")]),
        [("lines.0.lineId", "LINE_NOT_FOUND")],
        id="malformed-line-id",
    ),
    pytest.param(
        lambda w, o: _input([(gid("Visit", w.visit_id), "10")]),
        [("lines.0.lineId", "LINE_NOT_FOUND")],
        id="id-of-another-type",
    ),
    pytest.param(
        lambda w, o: _input([(gid("ChargeLine", 2**62), "10")]),
        [("lines.0.lineId", "LINE_NOT_FOUND")],
        id="unknown-line-id",
    ),
    pytest.param(
        lambda w, o: _input([(gid("ChargeLine", 2**64), "10")]),
        [("lines.0.lineId", "LINE_NOT_FOUND")],
        id="line-id-beyond-bigint",
    ),
    pytest.param(
        lambda w, o: _input([(_line(o), "10")]),
        [("lines.0.lineId", "LINE_NOT_FOUND")],
        id="other-tenants-line",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "10"), (_line(o), "10")]),
        [("lines.1.lineId", "LINE_NOT_FOUND")],
        id="own-line-and-other-tenants-line",
    ),
    pytest.param(lambda w, o: _input([]), [("lines", "NO_LINES")], id="no-lines"),
    pytest.param(
        lambda w, o: _input([(_line(w), "10"), (_line(w), "5")]),
        [("lines.1.lineId", "DUPLICATE_LINE")],
        id="duplicate-line",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "10")], key=""),
        [("idempotencyKey", "INVALID_IDEMPOTENCY_KEY")],
        id="empty-key",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "10")], key="   "),
        [("idempotencyKey", "INVALID_IDEMPOTENCY_KEY")],
        id="blank-key",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "10")], key="k" * 201),
        [("idempotencyKey", "INVALID_IDEMPOTENCY_KEY")],
        id="key-too-long",
    ),
    pytest.param(
        lambda w, o: _input([(_line(w), "0"), (_line(w, 1), "1.001")], reason="OTHER"),
        [
            ("lines.0.amount", "AMOUNT_NOT_POSITIVE"),
            ("lines.1.amount", "TOO_MANY_DECIMALS"),
            ("note", "NOTE_REQUIRED"),
        ],
        id="every-problem-at-once",
    ),
]


@pytest.mark.parametrize(("variables", "expected"), CASES)
async def test_bad_write_off_is_a_typed_user_error_and_stores_nothing(
    client,
    sessions: SessionFactory,
    settings: Settings,
    variables: Case,
    expected: list[tuple[str, str]],
) -> None:
    # given lines of $100.00 and $20.00, and another tenant with a line of its own
    world = await make_world(sessions, [10000, 2000])
    other = await make_world(sessions, [10000, 2000])
    # when a bad write-off is submitted
    body = await gql(client, WRITE_OFF, variables(world, other), world.token(settings))
    # then it comes back as typed user errors, with no command
    assert "errors" not in body, body
    payload = body["data"]["writeOff"]
    assert payload["command"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == expected
    assert all(e["message"] for e in payload["userErrors"])
    # and nothing is stored for either tenant
    assert await _stored(sessions, world) == NOTHING_STORED
    assert await _stored(sessions, other) == NOTHING_STORED


async def test_float_literal_in_the_document_is_a_typed_user_error(
    client,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given an amount written as a float literal in the document, not a variable
    world = await make_world(sessions, [10000, 2000])
    mutation = """mutation($line: ID!) { writeOff(input: {idempotencyKey: "lit",
        reason: CHARITY, lines: [{lineId: $line, amount: 10.5}]})
        { command { id } userErrors { field code } } }"""
    # when it is submitted
    body = await gql(client, mutation, {"line": _line(world)}, world.token(settings))
    # then it is refused like a float variable
    assert body == {
        "data": {
            "writeOff": {
                "command": None,
                "userErrors": [{"field": "lines.0.amount", "code": "INVALID_AMOUNT"}],
            }
        }
    }
    assert await _stored(sessions, world) == NOTHING_STORED


@pytest.mark.parametrize(
    "reason",
    [
        pytest.param("gift", id="unknown-reason"),
        pytest.param("Charity", id="reason-wrong-case"),
        pytest.param("charity", id="stored-form-not-the-enum-name"),
        pytest.param("", id="empty-reason"),
    ],
)
async def test_reason_outside_the_enum_is_a_typed_graphql_error_and_stores_nothing(
    client, sessions: SessionFactory, settings: Settings, reason: str
) -> None:
    # given a write-off whose reason variable names no WriteOffReason
    world = await make_world(sessions, [10000, 2000])
    variables = _input([(_line(world), "10")], reason=reason)
    # when it is submitted
    body = await gql(client, WRITE_OFF, variables, world.token(settings))
    # then the variables are refused before anything runs, with a typed error and no data
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert "WriteOffReason" in body["errors"][0]["message"]
    # and nothing is stored
    assert await _stored(sessions, world) == NOTHING_STORED


async def test_reason_literal_outside_the_enum_fails_validation_and_stores_nothing(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a write-off with an unknown reason written into the document, and one with the
    # stored form as a string literal
    world = await make_world(sessions, [10000, 2000])
    for literal in ("GIFT", '"charity"'):
        mutation = f"""mutation($line: ID!) {{ writeOff(input: {{idempotencyKey: "lit",
            reason: {literal}, lines: [{{lineId: $line, amount: "10"}}]}})
            {{ command {{ id }} userErrors {{ field code }} }} }}"""
        # when it is submitted
        body = await gql(client, mutation, {"line": _line(world)}, world.token(settings))
        # then the document fails validation, typed, before anything runs
        assert body.get("data") is None, body
        codes = [e["extensions"]["code"] for e in body["errors"]]
        assert codes == ["GRAPHQL_VALIDATION_FAILED"], body
    # and nothing is stored
    assert await _stored(sessions, world) == NOTHING_STORED


# ---------------------------------------------------------------------------------------------
# domain.money
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("50", 5000),
        ("50.5", 5050),
        ("50.00", 5000),
        (" 7 ", 700),
        ("0.01", 1),
        ("0", 0),
        ("-0", 0),
        ("-12.30", -1230),
        ("-0.05", -5),
        ("007.10", 710),
        ("19.99", 1999),
        ("99999999999.99", MAX_CENTS - 1),
        ("0000000000000000001", 100),
    ],
)
def test_parse_money_accepts_plain_decimals(text: str, cents: int) -> None:
    assert parse_money(text) == cents


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "INVALID_AMOUNT"),
        ("   ", "INVALID_AMOUNT"),
        ("1e3", "INVALID_AMOUNT"),
        ("NaN", "INVALID_AMOUNT"),
        ("Infinity", "INVALID_AMOUNT"),
        ("1,000", "INVALID_AMOUNT"),
        ("+5", "INVALID_AMOUNT"),
        (".5", "INVALID_AMOUNT"),
        ("5.", "INVALID_AMOUNT"),
        ("5 0", "INVALID_AMOUNT"),
        ("$5", "INVALID_AMOUNT"),
        ("0x10", "INVALID_AMOUNT"),
        ("1_000", "INVALID_AMOUNT"),
        ("--5", "INVALID_AMOUNT"),
        ("5\n0", "INVALID_AMOUNT"),
        ("\uff15\uff10", "INVALID_AMOUNT"),  # fullwidth digits five, zero
        ("\u0665\u0660", "INVALID_AMOUNT"),  # Arabic-Indic digits five, zero
        ("1.005", "TOO_MANY_DECIMALS"),
        ("-1.005", "TOO_MANY_DECIMALS"),
        ("1.000", "TOO_MANY_DECIMALS"),
        ("100000000000", "AMOUNT_TOO_LARGE"),
        ("1000000000000000", "AMOUNT_TOO_LARGE"),
        ("1" * 40, "AMOUNT_TOO_LARGE"),
        ("-100000000000", "AMOUNT_TOO_LARGE"),
    ],
)
def test_parse_money_rejects_with_a_code(text: str, code: str) -> None:
    with pytest.raises(InvalidMoney) as error:
        parse_money(text)
    assert error.value.code == code


@pytest.mark.parametrize("value", [None, 5, 10.5, b"5"])
def test_parse_money_rejects_non_strings(value: Any) -> None:
    with pytest.raises(InvalidMoney) as error:
        parse_money(value)
    assert error.value.code == "INVALID_AMOUNT"


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "0.00"),
        (5, "0.05"),
        (50, "0.50"),
        (5050, "50.50"),
        (100, "1.00"),
        (-1230, "-12.30"),
        (-5, "-0.05"),
        (MAX_CENTS - 1, "99999999999.99"),
    ],
)
def test_format_cents_has_exactly_two_decimals(cents: int, text: str) -> None:
    assert format_cents(cents) == text


def test_format_then_parse_is_the_identity() -> None:
    values = [*range(-1000, 1001), 123456789, -987654321, MAX_CENTS - 1, -(MAX_CENTS - 1)]
    assert [parse_money(format_cents(c)) for c in values] == values


# ---------------------------------------------------------------------------------------------
# GraphQL validation limits (depth 10, 15 aliases, 2000 tokens)
# ---------------------------------------------------------------------------------------------


async def _post(client: httpx.AsyncClient, query: str, token: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code in (200, 400), response.text
    return response.json()


@pytest.fixture
async def reader(sessions: SessionFactory, settings: Settings) -> str:
    return (await make_world(sessions, [100])).token(settings, "billing.read")


async def test_query_deeper_than_the_limit_is_refused(client, settings, reader) -> None:
    # given a document nested one level deeper than max_query_depth
    depth = settings.max_query_depth + 2
    query = "{ accounts " + "{ edges " * depth + "{ id }" + " }" * depth + " }"
    # when it is sent
    body = await _post(client, query, reader)
    # then it is refused at validation with the depth error and no data
    assert body.get("data") is None
    assert f"'anonymous' exceeds maximum operation depth of {settings.max_query_depth}" in [
        e["message"] for e in body["errors"]
    ]


async def test_deepest_real_query_is_within_the_limit(client, reader) -> None:
    # the deepest path the schema offers (depth 6) passes validation
    query = (
        "{ accounts { edges { node { visits { chargeLines "
        "{ ledgerEntries { kind amount } } } } } } }"
    )
    body = await _post(client, query, reader)
    assert "errors" not in body, body
    [edge] = body["data"]["accounts"]["edges"]
    assert edge["node"]["visits"] == [
        {"chargeLines": [{"ledgerEntries": [{"kind": "CHARGE", "amount": "1.00"}]}]}
    ]


@pytest.mark.parametrize(("aliases", "refused"), [(15, False), (16, True)])
async def test_more_than_15_aliases_is_refused(
    client,
    settings,
    reader,
    aliases: int,
    refused: bool,
) -> None:
    assert settings.max_aliases == 15
    # given a document with that many aliases
    query = "{ " + " ".join(f"a{n}: __typename" for n in range(aliases)) + " }"
    # when it is sent
    body = await _post(client, query, reader)
    # then 16 is refused without data, 15 is answered
    if refused:
        assert body.get("data") is None
        assert [e["message"] for e in body["errors"]] == [
            f"{aliases} aliases found. Allowed: {settings.max_aliases}"
        ]
    else:
        assert body == {"data": {f"a{n}": "Query" for n in range(aliases)}}


async def test_document_over_2000_tokens_is_refused(client, settings, reader) -> None:
    assert settings.max_tokens == 2000
    # given a document of more than 2000 tokens (no aliases, depth 1)
    query = "{ " + "__typename " * settings.max_tokens + "}"
    # when it is sent
    body = await _post(client, query, reader)
    # then it is refused while parsing, without data
    assert body.get("data") is None
    assert [e["message"] for e in body["errors"]] == [
        f"Syntax Error: Document contains more than {settings.max_tokens} tokens. Parsing aborted."
    ]


# ---------------------------------------------------------------------------------------------
# Global ids that name nothing
# ---------------------------------------------------------------------------------------------


def _raw_gid(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _non_ascii_digits(pk: int) -> str:
    return "".join(chr(0x0660 + int(d)) for d in str(pk))  # Arabic-Indic digits


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("query($id: ID!) { node(id: $id) { id } }", "node"),
        ("query($id: ID!) { command(id: $id) { id } }", "command"),
        ("query($id: ID!) { ledgerEntries(accountId: $id) { nodes { id } } }", "ledgerEntries"),
    ],
)
@pytest.mark.parametrize(
    "make_id",
    [
        pytest.param(lambda w: gid("Account", 2**64), id="beyond-bigint"),
        pytest.param(
            lambda w: _raw_gid(f"Account:{_non_ascii_digits(w.account_id)}"),
            id="non-ascii-digits-of-a-real-id",
        ),
        pytest.param(lambda w: _raw_gid(f"Command:{'9' * 5000}"), id="thousands-of-digits"),
    ],
)
async def test_query_with_an_id_that_names_nothing_answers_null(
    client,
    sessions: SessionFactory,
    settings: Settings,
    query: str,
    field: str,
    make_id: Callable[[World], str],
) -> None:
    # given a tenant and an id that is not one of its (or anyone's) ids
    world = await make_world(sessions, [10000])
    # when it is looked up
    body = await gql(client, query, {"id": make_id(world)}, world.token(settings, "billing.read"))
    # then the answer is plain "not found", not an error
    assert body == {"data": {field: {"nodes": []} if field == "ledgerEntries" else None}}


def test_unexpected_errors_are_masked_and_ours_are_not() -> None:
    """A bug's or an outage's text (SQL, stack details) never reaches a client."""
    from graphql import GraphQLError

    from api.schema import is_unexpected

    leaked = GraphQLError("relation x does not exist", original_error=RuntimeError("SQL"))
    ours = GraphQLError("Scope 'billing.read' is required.", extensions={"code": "FORBIDDEN"})
    assert is_unexpected(leaked)
    assert not is_unexpected(ours)
    assert not is_unexpected(GraphQLError("x", original_error=ours))
