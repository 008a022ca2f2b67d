"""Every mutation leaves exactly one audit row set, written in the same transaction as its
effect, and every row records the actor (the token's `sub`), the tenant, the scopes the token
carried and the request id (the caller's `X-Request-ID`, echoed back).

For each mutation the set is what the request left (`audit_rows.request_id`): for one that the
worker applies, one row per ledger entry its command (or its bulk job's chunks) wrote, paired
for reversals; for a settings or work-in-progress transaction mutation, the one row the
request wrote (what changed, amounts in cents). A replay under the same
idempotency key adds none; a refused request adds none and changes nothing. And when the audit
write itself fails, the effect is rolled back with it: no entries, no balance change.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from graphql import build_schema

from api.schema import schema
from arledger.config import Settings
from domain.db import SessionFactory
from tests.audit.ops import (
    SCOPES,
    Run,
    audit_set,
    charge_entry,
    commands_of,
    entries_of,
    errors,
    fail_audit_inserts,
    ident,
    pk,
    provenance,
    request_id,
    rows_of_commands,
    send,
    shape,
    stop_failing,
)
from tests.audit.remittances import import_remittance, post_remittance, reverse_remittance
from tests.bulk.gql import hold_write_off, wait_job
from tests.security.cases import (
    ADD_APPLICATION,
    APPLY_ADJUSTMENT,
    BULK_SELF_PAY,
    BULK_WRITE_OFF,
    CANCEL_BULK_JOB,
    CHANGE_APPLICATION,
    CREATE_TRANSACTION,
    POST_TRANSACTION,
    REMOVE_APPLICATION,
    REVERSE_BULK_JOB,
    REVERSE_ENTRY,
    SAVE_CODE,
    SET_DEFAULT,
    UPDATE_SETTINGS,
    VOID_TRANSACTION,
    WRITE_OFF,
)
from tests.security.world import holdings, settled
from tests.support.client import gid, gql, wait_final
from tests.support.factories import make_world

Scenario = Callable[[Run], Awaitable[list[tuple[Any, ...]]]]
"""Sends the audited mutation (after any setup) and returns the exact expected shape."""


def _write_off_lines(*lines: tuple[int, str], key: str = "wo", reason: str = "CHARITY") -> Any:
    return {
        "input": {
            "idempotencyKey": key,
            "reason": reason,
            "lines": [{"lineId": gid("ChargeLine", i), "amount": a} for i, a in lines],
        }
    }


async def _final(run: Run, payload: dict[str, Any], status: str = "APPLIED") -> None:
    final = await wait_final(run.client, payload["command"]["id"], run.token)
    assert final["status"] == status, final


async def _write_off(run: Run) -> list[tuple[Any, ...]]:
    l1, l2 = run.world.line_ids
    payload = await run.mutate(WRITE_OFF, _write_off_lines((l1, "10"), (l2, "5")))
    await _final(run, payload)
    run.refuse_with(
        WRITE_OFF,
        _write_off_lines((l1, "0"), key="wo-refused"),
        ("lines.0.amount", "AMOUNT_NOT_POSITIVE"),
    )
    return [
        ("WRITEOFF_APPLIED", "WRITEOFF", False, "L1", 10000, 9000, None, None),
        ("WRITEOFF_APPLIED", "WRITEOFF", False, "L2", 5000, 4500, None, None),
    ]


def _adjustment(key: str, target: str, amount: str, category: str) -> Any:
    return {
        "input": {
            "idempotencyKey": key,
            "target": target,
            "category": category,
            "reason": "contracted-rate-correction",
            "amount": amount,
        }
    }


async def _apply_adjustment(run: Run) -> list[tuple[Any, ...]]:
    visit = gid("Visit", run.world.visit_id)
    payload = await run.mutate(
        APPLY_ADJUSTMENT, _adjustment("adj", visit, "120.00", "contract-correction")
    )
    await _final(run, payload)
    run.refuse_with(
        APPLY_ADJUSTMENT,
        _adjustment("adj-refused", visit, "1.00", "no-such"),
        ("category", "UNKNOWN_CATEGORY"),
    )
    return [
        ("ADJUSTMENT_APPLIED", "ADJUSTMENT", False, "L1", 10000, 0, None, None),
        ("ADJUSTMENT_APPLIED", "ADJUSTMENT", False, "L2", 5000, 3000, None, None),
    ]


async def _reverse_entry(run: Run) -> list[tuple[Any, ...]]:
    l1 = run.world.line_ids[0]
    written = await run.setup(WRITE_OFF, _write_off_lines((l1, "10")))
    await _final(run, written)
    [entry] = await entries_of(run.sessions, [pk(written["command"]["id"])])
    variables = {"idempotencyKey": "rev", "entryId": gid("LedgerEntry", entry), "reason": "typo"}
    payload = await run.mutate(REVERSE_ENTRY, {"input": variables})
    await _final(run, payload)
    charge = gid("LedgerEntry", await charge_entry(run.sessions, l1))
    refused = {"idempotencyKey": "rev-refused", "entryId": charge, "reason": "typo"}
    run.refuse_with(REVERSE_ENTRY, {"input": refused}, ("entryId", "ENTRY_NOT_REVERSIBLE"))
    return [
        ("WRITEOFF_REVERSAL", "WRITEOFF", True, "L1", 9000, 10000, True, None),
        ("WRITEOFF_REVERSED", "WRITEOFF", False, "L1", 9000, 10000, True, None),
    ]


async def _update_settings(run: Run) -> list[tuple[Any, ...]]:
    await run.mutate(UPDATE_SETTINGS, {"input": {"adjustmentReasons": ["payer-error-corrected"]}})
    bad = {"adjustmentReasons": ["contracted-rate-correction"], "timeZone": "Mars/Olympus"}
    run.refuse_with(UPDATE_SETTINGS, {"input": bad}, ("timeZone", "UNKNOWN_TIME_ZONE"))
    return [("SETTINGS_CHANGED", None, None, None, None, None, None, SETTINGS_DIFF)]


SET_EDGES = """
mutation($edges: [Int!]!) {
  setAgingBucketEdges(edges: $edges) { edges userErrors { field code message } }
}
"""


async def _set_aging_edges(run: Run) -> list[tuple[Any, ...]]:
    await run.mutate(SET_EDGES, {"edges": [30, 60, 90]})
    run.refuse_with(SET_EDGES, {"edges": [60, 30]}, ("edges.1", "BUCKETS_NOT_ASCENDING"))
    diff = {
        "before": {"agingBucketEdges": [30, 60, 90, 120]},
        "after": {"agingBucketEdges": [30, 60, 90]},
    }
    return [("SETTINGS_CHANGED", None, None, None, None, None, None, diff)]


SETTINGS_DIFF = {
    "before": {
        "adjustmentReasons": [
            "contracted-rate-correction",
            "dual-eligible-coverage-correction",
            "payer-error-corrected",
        ]
    },
    "after": {"adjustmentReasons": ["payer-error-corrected"]},
}


async def _payment(run: Run, amount: str, contractual: str | None = None) -> dict[str, Any]:
    """A work-in-progress PY transaction of `amount`, applied in full to visit 1 of A1."""
    create = {"payerId": await run.payer_with_codes(), "type": "PY", "amount": amount}
    created = await run.setup(CREATE_TRANSACTION, {"input": create})
    txn = created["transaction"]["id"]
    add = {"transactionId": txn, "accountNumber": "A1", "amount": amount}
    if contractual:
        add["contractualAmount"] = contractual
    return dict((await run.setup(ADD_APPLICATION, {"input": add}))["transaction"])


async def _create_transaction(run: Run) -> list[tuple[Any, ...]]:
    create = {"payerId": await run.payer_with_codes(), "type": "PY", "amount": "30.00"}
    created = await run.mutate(CREATE_TRANSACTION, {"input": create}, replayable=False)
    run.refuse_with(
        CREATE_TRANSACTION, {"input": {**create, "amount": "-1"}}, ("amount", "AMOUNT_NOT_POSITIVE")
    )
    txn = pk(created["transaction"]["id"])
    details = {"transaction": txn, "type": "PY", "amount": 3000, "payer": pk(create["payerId"])}
    return [("TRANSACTION_CREATED", None, None, None, None, None, None, details)]


async def _add_application(run: Run) -> list[tuple[Any, ...]]:
    create = {"payerId": await run.payer_with_codes(), "type": "PY", "amount": "30.00"}
    txn = (await run.setup(CREATE_TRANSACTION, {"input": create}))["transaction"]["id"]
    add = {"transactionId": txn, "accountNumber": "A1", "amount": "30.00"}
    added = await run.mutate(ADD_APPLICATION, {"input": add}, replayable=False)
    run.refuse_with(
        ADD_APPLICATION, {"input": {**add, "amount": "abc"}}, ("amount", "INVALID_AMOUNT")
    )
    application = pk(added["transaction"]["applications"][0]["id"])
    return [_application_row("APPLICATION_ADDED", txn, application, 3000)]


def _application_row(
    action: str, txn: str, application: int, amount: int, **before: Any
) -> tuple[Any, ...]:
    """The audit row of a change to a work-in-progress application (no line, no balances)."""
    details = {"transaction": pk(txn), "type": "PY", "application": application}
    details |= {"amount": amount, "contractual": None, **before}
    return (action, None, None, None, None, None, None, details)


async def _change_application(run: Run) -> list[tuple[Any, ...]]:
    payment = await _payment(run, "30.00")
    application = payment["applications"][0]["id"]
    change = {"applicationId": application, "amount": "20.00"}
    await run.mutate(CHANGE_APPLICATION, {"input": change}, replayable=False)
    run.refuse_with(
        CHANGE_APPLICATION, {"input": {**change, "amount": "0"}}, ("amount", "AMOUNT_NOT_POSITIVE")
    )
    before = {"amount": 3000, "contractual": None}
    changed = _application_row("APPLICATION_CHANGED", payment["id"], pk(application), 2000)
    return [(*changed[:-1], {**changed[-1], "before": before})]


async def _remove_application(run: Run) -> list[tuple[Any, ...]]:
    payment = await _payment(run, "30.00")
    application = payment["applications"][0]["id"]
    await run.mutate(REMOVE_APPLICATION, {"id": application}, replayable=False)
    run.refuse_with(
        REMOVE_APPLICATION, {"id": application}, ("applicationId", "APPLICATION_NOT_FOUND")
    )
    return [_application_row("APPLICATION_REMOVED", payment["id"], pk(application), 3000)]


POSTED = [
    ("TRANSACTION_PY_POSTED", "PAYMENT", False, "L1", 10000, 7000, None, None),
    ("TRANSACTION_PY_POSTED", "ADJUSTMENT", False, "L1", 7000, 6000, None, None),
]


async def _post_transaction(run: Run) -> list[tuple[Any, ...]]:
    txn = (await _payment(run, "30.00", contractual="10.00"))["id"]
    payload = await run.mutate(
        POST_TRANSACTION, {"input": {"idempotencyKey": "post", "transactionId": txn}}
    )
    await _final(run, payload)
    run.refuse_with(
        POST_TRANSACTION,
        {"input": {"idempotencyKey": "post-refused", "transactionId": txn}},
        ("transactionId", "TRANSACTION_NOT_EDITABLE"),
    )
    return POSTED


async def _void_transaction(run: Run) -> list[tuple[Any, ...]]:
    txn = (await _payment(run, "30.00", contractual="10.00"))["id"]
    posted = await run.setup(
        POST_TRANSACTION, {"input": {"idempotencyKey": "post", "transactionId": txn}}
    )
    await _final(run, posted)
    void = {"idempotencyKey": "void", "transactionId": txn, "reason": "wrong payer"}
    payload = await run.mutate(VOID_TRANSACTION, {"input": void})
    await _final(run, payload)
    create = {"payerId": await run.payer_with_codes(), "type": "PY", "amount": "1.00"}
    wip = (await run.setup(CREATE_TRANSACTION, {"input": create}))["transaction"]["id"]
    run.refuse_with(
        VOID_TRANSACTION,
        {"input": {**void, "idempotencyKey": "void-refused", "transactionId": wip}},
        ("transactionId", "TRANSACTION_NOT_POSTED"),
    )
    return [
        ("PAYMENT_REVERSAL", "PAYMENT", True, "L1", 6000, 9000, True, None),
        ("PAYMENT_REVERSED", "PAYMENT", False, "L1", 6000, 9000, True, None),
        ("ADJUSTMENT_REVERSAL", "ADJUSTMENT", True, "L1", 9000, 10000, True, None),
        ("ADJUSTMENT_REVERSED", "ADJUSTMENT", False, "L1", 9000, 10000, True, None),
    ]


async def _save_code(run: Run) -> list[tuple[Any, ...]]:
    await run.mutate(SAVE_CODE, {"code": "AUD1", "type": "PY"}, replayable=False)
    run.refuse_with(SAVE_CODE, {"code": "AUD1", "type": "CW"}, ("type", "CODE_TYPE_MISMATCH"))
    details = {"code": "AUD1", "type": "PY"}
    return [("TRANSACTION_CODE_SAVED", None, None, None, None, None, None, details)]


async def _set_default(run: Run) -> list[tuple[Any, ...]]:
    change = {"payer": await run.payer_with_codes(), "type": "PY", "code": "PY02"}
    await run.mutate(SET_DEFAULT, change, replayable=False)
    run.refuse_with(SET_DEFAULT, {**change, "code": "NO-SUCH-CODE"}, ("code", "CODE_NOT_FOUND"))
    details = {"payer": "1", "type": "PY", "code": "PY02"}
    return [("PAYER_DEFAULT_CODE_SET", None, None, None, None, None, None, details)]


def _bulk_write_off(key: str, line_ids: list[int], reason: str = "CHARITY") -> Any:
    selection = {"lineIds": [gid("ChargeLine", i) for i in line_ids]}
    return {"input": {"idempotencyKey": key, "selection": selection, "reason": reason}}


async def _job_done(run: Run, payload: dict[str, Any]) -> dict[str, Any]:
    job = await wait_job(run.client, payload["job"]["id"], run.token)
    assert job["status"] == "DONE", job
    return job


def _submitted(job: dict[str, Any], kind: str, reason: str | None) -> tuple[Any, ...]:
    details = {"job": pk(job["id"]), "kind": kind, "reason": reason}
    return ("BULK_JOB_SUBMITTED", None, None, None, None, None, None, details)


async def _bulk_write_off_scenario(run: Run) -> list[tuple[Any, ...]]:
    payload = await run.mutate(BULK_WRITE_OFF, _bulk_write_off("bulk", run.world.line_ids))
    job = await _job_done(run, payload)
    run.refuse_with(
        BULK_WRITE_OFF,
        _bulk_write_off("bulk-refused", run.world.line_ids, "OTHER"),
        ("note", "NOTE_REQUIRED"),
    )
    return [
        _submitted(job, "WRITEOFF", "charity"),
        ("WRITEOFF_APPLIED", "WRITEOFF", False, "L1", 10000, 0, None, None),
        ("WRITEOFF_APPLIED", "WRITEOFF", False, "L2", 5000, 0, None, None),
    ]


async def _bulk_self_pay(run: Run) -> list[tuple[Any, ...]]:
    await run.payer_with_codes()
    fields = {"idempotencyKey": "fc", "type": "FC", "amount": "2.00"}
    payload = await run.mutate(BULK_SELF_PAY, {"input": fields})
    job = await _job_done(run, payload)
    run.refuse_with(
        BULK_SELF_PAY,
        {"input": {"idempotencyKey": "fc-refused", "type": "FC"}},
        ("amount", "AMOUNT_REQUIRED"),
    )
    return [
        _submitted(job, "SELF_PAY", None),
        ("TRANSACTION_FC_POSTED", "FINANCE_CHARGE", False, "L2", 5000, 5200, None, None),
    ]


async def _reverse_bulk_job(run: Run) -> list[tuple[Any, ...]]:
    written = await run.setup(BULK_WRITE_OFF, _bulk_write_off("bulk", run.world.line_ids))
    original = await _job_done(run, written)
    variables = {"idempotencyKey": "undo", "jobId": original["id"], "reason": "wrong batch"}
    job = await _job_done(run, await run.mutate(REVERSE_BULK_JOB, {"input": variables}))
    run.refuse_with(
        REVERSE_BULK_JOB,
        {"input": {**variables, "idempotencyKey": "undo-again"}},
        ("jobId", "JOB_ALREADY_REVERSED"),
    )
    return [
        _submitted(job, "REVERSAL", "wrong batch"),
        ("WRITEOFF_REVERSAL", "WRITEOFF", True, "L1", 0, 10000, True, None),
        ("WRITEOFF_REVERSED", "WRITEOFF", False, "L1", 0, 10000, True, None),
        ("WRITEOFF_REVERSAL", "WRITEOFF", True, "L2", 0, 5000, True, None),
        ("WRITEOFF_REVERSED", "WRITEOFF", False, "L2", 0, 5000, True, None),
    ]


async def _cancel_bulk_job(run: Run) -> list[tuple[Any, ...]]:
    held, _ = await hold_write_off(run.sessions, run.world, "held", run.world.line_ids[:1])
    await run.mutate(CANCEL_BULK_JOB, {"id": held})
    done = await run.setup(BULK_WRITE_OFF, _bulk_write_off("done", run.world.line_ids[1:]))
    finished = (await _job_done(run, done))["id"]
    run.refuse_with(CANCEL_BULK_JOB, {"id": finished}, ("jobId", "JOB_FINISHED"))
    return [("BULK_JOB_CANCELLED", None, None, None, None, None, None, {"job": pk(held)})]


SCENARIOS: dict[str, Scenario] = {
    "writeOff": _write_off,
    "applyAdjustment": _apply_adjustment,
    "reverseEntry": _reverse_entry,
    "updateTenantSettings": _update_settings,
    "setAgingBucketEdges": _set_aging_edges,
    "createTransaction": _create_transaction,
    "addTransactionApplication": _add_application,
    "changeTransactionApplication": _change_application,
    "removeTransactionApplication": _remove_application,
    "postTransaction": _post_transaction,
    "voidTransaction": _void_transaction,
    "saveTransactionCode": _save_code,
    "setPayerDefaultCode": _set_default,
    "bulkWriteOff": _bulk_write_off_scenario,
    "bulkSelfPayTransactions": _bulk_self_pay,
    "reverseBulkJob": _reverse_bulk_job,
    "cancelBulkJob": _cancel_bulk_job,
    "importRemittance": import_remittance,
    "postRemittance": post_remittance,
    "reverseRemittance": reverse_remittance,
}


def test_every_mutation_has_an_audit_scenario() -> None:
    served = build_schema(schema.as_str())
    assert served.mutation_type is not None
    assert sorted(served.mutation_type.fields) == sorted(SCENARIOS)


@pytest.mark.parametrize("field", sorted(SCENARIOS))
async def test_mutation_leaves_exactly_its_audit_row_set(
    client, sessions: SessionFactory, settings: Settings, field: str
) -> None:
    # given a fresh tenant with a $100.00 and a $50.00 line, and a token with every scope
    world = await make_world(sessions, [10000, 5000])
    run = await Run.start(client, sessions, settings, world)
    # when the mutation is sent under a request id of ours (and the worker finishes it)
    expected = await SCENARIOS[field](run)
    await settled(sessions, world.tenant_id)
    rows = await audit_set(sessions, run.rid)
    # then the request left exactly the expected rows, all saying who, where, with what, when
    assert await shape(run, rows) == expected
    assert provenance(rows) == (
        {(world.tenant_id, run.actor, tuple(SCOPES), run.rid)} if rows else set()
    )
    # and they are exactly the rows of the request's commands, one per entry those wrote
    commands = [c.id for c in await commands_of(sessions, run.rid)]
    assert [r.id for r in rows if r.command_id] == await rows_of_commands(sessions, commands)
    entries = await entries_of(sessions, commands)
    own = [r.entry_id for r in rows if r.entry_id in entries]
    assert sorted(own) == sorted(entries)


@pytest.mark.parametrize("field", sorted(SCENARIOS))
async def test_replayed_or_refused_mutation_leaves_no_audit_rows(
    client, sessions: SessionFactory, settings: Settings, field: str
) -> None:
    # given the mutation done once, and everything the tenant then holds
    world = await make_world(sessions, [10000, 5000])
    run = await Run.start(client, sessions, settings, world)
    await SCENARIOS[field](run)
    await settled(sessions, world.tenant_id)
    before = await holdings(sessions, world.tenant_id)
    first = await audit_set(sessions, run.rid)
    replay_rid, refused_rid = request_id("replay"), request_id("refused")
    # when it is sent again under its idempotency key (if it has one), and a refused variant
    if run.replay:
        again = await send(client, *run.replay, run.token, replay_rid)
        assert (errors(again), ident(again)) == ([], ident(run.answer))
    assert run.refusal is not None
    document, variables, expected = run.refusal
    refused = await send(client, document, variables, run.token, refused_rid)
    await settled(sessions, world.tenant_id)
    # then the refusal says why and names nothing; neither adds a row, a command or any change
    named = {k: v for k, v in refused.items() if k != "userErrors" and v not in (None, [], False)}
    assert (errors(refused), named) == (expected, {})
    for rid in (replay_rid, refused_rid):
        assert (await audit_set(sessions, rid), await commands_of(sessions, rid)) == ([], [])
    assert await holdings(sessions, world.tenant_id) == before
    assert [r.id for r in await audit_set(sessions, run.rid)] == [r.id for r in first]


async def test_rejected_apply_leaves_no_entry_and_only_its_rejection_row(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 and a $50.00 line
    world = await make_world(sessions, [10000, 5000])
    run = await Run.start(client, sessions, settings, world)
    before = await holdings(sessions, world.tenant_id)
    l1, l2 = world.line_ids
    # when one write-off takes $10.00 of the first and $60.00 of the second (more than it owes)
    payload = await run.mutate(WRITE_OFF, _write_off_lines((l1, "10"), (l2, "60")))
    await _final(run, payload, "REJECTED")
    # then the worker wrote no entry and no entry's audit row: only the rejection is recorded
    rows = await audit_set(sessions, run.rid)
    assert [(r.action, r.reason, r.entry_id, r.line_id) for r in rows] == [
        ("WRITEOFF_REJECTED", "EXCEEDS_BALANCE", None, None)
    ]
    assert provenance(rows) == {(world.tenant_id, run.actor, tuple(SCOPES), run.rid)}
    assert await entries_of(sessions, [pk(payload["command"]["id"])]) == {}
    after = await holdings(sessions, world.tenant_id)
    changed = {table for table in before if before[table] != after[table]}
    assert changed == {"audit_rows", "commands"}
    assert after["audit_rows"][0] == before["audit_rows"][0] + 1


async def test_apply_whose_audit_write_fails_leaves_no_entry_then_applies_once(
    client, sessions: SessionFactory, settings: Settings, worker
) -> None:
    # given a $100.00 line, and every audit-row insert of its tenant failing
    world = await make_world(sessions, [10000, 5000])
    run = await Run.start(client, sessions, settings, world)
    before = await holdings(sessions, world.tenant_id)
    trigger = await fail_audit_inserts(sessions, world.tenant_id)
    try:
        # when a $10.00 write-off is accepted, and the worker tries to apply it
        payload = await run.mutate(WRITE_OFF, _write_off_lines((world.line_ids[0], "10")))
        await _worker_logged(worker, trigger)
        during = await holdings(sessions, world.tenant_id)
        status = await _status(client, run, payload)
    finally:
        await stop_failing(sessions, trigger)
    # then while the audit write fails, nothing of the apply stands: no entry, no row, no balance
    assert status == "PENDING"
    assert {t for t in before if before[t] != during[t]} == {"commands"}
    assert await entries_of(sessions, [pk(payload["command"]["id"])]) == {}
    # and once it can be written, the command applies exactly once, with exactly its one row
    await _final(run, payload)
    rows = await audit_set(sessions, run.rid)
    assert await shape(run, rows) == [
        ("WRITEOFF_APPLIED", "WRITEOFF", False, "L1", 10000, 9000, None, None)
    ]
    assert len(await entries_of(sessions, [pk(payload["command"]["id"])])) == 1


async def _worker_logged(worker: Any, text: str, within: float = 30) -> None:
    """Wait until the worker's log mentions `text` (here: the refused audit insert)."""
    deadline = asyncio.get_running_loop().time() + within
    while text not in worker.log.read_text(errors="replace"):
        assert asyncio.get_running_loop().time() < deadline, f"the worker never logged {text}"
        await asyncio.sleep(0.1)


async def _status(client: Any, run: Run, payload: dict[str, Any]) -> str:
    body = await gql(client, COMMAND, {"id": payload["command"]["id"]}, run.token)
    return str(body["data"]["command"]["status"])


COMMAND = "query($id: ID!) { command(id: $id) { status } }"
SYNCHRONOUS: dict[str, tuple[str, Any]] = {
    "updateTenantSettings": (UPDATE_SETTINGS, {"input": {"smallBalanceThreshold": "9.99"}}),
    "saveTransactionCode": (SAVE_CODE, {"code": "AUD2", "type": "PY"}),
    "bulkWriteOff": (BULK_WRITE_OFF, None),
}


@pytest.mark.parametrize("field", sorted(SYNCHRONOUS))
async def test_mutation_whose_audit_write_fails_changes_nothing(
    client, sessions: SessionFactory, settings: Settings, field: str
) -> None:
    # given a tenant whose audit-row inserts all fail
    world = await make_world(sessions, [10000, 5000])
    run = await Run.start(client, sessions, settings, world)
    document, variables = SYNCHRONOUS[field]
    variables = variables or _bulk_write_off("bulk", world.line_ids)
    before = await holdings(sessions, world.tenant_id)
    trigger = await fail_audit_inserts(sessions, world.tenant_id)
    try:
        # when a mutation that writes its audit row in the request's transaction is sent
        response = await client.post(
            "/graphql",
            json={"query": document, "variables": variables},
            headers={"Authorization": f"Bearer {run.token}", "X-Request-ID": run.rid},
        )
    finally:
        await stop_failing(sessions, trigger)
    # then it fails as a whole (masked), and the change it made before the audit write is gone
    body = response.json()
    assert (body["data"], [e["message"] for e in body["errors"]]) == (None, ["Internal error."])
    await settled(sessions, world.tenant_id)
    assert await holdings(sessions, world.tenant_id) == before
    assert await commands_of(sessions, run.rid) == []


AUDIT_TRAIL = """query($id: ID!) { auditTrail(subject: $id) {
  nodes { action actor requestId scopes } } }"""


async def test_audit_trail_shows_request_id_and_scopes_and_one_is_made_when_none_is_sent(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 line and a token with every scope
    world = await make_world(sessions, [10000])
    run = await Run.start(client, sessions, settings, world)
    # when a write-off is sent without an X-Request-ID, and applied
    response = await client.post(
        "/graphql",
        json={"query": WRITE_OFF, "variables": _write_off_lines((world.line_ids[0], "1"))},
        headers={"Authorization": f"Bearer {run.token}"},
    )
    generated = response.headers["x-request-id"]
    payload = response.json()["data"]["writeOff"]
    await _final(run, payload)
    # then the API made one up, echoed it, and the audit trail shows it with the token's scopes
    body = await gql(client, AUDIT_TRAIL, {"id": payload["command"]["id"]}, run.token)
    assert len(generated) >= 32
    assert body == {
        "data": {
            "auditTrail": {
                "nodes": [
                    {
                        "action": "WRITEOFF_APPLIED",
                        "actor": run.actor,
                        "requestId": generated,
                        "scopes": SCOPES,
                    }
                ]
            }
        }
    }
