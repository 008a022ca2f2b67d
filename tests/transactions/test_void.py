"""Voiding posted transactions, the contractual write-off default, transaction queries and
balance subscriptions: over HTTP against the running server, applied by the real worker."""

from typing import Any

import httpx
from sqlalchemy import select

from arledger.config import Settings
from domain.db import SessionFactory
from domain.models import LedgerEntry, Payer
from tests.ledger.test_subscriptions import ACCOUNT_BALANCE, subscriber
from tests.reversals.ops import REVERSE_ENTRY, add_visit, codes, line_balance, reverse_input, stored
from tests.support.client import gid, gql
from tests.support.factories import World, ledger_drift, make_world
from tests.transactions.void_ops import (
    EVERY_SCOPE,
    apply_to,
    audit_rows,
    configure_codes,
    create,
    node,
    pk,
    post_and_wait,
    set_visit,
    transaction_entries,
    transaction_row,
    void,
    void_and_wait,
)

VISITS = """
query($account: String!) {
  account(accountNumber: $account) {
    balance visits { visitNumber balance contractualWriteOffDefault }
  }
}"""
TRANSACTIONS = """
query(
  $status: TransactionStatus, $payerId: ID, $dateFrom: Date, $dateTo: Date, $accountNumber: String
) {
  transactions(
    status: $status, payerId: $payerId, dateFrom: $dateFrom, dateTo: $dateTo,
    accountNumber: $accountNumber
  ) { nodes { id } }
}"""


async def ready(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, balances: list[int]
) -> tuple[World, str, str]:
    """A world with a code and payer-1 default for every type: (world, token, payer id)."""
    world = await make_world(sessions, balances)
    token = world.token(settings, EVERY_SCOPE)
    payer = await configure_codes(client, sessions, world, token)
    return world, token, payer


async def posted(
    client: httpx.AsyncClient,
    token: str,
    payer: str,
    type_: str,
    amount: str,
    applications: list[tuple[str, int | None, str]],
    key: str,
    contractual: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """A transaction applied as given and posted by the worker: (its id, the final command)."""
    txn = await create(client, token, payer, type_, amount)
    for account, visit, cents in applications:
        added = await apply_to(client, token, txn["id"], account, cents, visit, contractual)
        assert added["userErrors"] == [], added
    return txn["id"], await post_and_wait(client, token, txn["id"], key)


async def defaults(client: httpx.AsyncClient, token: str, account: str = "A1") -> dict[int, str]:
    body = await gql(client, VISITS, {"account": account}, token)
    assert "errors" not in body, body
    visits = body["data"]["account"]["visits"]
    return {v["visitNumber"]: v["contractualWriteOffDefault"] for v in visits}


async def balances(sessions: SessionFactory, line_ids: list[int]) -> list[int | None]:
    return [await line_balance(sessions, i) for i in line_ids]


# Voiding


async def test_void_restores_every_balance_with_paired_audit_rows(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given account A1 with visit 1 ($100.00 + $50.00) and visit 2 ($80.00), account A2 with a
    # $60.00 visit, and a $180.00 payment posted across all three visits
    world, token, payer = await ready(client, sessions, settings, [10000, 5000])
    visit2 = await add_visit(sessions, world, [8000])
    other = await add_visit(sessions, world, [6000], new_account=True)
    lines = [*world.line_ids, *visit2.line_ids, *other.line_ids]
    txn_id, _ = await posted(
        client,
        token,
        payer,
        "PY",
        "180",
        [("A1", 1, "120.00"), ("A1", 2, "30.00"), ("A2", 1, "30.00")],
        "post",
    )
    txn_pk = pk(txn_id, "Transaction")
    assert await balances(sessions, lines) == [0, 3000, 5000, 3000]
    originals = await transaction_entries(sessions, txn_pk)
    assert [(e.kind, e.amount_cents) for e in originals] == [
        ("PAYMENT", -10000),
        ("PAYMENT", -2000),
        ("PAYMENT", -3000),
        ("PAYMENT", -3000),
    ]
    # when it is voided with a reason
    final = await void_and_wait(client, token, txn_id, "void", "  posted to the wrong patient ")
    void_pk = pk(final["id"], "Command")
    # then every balance is back where it was, on lines, visits and accounts
    assert await balances(sessions, lines) == [10000, 5000, 8000, 6000]
    assert (await gql(client, VISITS, {"account": "A1"}, token))["data"]["account"][
        "balance"
    ] == "230.00"
    assert (await gql(client, VISITS, {"account": "A2"}, token))["data"]["account"][
        "balance"
    ] == "60.00"
    # and each entry is reversed exactly once, the reversal carrying the transaction
    entries = await transaction_entries(sessions, txn_pk)
    reversals = [e for e in entries if e.reverses_entry_id is not None]
    assert len(entries) == 8
    assert sorted(r.reverses_entry_id or 0 for r in reversals) == [e.id for e in originals]
    by_original = {r.reverses_entry_id: r for r in reversals}
    for original in originals:
        reversal = by_original[original.id]
        assert (reversal.kind, reversal.amount_cents, reversal.line_id) == (
            "PAYMENT",
            -original.amount_cents,
            original.line_id,
        )
        assert (reversal.transaction_id, reversal.command_id) == (txn_pk, void_pk)
        assert reversal.reason == "posted to the wrong patient"
    # and the void wrote exactly two audit rows per reversed entry, paired both ways
    rows = await audit_rows(sessions, void_pk)
    assert len(rows) == 2 * len(originals)
    by_id = {r.id: r for r in rows}
    for original in originals:
        reversal = by_original[original.id]
        [mine] = [r for r in rows if r.entry_id == reversal.id]
        [theirs] = [r for r in rows if r.entry_id == original.id]
        assert (mine.action, theirs.action) == ("PAYMENT_REVERSAL", "PAYMENT_REVERSED")
        assert (mine.paired_audit_id, theirs.paired_audit_id) == (theirs.id, mine.id)
        assert by_id[mine.paired_audit_id or 0] is theirs
        assert mine.balance_after_cents == theirs.balance_after_cents
    # and the transaction is VOIDED with its reason, showing both postings and reversals
    txn = await node(client, token, txn_id)
    assert (txn["status"], txn["voidReason"]) == ("VOIDED", "posted to the wrong patient")
    assert sorted(e["amount"] for e in txn["entries"]) == sorted(
        ["-100.00", "-20.00", "-30.00", "-30.00", "100.00", "20.00", "30.00", "30.00"]
    )
    assert len([e for e in txn["entries"] if e["reversesEntryId"]]) == 4
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_voiding_twice_is_refused_and_stores_nothing(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $40.00 payment posted and voided
    world, token, payer = await ready(client, sessions, settings, [10000])
    txn_id, _ = await posted(client, token, payer, "PY", "40", [("A1", None, "40")], "post")
    await void_and_wait(client, token, txn_id, "void-1", "duplicate")
    before = await stored(sessions, world.tenant_id)
    # when it is voided again (another key)
    payload = await void(client, token, txn_id, "void-2", "again")
    # then TRANSACTION_NOT_POSTED, no command, nothing stored, balance unchanged
    assert codes(payload) == [("transactionId", "TRANSACTION_NOT_POSTED")]
    assert payload["command"] is None
    assert await stored(sessions, world.tenant_id) == before
    assert await line_balance(sessions, world.line_ids[0]) == 10000
    assert (await transaction_row(sessions, pk(txn_id, "Transaction"))).status == "VOIDED"
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_voiding_work_in_progress_is_refused(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a balanced $25.00 payment that is not posted
    world, token, payer = await ready(client, sessions, settings, [10000])
    txn = await create(client, token, payer, "PY", "25")
    assert (await apply_to(client, token, txn["id"], "A1", "25"))["userErrors"] == []
    before = await stored(sessions, world.tenant_id)
    # when it is voided
    payload = await void(client, token, txn["id"], "void", "never mind")
    # then TRANSACTION_NOT_POSTED; still WORK_IN_PROGRESS, nothing stored
    assert codes(payload) == [("transactionId", "TRANSACTION_NOT_POSTED")]
    assert payload["command"] is None
    assert await stored(sessions, world.tenant_id) == before
    assert (await node(client, token, txn["id"]))["status"] == "WORK_IN_PROGRESS"
    assert await line_balance(sessions, world.line_ids[0]) == 10000


async def test_voiding_without_a_reason_is_refused(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a posted $40.00 payment
    world, token, payer = await ready(client, sessions, settings, [10000])
    txn_id, _ = await posted(client, token, payer, "PY", "40", [("A1", None, "40")], "post")
    before = await stored(sessions, world.tenant_id)
    # when it is voided with a blank reason
    payload = await void(client, token, txn_id, "void", "   ")
    # then REASON_REQUIRED; still POSTED, nothing stored
    assert codes(payload) == [("reason", "REASON_REQUIRED")]
    assert payload["command"] is None
    assert await stored(sessions, world.tenant_id) == before
    txn = await node(client, token, txn_id)
    assert (txn["status"], txn["voidReason"]) == ("POSTED", None)
    assert await line_balance(sessions, world.line_ids[0]) == 6000


async def test_reversing_an_entry_a_transaction_posted_is_refused(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a posted $40.00 payment
    world, token, payer = await ready(client, sessions, settings, [10000])
    txn_id, _ = await posted(client, token, payer, "PY", "40", [("A1", None, "40")], "post")
    [entry] = await transaction_entries(sessions, pk(txn_id, "Transaction"))
    before = await stored(sessions, world.tenant_id)
    # when its entry is reversed on its own
    body = await gql(client, REVERSE_ENTRY, reverse_input("rev", entry.id), token)
    payload = body["data"]["reverseEntry"]
    # then ENTRY_IN_TRANSACTION, nothing stored, balance unchanged
    assert codes(payload) == [("entryId", "ENTRY_IN_TRANSACTION")]
    assert payload["command"] is None
    assert await stored(sessions, world.tenant_id) == before
    assert await line_balance(sessions, world.line_ids[0]) == 6000


# Contractual write-off default


async def test_contractual_default_in_its_three_cases(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given visit 1 billed $200.00 with a $120.00 contract fee, visit 2 ($50.00) with none
    world, token, payer = await ready(client, sessions, settings, [20000])
    await set_visit(sessions, world.visit_id, contract_fee_cents=12000)
    await add_visit(sessions, world, [5000])
    # then with no contractual write-off applied the default is billed - contract fee; none due
    # without a contract fee
    assert await defaults(client, token) == {1: "80.00", 2: "0.00"}
    # when $30.00 of contractual write-off (CW) is posted on visit 1
    await posted(client, token, payer, "CW", "30", [("A1", 1, "30")], "cw-1")
    # then the default is the difference
    assert await defaults(client, token) == {1: "50.00", 2: "0.00"}
    # when the remaining $50.00 is posted
    await posted(client, token, payer, "CW", "50", [("A1", 1, "50")], "cw-2")
    # then nothing is due any more
    assert await defaults(client, token) == {1: "0.00", 2: "0.00"}
    assert await line_balance(sessions, world.line_ids[0]) == 12000
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_contractual_default_rises_again_when_its_write_off_is_voided(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a visit billed $200.00, contract fee $150.00, with its $50.00 CW posted
    world, token, payer = await ready(client, sessions, settings, [20000])
    await set_visit(sessions, world.visit_id, contract_fee_cents=15000)
    txn_id, _ = await posted(client, token, payer, "CW", "50", [("A1", 1, "50")], "cw")
    assert await defaults(client, token) == {1: "0.00"}
    # when the CW transaction is voided
    await void_and_wait(client, token, txn_id, "void", "wrong contract")
    # then the default is due again (net of the reversal)
    assert await defaults(client, token) == {1: "50.00"}
    assert await line_balance(sessions, world.line_ids[0]) == 20000


async def test_payment_with_a_contractual_line_posts_both_in_one_command(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a visit billed $200.00 with a $120.00 contract fee (default $80.00)
    world, token, payer = await ready(client, sessions, settings, [20000])
    await set_visit(sessions, world.visit_id, contract_fee_cents=12000)
    assert await defaults(client, token) == {1: "80.00"}
    # when a $100.00 payment is applied with a $30.00 contractual write-off and posted
    txn = await create(client, token, payer, "PY", "100")
    added = await apply_to(client, token, txn["id"], "A1", "100", contractual="30.00")
    assert added["userErrors"] == [], added
    assert added["transaction"]["applications"][0]["contractualAmount"] == "30.00"
    final = await post_and_wait(client, token, txn["id"], "post")
    # then one command wrote a PAYMENT and a contractual CO-45 ADJUSTMENT
    entries = await transaction_entries(sessions, pk(txn["id"], "Transaction"))
    assert [(e.kind, e.amount_cents, e.category, e.carc_group, e.carc_reason) for e in entries] == [
        ("PAYMENT", -10000, None, None, None),
        ("ADJUSTMENT", -3000, "contractual", "CO", "45"),
    ]
    assert {e.command_id for e in entries} == {pk(final["id"], "Command")}
    # and the balance fell by both, and the default dropped by the contractual amount
    assert await line_balance(sessions, world.line_ids[0]) == 7000
    assert await defaults(client, token) == {1: "50.00"}
    read = await node(client, token, txn["id"])
    assert [(e["kind"], e["amount"]) for e in read["entries"]] == [
        ("PAYMENT", "-100.00"),
        ("ADJUSTMENT", "-30.00"),
    ]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_contractual_amount_only_goes_with_a_payment(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $10.00 bad-debt transaction
    _, token, payer = await ready(client, sessions, settings, [10000])
    txn = await create(client, token, payer, "BD", "10")
    # when an application carries a contractual amount
    payload = await apply_to(client, token, txn["id"], "A1", "10", contractual="5")
    # then CONTRACTUAL_ONLY_WITH_PAYMENT and no application was added
    assert codes(payload) == [("contractualAmount", "CONTRACTUAL_ONLY_WITH_PAYMENT")]
    read = await node(client, token, txn["id"])
    assert (read["applications"], read["appliedAmount"], read["unappliedAmount"]) == (
        [],
        "0.00",
        "10.00",
    )


# Queries


async def test_transactions_filter_and_read_by_node(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given A1 ($100.00) and A2 ($60.00), payers 1 and 2, and three transactions:
    # t1 payer 1 PY $10.00 on 2026-01-10 to A1, posted; t2 payer 2 PY $20.00 on 2026-02-10
    # with $15.00 applied to A2, in progress; t3 payer 1 FC $5.00 on 2026-03-10 split
    # $2.50 / $2.50 over A1 and A2, posted
    world, token, payer1 = await ready(client, sessions, settings, [10000])
    await add_visit(sessions, world, [6000], new_account=True)
    async with sessions() as session, session.begin():
        other = Payer(tenant_id=world.tenant_id, code="2", name="Acme Health")
        session.add(other)
        await session.flush()
        payer2 = gid("Payer", other.id)
    t1 = await create(client, token, payer1, "PY", "10", "2026-01-10")
    assert (await apply_to(client, token, t1["id"], "A1", "10"))["userErrors"] == []
    await post_and_wait(client, token, t1["id"], "t1")
    t2 = await create(client, token, payer2, "PY", "20", "2026-02-10", code="PY1")
    assert (await apply_to(client, token, t2["id"], "A2", "15"))["userErrors"] == []
    t3 = await create(client, token, payer1, "FC", "5", "2026-03-10")
    assert (await apply_to(client, token, t3["id"], "A1", "2.5"))["userErrors"] == []
    assert (await apply_to(client, token, t3["id"], "A2", "2.50"))["userErrors"] == []
    await post_and_wait(client, token, t3["id"], "t3")
    ids = {t1["id"]: "t1", t2["id"]: "t2", t3["id"]: "t3"}

    async def found(**filters: str) -> list[str]:
        body = await gql(client, TRANSACTIONS, filters, token)
        assert "errors" not in body, body
        return [ids[n["id"]] for n in body["data"]["transactions"]["nodes"]]

    # when filtered, then exactly the matching ones come back, oldest first
    assert await found() == ["t1", "t2", "t3"]
    assert await found(status="POSTED") == ["t1", "t3"]
    assert await found(status="WORK_IN_PROGRESS") == ["t2"]
    assert await found(status="VOIDED") == []
    assert await found(payerId=payer1) == ["t1", "t3"]
    assert await found(payerId=payer2) == ["t2"]
    assert await found(dateFrom="2026-02-01") == ["t2", "t3"]
    assert await found(dateTo="2026-02-10") == ["t1", "t2"]
    assert await found(dateFrom="2026-02-10", dateTo="2026-02-10") == ["t2"]
    assert await found(accountNumber="A1") == ["t1", "t3"]
    assert await found(accountNumber="A2") == ["t2", "t3"]
    assert await found(accountNumber="A9") == []
    assert await found(status="POSTED", accountNumber="A2") == ["t3"]
    # and a posted transaction read by node shows its applications with current visit
    # balances, applied and unapplied amounts, and its entries
    read = await node(client, token, t3["id"])
    assert [
        (a["accountNumber"], a["visitNumber"], a["amount"], a["visitBalance"])
        for a in read["applications"]
    ] == [("A1", 1, "2.50", "92.50"), ("A2", 1, "2.50", "62.50")]
    assert (read["status"], read["appliedAmount"], read["unappliedAmount"]) == (
        "POSTED",
        "5.00",
        "0.00",
    )
    assert [(e["kind"], e["amount"]) for e in read["entries"]] == [
        ("FINANCE_CHARGE", "2.50"),
        ("FINANCE_CHARGE", "2.50"),
    ]
    # and the work in progress shows what is left to apply and no entries
    wip = await node(client, token, t2["id"])
    assert [
        (a["accountNumber"], a["visitNumber"], a["amount"], a["visitBalance"])
        for a in wip["applications"]
    ] == [("A2", 1, "15.00", "62.50")]
    assert (wip["appliedAmount"], wip["unappliedAmount"], wip["entries"]) == ("15.00", "5.00", [])
    assert await ledger_drift(sessions, world.tenant_id) == []


# Subscriptions


async def test_posting_and_voiding_each_send_one_balance_event(
    client, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $150.00 account and a subscriber that has its snapshot
    world, token, payer = await ready(client, sessions, settings, [10000, 5000])
    async with subscriber(server, token) as sub:
        await sub.subscribe("1", ACCOUNT_BALANCE, {"accountId": gid("Account", world.account_id)})
        snapshot = await sub.next_data("1", "accountBalance")
        assert (snapshot["snapshot"], snapshot["balance"]) == (True, "150.00")
        # when a $40.00 payment is posted
        txn_id, post = await posted(client, token, payer, "PY", "40", [("A1", 1, "40")], "post")
        # then one event arrives for the posting
        posted_event = await sub.next_data("1", "accountBalance")
        await sub.assert_silent(0.5)
        # when it is voided
        voided = await void_and_wait(client, token, txn_id, "void", "wrong account")
        # then one event arrives for the void
        voided_event = await sub.next_data("1", "accountBalance")
        await sub.assert_silent(0.5)
    async with sessions() as session:
        entry_ids = list(
            (
                await session.scalars(
                    select(LedgerEntry.id)
                    .where(LedgerEntry.transaction_id == pk(txn_id, "Transaction"))
                    .order_by(LedgerEntry.id)
                )
            ).all()
        )
    [posting, reversal] = entry_ids
    assert (
        posted_event["snapshot"],
        posted_event["balance"],
        posted_event["commandId"],
        posted_event["entryIds"],
        posted_event["lines"],
    ) == (
        False,
        "110.00",
        post["id"],
        [gid("LedgerEntry", posting)],
        [
            {
                "lineId": gid("ChargeLine", world.line_ids[0]),
                "visitId": gid("Visit", world.visit_id),
                "balance": "60.00",
            }
        ],
    )
    assert (
        voided_event["snapshot"],
        voided_event["balance"],
        voided_event["commandId"],
        voided_event["entryIds"],
        voided_event["lines"],
    ) == (
        False,
        "150.00",
        voided["id"],
        [gid("LedgerEntry", reversal)],
        [
            {
                "lineId": gid("ChargeLine", world.line_ids[0]),
                "visitId": gid("Visit", world.visit_id),
                "balance": "100.00",
            }
        ],
    )
    assert voided_event["version"] == posted_event["version"] + 1
    assert await ledger_drift(sessions, world.tenant_id) == []
