"""Practice-management transactions end to end: HTTP → PostgreSQL → Redis → Celery worker.

Every type's sign and ledger kind, work-in-progress rules, all-or-nothing posting over several
visits and accounts, code defaulting, bad input that changes nothing, scopes and idempotency."""

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from api.ids import decode_id
from arledger.config import Settings
from domain.db import SessionFactory
from domain.ledger.batch import Posting, post
from domain.locks import lock_lines
from domain.models import (
    Account,
    ChargeLine,
    LedgerEntry,
    Payer,
    Tenant,
    Transaction,
    TransactionApplication,
    Visit,
)
from tests.support.client import gid, gql
from tests.support.factories import World, ledger_drift, make_world
from tests.transactions.ops import (
    ADJUST,
    CHANGE_APPLICATION,
    EVERY_SCOPE,
    PAYMENT,
    READ,
    REMOVE_APPLICATION,
    add_application,
    codes_of,
    create_transaction,
    must_add,
    must_create,
    mutate,
    post_and_wait,
    post_transaction,
    read_transaction,
    setup_codes,
)

# --- database views -----------------------------------------------------------------------------


async def balances(sessions: SessionFactory, tenant_id: int) -> list[int]:
    """Every charge line's balance in the tenant, in line-id order."""
    async with sessions() as session:
        rows = await session.scalars(
            select(ChargeLine.balance_cents)
            .where(ChargeLine.tenant_id == tenant_id)
            .order_by(ChargeLine.id)
        )
        return list(rows.all())


async def posted_entries(sessions: SessionFactory, tenant_id: int) -> list[tuple[Any, ...]]:
    """(line, amount, kind, reason, category, carc group, carc reason, code id, txn id, date)."""
    async with sessions() as session:
        rows = await session.execute(
            select(
                LedgerEntry.line_id,
                LedgerEntry.amount_cents,
                LedgerEntry.kind,
                LedgerEntry.reason,
                LedgerEntry.category,
                LedgerEntry.carc_group,
                LedgerEntry.carc_reason,
                LedgerEntry.transaction_code_id,
                LedgerEntry.transaction_id,
                LedgerEntry.transaction_date,
            )
            .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.kind != "CHARGE")
            .order_by(LedgerEntry.id)
        )
        return [tuple(r) for r in rows]


async def counts(sessions: SessionFactory, tenant_id: int) -> tuple[int, int]:
    """(transactions, applications) stored for the tenant."""
    async with sessions() as session:
        transactions = await session.scalar(
            select(func.count()).where(Transaction.tenant_id == tenant_id)
        )
        applications = await session.scalar(
            select(func.count()).where(TransactionApplication.tenant_id == tenant_id)
        )
        return int(transactions or 0), int(applications or 0)


async def add_visit(
    sessions: SessionFactory,
    world: World,
    cents: list[int],
    *,
    account_number: str = "A1",
    visit_number: int = 2,
    date_of_service: date = date(2026, 10, 5),
) -> list[int]:
    """Another visit (on a new or existing account) with CHARGE-posted lines; its line ids."""
    async with sessions() as session, session.begin():
        account_id = await session.scalar(
            select(Account.id).where(
                Account.tenant_id == world.tenant_id, Account.account_number == account_number
            )
        )
        if account_id is None:
            account = Account(
                tenant_id=world.tenant_id, account_number=account_number, name="Sam Roe"
            )
            session.add(account)
            await session.flush()
            account_id = account.id
        payer_id = await session.scalar(
            select(Payer.id).where(Payer.tenant_id == world.tenant_id, Payer.code == "1")
        )
        visit = Visit(
            tenant_id=world.tenant_id,
            account_id=account_id,
            visit_number=visit_number,
            claim_number=f"{world.slug}-{account_number}-{visit_number}",
            date_of_service=date_of_service,
            payer_id=payer_id,
            billed_cents=sum(cents),
        )
        session.add(visit)
        await session.flush()
        lines = [
            ChargeLine(
                tenant_id=world.tenant_id,
                account_id=account_id,
                visit_id=visit.id,
                line_number=n + 1,
                procedure_code="99214",
                billed_cents=c,
            )
            for n, c in enumerate(cents)
        ]
        session.add_all(lines)
        await session.flush()
        locked = await lock_lines(session, world.tenant_id, [line.id for line in lines])
        await post(
            session,
            world.tenant_id,
            locked,
            [Posting(line.id, line.billed_cents, "CHARGE", "CHARGE_POSTED") for line in lines],
            "seed",
            None,
        )
    return [line.id for line in lines]


def txn_pk(transaction: dict[str, Any]) -> int:
    pk = decode_id(transaction["id"], "Transaction")
    assert pk is not None
    return pk


# --- every type's sign --------------------------------------------------------------------------

SIGNS = [
    # type, balance after 30.00 on a 100.00 line, kind, reason, category, carc group, carc reason
    ("PY", 7000, "PAYMENT", None, None, None, None),
    ("CW", 7000, "ADJUSTMENT", None, "contractual", "CO", "45"),
    ("BD", 7000, "WRITEOFF", "bad-debt", None, None, None),
    ("AD", 7000, "ADJUSTMENT", None, "adjustment", "OA", "45"),
    ("FC", 13000, "FINANCE_CHARGE", None, None, None, None),
    ("AC", 13000, "ADDITIONAL_CHARGE", None, None, None, None),
    ("RF", 13000, "REFUND", None, None, None, None),
]


@pytest.mark.parametrize(("type_", "after", "kind", "reason", "category", "group", "carc"), SIGNS)
async def test_each_type_moves_the_balance_its_way_and_posts_its_kind(
    client,
    sessions: SessionFactory,
    settings: Settings,
    type_: str,
    after: int,
    kind: str,
    reason: str | None,
    category: str | None,
    group: str | None,
    carc: str | None,
) -> None:
    # given a visit with one $100.00 line and codes with payer 1 defaults for every type
    world = await make_world(sessions, [10000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when a $30.00 transaction of the type (entered positive) is applied in full and posted
    txn = await must_create(
        client, token, codes.payer_gid, type_, "30.00", transaction_date="2026-10-20"
    )
    assert (txn["status"], txn["amount"], txn["code"]["code"]) == (
        "WORK_IN_PROGRESS",
        "30.00",
        f"{type_}01",
    )
    await must_add(client, token, txn["id"], "30.00")
    final = await post_and_wait(client, token, txn["id"])
    # then the worker applied it, moving the balance by exactly 30.00 in the type's direction
    assert final["status"] == "APPLIED", final
    assert await balances(sessions, world.tenant_id) == [after]
    # and wrote one entry of the type's ledger kind carrying the code, transaction and date
    signed = after - 10000
    assert await posted_entries(sessions, world.tenant_id) == [
        (
            world.line_ids[0],
            signed,
            kind,
            reason,
            category,
            group,
            carc,
            codes.default[type_],
            txn_pk(txn),
            date(2026, 10, 20),
        )
    ]
    # and the transaction is POSTED, showing its entry and the visit's new balance
    shown = await read_transaction(client, token, txn["id"])
    assert shown["status"] == "POSTED"
    assert shown["lastErrorCode"] is None
    assert [(e["kind"], e["amount"]) for e in shown["entries"]] == [(kind, f"{signed / 100:.2f}")]
    assert shown["applications"][0]["visitBalance"] == f"{after / 100:.2f}"
    assert shown["postCommand"]["id"] == final["id"]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_overpayment_leaves_a_credit_and_a_positive_refund_is_applied_as_a_debit(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given lines of $40.00 and $60.00
    world = await make_world(sessions, [4000, 6000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when a $150.00 payment is applied to the visit
    pay = await must_create(client, token, codes.payer_gid, "PY", "150")
    await must_add(client, token, pay["id"], "150")
    assert (await post_and_wait(client, token, pay["id"], "pay"))["status"] == "APPLIED"
    # then the lines are paid in line order and the $50.00 remainder is a credit on the last line
    assert await balances(sessions, world.tenant_id) == [0, -5000]
    # when a $50.00 refund, entered positive, is applied to the visit
    refund = await must_create(client, token, codes.payer_gid, "RF", "50.00")
    await must_add(client, token, refund["id"], "50.00")
    assert (await post_and_wait(client, token, refund["id"], "refund"))["status"] == "APPLIED"
    # then it posts as a +50.00 debit that brings the credit line back to zero
    entries = await posted_entries(sessions, world.tenant_id)
    assert [(e[0], e[1], e[2]) for e in entries] == [
        (world.line_ids[0], -4000, "PAYMENT"),
        (world.line_ids[1], -11000, "PAYMENT"),
        (world.line_ids[1], 5000, "REFUND"),
    ]
    assert await balances(sessions, world.tenant_id) == [0, 0]
    assert await ledger_drift(sessions, world.tenant_id) == []


@pytest.mark.parametrize("type_", ["CW", "BD", "AD"])
async def test_reduction_past_zero_is_rejected_and_the_transaction_returns_to_wip(
    client, sessions: SessionFactory, settings: Settings, type_: str
) -> None:
    # given a visit with a $100.00 balance
    world = await make_world(sessions, [6000, 4000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when a $100.01 transaction of a write-off or adjustment type is applied and posted
    txn = await must_create(client, token, codes.payer_gid, type_, "100.01")
    await must_add(client, token, txn["id"], "100.01")
    final = await post_and_wait(client, token, txn["id"])
    # then the worker rejects it for exceeding the balance
    assert (final["status"], final["errorCode"]) == ("REJECTED", "EXCEEDS_BALANCE")
    # and the transaction is back in work in progress with the reason, editable again
    shown = await read_transaction(client, token, txn["id"])
    assert (shown["status"], shown["lastErrorCode"]) == ("WORK_IN_PROGRESS", "EXCEEDS_BALANCE")
    assert "100.00" in shown["lastErrorMessage"]
    assert shown["entries"] == []
    # and nothing was written
    assert await posted_entries(sessions, world.tenant_id) == []
    assert await balances(sessions, world.tenant_id) == [6000, 4000]
    # and still editable: its application can be changed
    [application] = shown["applications"]
    changed = await mutate(
        client,
        CHANGE_APPLICATION,
        {"input": {"applicationId": application["id"], "amount": "100.00"}},
        token,
    )
    assert changed["userErrors"] == []
    assert changed["transaction"]["unappliedAmount"] == "0.01"
    assert await ledger_drift(sessions, world.tenant_id) == []


# --- work in progress ---------------------------------------------------------------------------


async def test_posting_is_refused_until_the_applications_sum_to_the_amount(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 payment and a visit with $300.00 over two visits
    world = await make_world(sessions, [20000])
    await add_visit(sessions, world, [10000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    txn = await must_create(client, token, codes.payer_gid, "PY", "100.00")
    # when it is posted with no application
    refused = await post_transaction(client, token, txn["id"], "none")
    # then it is refused: there is nothing to apply it to
    assert codes_of(refused) == [("transactionId", "NO_APPLICATIONS")]
    assert refused["command"] is None
    # when $80.00 is applied to visit 1 and it is posted
    shown = await must_add(client, token, txn["id"], "80", visit_number=1)
    assert (shown["appliedAmount"], shown["unappliedAmount"]) == ("80.00", "20.00")
    refused = await post_transaction(client, token, txn["id"], "short")
    # then it is refused with the difference
    assert codes_of(refused) == [("transactionId", "TRANSACTION_UNBALANCED")]
    assert refused["userErrors"][0]["message"] == "Applied 80.00 of 100.00: 20.00 left to apply."
    # when $30.00 more goes to visit 2 (too much) and it is posted
    shown = await must_add(client, token, txn["id"], "30.00", visit_number=2)
    refused = await post_transaction(client, token, txn["id"], "over")
    # then it is refused with the excess
    assert refused["userErrors"][0]["message"] == (
        "Applied 110.00 of 100.00: 10.00 applied too much."
    )
    # when visit 2's application is changed to $20.00 and it is posted
    by_visit = {a["visitNumber"]: a for a in shown["applications"]}
    changed = await mutate(
        client,
        CHANGE_APPLICATION,
        {"input": {"applicationId": by_visit[2]["id"], "amount": "20.00"}},
        token,
    )
    assert changed["userErrors"] == []
    assert changed["transaction"]["unappliedAmount"] == "0.00"
    # then nothing has moved yet (work in progress changes no balance)
    assert await balances(sessions, world.tenant_id) == [20000, 10000]
    assert await posted_entries(sessions, world.tenant_id) == []
    assert (await post_and_wait(client, token, txn["id"], "even"))["status"] == "APPLIED"
    # and the posting paid $80.00 on visit 1 and $20.00 on visit 2
    assert await balances(sessions, world.tenant_id) == [12000, 8000]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_removed_application_is_not_posted(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $50.00 finance charge applied to visit 1 and to visit 2
    world = await make_world(sessions, [10000])
    await add_visit(sessions, world, [10000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    txn = await must_create(client, token, codes.payer_gid, "FC", "50.00")
    await must_add(client, token, txn["id"], "25.00", visit_number=1)
    shown = await must_add(client, token, txn["id"], "25.00", visit_number=2)
    # when visit 2's application is removed and visit 1's changed to $50.00
    by_visit = {a["visitNumber"]: a for a in shown["applications"]}
    removed = await mutate(client, REMOVE_APPLICATION, {"id": by_visit[2]["id"]}, token)
    assert removed["userErrors"] == []
    assert [a["visitNumber"] for a in removed["transaction"]["applications"]] == [1]
    changed = await mutate(
        client,
        CHANGE_APPLICATION,
        {"input": {"applicationId": by_visit[1]["id"], "amount": "50"}},
        token,
    )
    assert changed["userErrors"] == []
    assert (await post_and_wait(client, token, txn["id"]))["status"] == "APPLIED"
    # then only visit 1 was charged
    assert await balances(sessions, world.tenant_id) == [15000, 10000]
    assert await counts(sessions, world.tenant_id) == (1, 1)


async def test_a_posted_transaction_cannot_be_edited_or_posted_again(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a posted $10.00 payment on visit 1, and a second visit
    world = await make_world(sessions, [10000])
    await add_visit(sessions, world, [10000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    txn = await must_create(client, token, codes.payer_gid, "PY", "10.00")
    shown = await must_add(client, token, txn["id"], "10.00", visit_number=1)
    [application] = shown["applications"]
    assert (await post_and_wait(client, token, txn["id"]))["status"] == "APPLIED"
    # when an application is added, changed or removed, or it is posted under a new key
    added = await add_application(client, token, txn["id"], "1.00", visit_number=2)
    changed = await mutate(
        client,
        CHANGE_APPLICATION,
        {"input": {"applicationId": application["id"], "amount": "5.00"}},
        token,
    )
    removed = await mutate(client, REMOVE_APPLICATION, {"id": application["id"]}, token)
    reposted = await post_transaction(client, token, txn["id"], "second")
    # then each is refused as not editable
    for payload in (added, changed, removed, reposted):
        assert codes_of(payload) == [("transactionId", "TRANSACTION_NOT_EDITABLE")], payload
        assert "POSTED" in payload["userErrors"][0]["message"]
    # and nothing changed
    assert await counts(sessions, world.tenant_id) == (1, 1)
    assert await balances(sessions, world.tenant_id) == [9000, 10000]
    assert len(await posted_entries(sessions, world.tenant_id)) == 1


# --- several visits and accounts ----------------------------------------------------------------


async def test_posting_over_visits_and_accounts_is_all_or_nothing(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given A1 visit 1 ($100.00), A1 visit 2 ($50.00) and A2 visit 1 ($30.00)
    world = await make_world(sessions, [10000])
    await add_visit(sessions, world, [5000])
    await add_visit(sessions, world, [3000], account_number="A2", visit_number=1)
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when a $150.00 bad-debt write-off applies $100 + $10 on A1 and $40 (too much) on A2
    txn = await must_create(client, token, codes.payer_gid, "BD", "150.00")
    await must_add(client, token, txn["id"], "100.00", visit_number=1)
    await must_add(client, token, txn["id"], "10.00", visit_number=2)
    await must_add(client, token, txn["id"], "40.00", account_number="A2", visit_number=1)
    final = await post_and_wait(client, token, txn["id"])
    # then the whole posting is rejected, naming the application that broke the rule
    assert (final["status"], final["errorCode"]) == ("REJECTED", "EXCEEDS_BALANCE")
    # and nothing was posted on any visit or account
    assert await posted_entries(sessions, world.tenant_id) == []
    assert await balances(sessions, world.tenant_id) == [10000, 5000, 3000]
    assert (await read_transaction(client, token, txn["id"]))["status"] == "WORK_IN_PROGRESS"
    assert await ledger_drift(sessions, world.tenant_id) == []
    # when a $150.00 payment is spread the same way (a payment may go into credit)
    pay = await must_create(client, token, codes.payer_gid, "PY", "150.00")
    await must_add(client, token, pay["id"], "100.00", visit_number=1)
    await must_add(client, token, pay["id"], "10.00", visit_number=2)
    await must_add(client, token, pay["id"], "40.00", account_number="A2", visit_number=1)
    assert (await post_and_wait(client, token, pay["id"], "pay"))["status"] == "APPLIED"
    # then every application is posted
    assert await balances(sessions, world.tenant_id) == [0, 4000, -1000]
    async with sessions() as session:
        accounts = await session.execute(
            select(Account.account_number, Account.balance_cents)
            .where(Account.tenant_id == world.tenant_id)
            .order_by(Account.account_number)
        )
        assert list(map(tuple, accounts)) == [("A1", 4000), ("A2", -1000)]
    # and the projection matches the ledger (A2's credit comes from a payment)
    assert await ledger_drift(sessions, world.tenant_id) == []


# --- codes and dates ----------------------------------------------------------------------------


async def test_code_defaults_from_the_payer_and_can_be_overridden_by_its_type(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given codes PY01 (payer 1's PY default) and PY02, and CW01 of another type
    world = await make_world(sessions, [10000])
    codes = await setup_codes(sessions, world, defaults=("PY",))
    token = world.token(settings, EVERY_SCOPE)
    # when a payment is created with no code, then with PY02
    defaulted = await must_create(client, token, codes.payer_gid, "PY", "1.00")
    overridden = await must_create(client, token, codes.payer_gid, "PY", "1.00", code="PY02")
    # then the first has the payer's default and the second the code given
    assert defaulted["code"] == {"code": "PY01", "type": "PY"}
    assert overridden["code"] == {"code": "PY02", "type": "PY"}
    # when a payment names a CW code, or a bad debt has no code and payer 1 has no BD default
    mismatch = await create_transaction(client, token, codes.payer_gid, "PY", "1.00", code="CW01")
    no_default = await create_transaction(client, token, codes.payer_gid, "BD", "1.00")
    # then each gets its typed error and no transaction is stored
    assert codes_of(mismatch) == [("code", "CODE_TYPE_MISMATCH")]
    assert mismatch["transaction"] is None
    assert codes_of(no_default) == [("code", "NO_DEFAULT_CODE")]
    assert "enter a code" in no_default["userErrors"][0]["message"]
    assert await counts(sessions, world.tenant_id) == (2, 0)


async def test_overridden_code_is_carried_by_the_posted_entries(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a visit with $100.00
    world = await make_world(sessions, [10000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when a $10.00 adjustment with code AD02 is posted
    txn = await must_create(client, token, codes.payer_gid, "AD", "10.00", code="AD02")
    await must_add(client, token, txn["id"], "10.00")
    assert (await post_and_wait(client, token, txn["id"]))["status"] == "APPLIED"
    # then its entry carries AD02
    [entry] = await posted_entries(sessions, world.tenant_id)
    assert entry[7] == codes.alternative["AD"]


async def test_transaction_date_defaults_to_today_in_the_tenant_time_zone(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant in Pacific time
    world = await make_world(sessions, [10000])
    codes = await setup_codes(sessions, world)
    async with sessions() as session, session.begin():
        await session.execute(
            Tenant.__table__.update()
            .where(Tenant.id == world.tenant_id)
            .values(time_zone="America/Los_Angeles")
        )
    token = world.token(settings, EVERY_SCOPE)
    # when a payment is created with no date
    before = datetime.now(ZoneInfo("America/Los_Angeles")).date().isoformat()
    txn = await must_create(client, token, codes.payer_gid, "PY", "5.00")
    after = datetime.now(ZoneInfo("America/Los_Angeles")).date().isoformat()
    # then its date is today there
    assert txn["transactionDate"] in {before, after}


# --- bad input ----------------------------------------------------------------------------------


async def test_whole_dollars_are_accepted_and_three_decimals_are_refused(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a visit and codes
    world = await make_world(sessions, [10000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when a payment of "100" is created
    whole = await must_create(client, token, codes.payer_gid, "PY", "100")
    # then it is $100.00
    assert whole["amount"] == "100.00"
    # when a payment of "10.005" is created, or an application of "10.005" added
    bad = await create_transaction(client, token, codes.payer_gid, "PY", "10.005")
    bad_app = await add_application(client, token, whole["id"], "10.005")
    # then both are refused as too many decimals and nothing more is stored
    assert codes_of(bad) == [("amount", "TOO_MANY_DECIMALS")]
    assert codes_of(bad_app) == [("amount", "TOO_MANY_DECIMALS")]
    assert bad["transaction"] is None and bad_app["transaction"] is None
    assert await counts(sessions, world.tenant_id) == (1, 0)
    assert await balances(sessions, world.tenant_id) == [10000]


async def test_unknown_payer_is_refused(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant, and another tenant whose payer 1 exists
    world = await make_world(sessions, [10000])
    other = await make_world(sessions, [10000])
    await setup_codes(sessions, world)
    other_codes = await setup_codes(sessions, other)
    token = world.token(settings, EVERY_SCOPE)
    # when a payment names a payer that does not exist, or the other tenant's payer
    missing = await create_transaction(client, token, gid("Payer", 2**40), "PY", "1.00")
    foreign = await create_transaction(client, token, other_codes.payer_gid, "PY", "1.00")
    # then both are refused as payer not found and nothing is stored
    assert codes_of(missing) == [("payerId", "PAYER_NOT_FOUND")]
    assert codes_of(foreign) == [("payerId", "PAYER_NOT_FOUND")]
    assert await counts(sessions, world.tenant_id) == (0, 0)
    assert await counts(sessions, other.tenant_id) == (0, 0)


async def test_visit_must_belong_to_the_account(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given A1 with visit 1, and A2 with visit 7
    world = await make_world(sessions, [10000])
    await add_visit(sessions, world, [3000], account_number="A2", visit_number=7)
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    txn = await must_create(client, token, codes.payer_gid, "PY", "10.00")
    # when an application names A1 visit 7 (A2's), or A1 visit 99 (nobody's)
    foreign = await add_application(client, token, txn["id"], "10.00", visit_number=7)
    unknown = await add_application(client, token, txn["id"], "10.00", visit_number=99)
    # then each is refused as visit not found, and no application is stored
    assert codes_of(foreign) == [("visitNumber", "VISIT_NOT_FOUND")]
    assert codes_of(unknown) == [("visitNumber", "VISIT_NOT_FOUND")]
    assert await counts(sessions, world.tenant_id) == (1, 0)
    assert await balances(sessions, world.tenant_id) == [10000, 3000]


async def test_newest_visit_is_used_when_no_visit_number_is_given(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given A1 visit 1 (1 Oct) and visit 2 (5 Oct)
    world = await make_world(sessions, [10000])
    await add_visit(sessions, world, [5000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when a $20.00 payment is applied to A1 without a visit number and posted
    txn = await must_create(client, token, codes.payer_gid, "PY", "20.00")
    shown = await must_add(client, token, txn["id"], "20.00")
    # then it went to visit 2, showing its current balance
    [application] = shown["applications"]
    assert (application["visitNumber"], application["visitBalance"]) == (2, "50.00")
    assert (await post_and_wait(client, token, txn["id"]))["status"] == "APPLIED"
    assert await balances(sessions, world.tenant_id) == [10000, 3000]


# --- scopes and tenants -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "needed", "lacking"),
    [
        ("PY", PAYMENT, ADJUST),
        ("CW", ADJUST, PAYMENT),
        ("BD", PAYMENT, ADJUST),
        ("FC", PAYMENT, ADJUST),
        ("AD", ADJUST, PAYMENT),
        ("AC", PAYMENT, ADJUST),
        ("RF", PAYMENT, ADJUST),
    ],
)
async def test_each_type_needs_its_scope(
    client, sessions: SessionFactory, settings: Settings, type_: str, needed: str, lacking: str
) -> None:
    # given codes for every type
    world = await make_world(sessions, [10000])
    codes = await setup_codes(sessions, world)
    # when the type is created by a caller holding only the other writer scope
    refused = await create_transaction(
        client, world.token(settings, f"{READ} {lacking}"), codes.payer_gid, type_, "1.00"
    )
    # then it is forbidden and nothing is stored
    assert codes_of(refused) == [("type", "FORBIDDEN")]
    assert needed in refused["userErrors"][0]["message"]
    assert await counts(sessions, world.tenant_id) == (0, 0)
    # when a caller with the needed scope creates it, the other may not apply or post it
    token = world.token(settings, f"{READ} {needed}")
    txn = await must_create(client, token, codes.payer_gid, type_, "1.00")
    other = world.token(settings, f"{READ} {lacking}")
    assert codes_of(await add_application(client, other, txn["id"], "1.00")) == [
        ("type", "FORBIDDEN")
    ]
    await must_add(client, token, txn["id"], "1.00")
    assert codes_of(await post_transaction(client, other, txn["id"])) == [("type", "FORBIDDEN")]
    assert await posted_entries(sessions, world.tenant_id) == []
    # and the caller with the needed scope posts it
    assert (await post_and_wait(client, token, txn["id"]))["status"] == "APPLIED"


async def test_read_only_and_anonymous_callers_are_refused(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given codes for every type
    world = await make_world(sessions, [10000])
    codes = await setup_codes(sessions, world)
    # when a payment is created with a read-only token, and with no token
    read_only = await create_transaction(
        client, world.token(settings, READ), codes.payer_gid, "PY", "1.00"
    )
    anonymous = await create_transaction(client, None, codes.payer_gid, "PY", "1.00")
    # then they are forbidden and unauthenticated, and nothing is stored
    assert codes_of(read_only) == [(None, "FORBIDDEN")]
    assert codes_of(anonymous) == [(None, "UNAUTHENTICATED")]
    assert await counts(sessions, world.tenant_id) == (0, 0)


async def test_another_tenants_transaction_is_not_found(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a work-in-progress payment with an application in another tenant
    owner = await make_world(sessions, [10000])
    owner_codes = await setup_codes(sessions, owner)
    owner_token = owner.token(settings, EVERY_SCOPE)
    txn = await must_create(client, owner_token, owner_codes.payer_gid, "PY", "10.00")
    shown = await must_add(client, owner_token, txn["id"], "10.00")
    [application] = shown["applications"]
    world = await make_world(sessions, [10000])
    await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when this tenant applies, changes, removes, posts or reads it
    added = await add_application(client, token, txn["id"], "1.00")
    posted = await post_transaction(client, token, txn["id"])
    changed = await mutate(
        client,
        CHANGE_APPLICATION,
        {"input": {"applicationId": application["id"], "amount": "1.00"}},
        token,
    )
    removed = await mutate(client, REMOVE_APPLICATION, {"id": application["id"]}, token)
    body = await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": txn["id"]}, token)
    # then it does not exist for this tenant and nothing changed for the owner
    assert codes_of(added) == [("transactionId", "TRANSACTION_NOT_FOUND")]
    assert codes_of(posted) == [("transactionId", "TRANSACTION_NOT_FOUND")]
    assert codes_of(changed) == [("applicationId", "APPLICATION_NOT_FOUND")]
    assert codes_of(removed) == [("applicationId", "APPLICATION_NOT_FOUND")]
    assert body["data"]["node"] is None
    assert await counts(sessions, owner.tenant_id) == (1, 1)
    still = await read_transaction(client, owner_token, txn["id"])
    assert (still["status"], still["applications"][0]["amount"]) == ("WORK_IN_PROGRESS", "10.00")


# --- idempotency and queries --------------------------------------------------------------------


async def test_posting_twice_with_one_key_returns_the_same_command(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a balanced $25.00 payment
    world = await make_world(sessions, [10000])
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    txn = await must_create(client, token, codes.payer_gid, "PY", "25.00")
    await must_add(client, token, txn["id"], "25.00")
    # when it is posted, and posted again with the same key after it was applied
    final = await post_and_wait(client, token, txn["id"], "same-key")
    again = await post_transaction(client, token, txn["id"], "same-key")
    # then the second answer is the first command, and it was applied once
    assert again["userErrors"] == []
    assert again["command"]["id"] == final["id"]
    assert await balances(sessions, world.tenant_id) == [7500]
    assert len(await posted_entries(sessions, world.tenant_id)) == 1


async def test_transactions_query_filters_by_status_and_account(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a posted payment on A1 and a work-in-progress charge on A2
    world = await make_world(sessions, [10000])
    await add_visit(sessions, world, [3000], account_number="A2", visit_number=1)
    codes = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    pay = await must_create(client, token, codes.payer_gid, "PY", "5.00")
    await must_add(client, token, pay["id"], "5.00")
    assert (await post_and_wait(client, token, pay["id"]))["status"] == "APPLIED"
    charge = await must_create(client, token, codes.payer_gid, "AC", "7.00")
    await must_add(client, token, charge["id"], "7.00", account_number="A2")
    query = """
    query($status: TransactionStatus, $account: String) {
      transactions(status: $status, accountNumber: $account) { nodes { id type status } }
    }"""

    async def ids(status: str | None, account: str | None) -> list[str]:
        body = await gql(client, query, {"status": status, "account": account}, token)
        assert "errors" not in body, body
        return [n["id"] for n in body["data"]["transactions"]["nodes"]]

    # when they are listed by status and by account, then each filter finds its own
    assert await ids(None, None) == [pay["id"], charge["id"]]
    assert await ids("POSTED", None) == [pay["id"]]
    assert await ids("WORK_IN_PROGRESS", None) == [charge["id"]]
    assert await ids(None, "A2") == [charge["id"]]
    assert await ids("POSTED", "A2") == []
