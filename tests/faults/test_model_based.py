"""Model-based property test: random sequences of write-offs, adjustments, reversals,
transactions, voids, retries and refused requests against the real system (GraphQL over the
running server, applied by the real worker), compared after every step with an in-memory model.

Each hypothesis example is a fresh tenant. After every step every line, visit and account
balance, the ledger entry count and the command count equal the model's; every command's entries
equal the model's prediction exactly; at the end the correctness oracle finds nothing. Seeded
from the run's seed (`ARLEDGER_SEED` replays it).
"""

import asyncio
from typing import Any

import httpx
from hypothesis import seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from api.enums import WriteOffReason
from arledger.config import Settings
from domain.db import SessionFactory
from tests.faults.model_ledger import TRANSACTION_EFFECTS, Model, Outcome
from tests.faults.model_system import (
    ADD_APPLICATION,
    ADJUST,
    CREATE,
    POST,
    REVERSE,
    VOID,
    WRITE_OFF,
    Sent,
    System,
    altered,
    amount_for,
    money,
    money_out,
)
from tests.support.client import gid, gql
from tests.support.seeds import SEED
from tests.transactions.ops import EVERY_SCOPE

MACHINE_SETTINGS = settings(
    max_examples=12, stateful_step_count=40, deadline=None, database=None, print_blob=True
)
CATEGORIES = {"contract-correction": True, "coordination-of-benefits": True, "memo": False}
BALANCE = st.one_of(st.integers(1, 600), st.integers(601, 30000))
VISITS = st.lists(st.lists(BALANCE, min_size=1, max_size=3), min_size=3, max_size=3)
MODES = st.sampled_from(["whole", "partial", "partial", "over"])
ACCOUNTS = """{ accounts { edges { node {
  balance visits { balance chargeLines { id balance } } } } } }"""


class LedgerMachine(RuleBasedStateMachine):
    system: System  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.model: Model | None = None
        self.sent: list[Sent] = []
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    @property
    def m(self) -> Model:
        assert self.model is not None
        return self.model

    def run(self, coroutine: Any) -> Any:
        return self.system.run(coroutine)

    @initialize(visits=VISITS)
    def build(self, visits: list[list[int]]) -> None:
        token = type(self).token
        self.model = self.run(self.system.build(visits, threshold=500, token=token))

    def command(
        self, document: str, variables: dict[str, Any], outcome: Outcome, alter: dict[str, Any]
    ) -> list[Any]:
        """Send a mutation, check the model's prediction exactly; the entries it wrote."""
        payload = self.run(self.system.send(document, variables))
        codes = [e["code"] for e in payload["userErrors"]]
        if outcome.sync:
            assert (codes, payload["command"]) == ([outcome.code], None), payload
            return []
        assert codes == [], payload
        self.m.commands += 1
        status, code, rows = self.run(self.system.final(payload["command"]["id"]))
        self.sent.append(Sent(document, variables, payload, alter))
        if outcome.code is not None:
            assert (status, code, rows) == ("REJECTED", outcome.code, []), (status, code, rows)
            return []
        assert (status, code) == ("APPLIED", None), (status, code)
        assert sorted(tuple(r[1:]) for r in rows) == sorted(outcome.postings), rows
        return list(rows)

    @rule(
        picks=st.lists(st.integers(0, 99), min_size=1, max_size=2),
        mode=MODES,
        frac=st.integers(1, 99),
        reason=st.sampled_from(["charity", "bad-debt", "small-balance"]),
    )
    def write_off(self, picks: list[int], mode: str, frac: int, reason: str) -> None:
        ids = list(self.m.lines)
        chosen = list(dict.fromkeys(ids[p % len(ids)] for p in picks))
        items = [(i, amount_for(self.m.lines[i].balance, mode, frac)) for i in chosen]
        lines = [{"lineId": gid("ChargeLine", i), "amount": money(c)} for i, c in items]
        name = WriteOffReason(reason).name  # GraphQL names the stored reason
        variables = {"input": {"idempotencyKey": self.key(), "reason": name, "lines": lines}}
        other = [{**lines[0], "amount": money(items[0][1] + 1)}, *lines[1:]]
        outcome = self.m.write_off(items, reason)
        rows = self.command(WRITE_OFF, variables, outcome, altered(variables, lines=other))
        self.m.record(rows, None)

    @rule(
        on_visit=st.booleans(),
        pick=st.integers(0, 99),
        category=st.sampled_from(sorted(CATEGORIES)),
        mode=MODES,
        frac=st.integers(1, 99),
    )
    def adjust(self, on_visit: bool, pick: int, category: str, mode: str, frac: int) -> None:
        if on_visit:
            place = self.system.places[pick % 3]
            lines = [line.id for line in self.m.visit_lines(place.visit_id)]
            target = gid("Visit", place.visit_id)
        else:
            lines = [list(self.m.lines)[pick % len(self.m.lines)]]
            target = gid("ChargeLine", lines[0])
        balance = sum(max(self.m.lines[i].balance, 0) for i in lines)
        cents = amount_for(balance, mode, frac)
        variables = {
            "input": {
                "idempotencyKey": self.key(),
                "target": target,
                "category": category,
                "reason": "contracted-rate-correction",
                "amount": money(cents),
            }
        }
        outcome = self.m.adjust(lines, CATEGORIES[category], cents)
        rows = self.command(ADJUST, variables, outcome, altered(variables, amount=money(cents + 1)))
        self.m.record(rows, None)

    def reverse(self, entry_id: int) -> None:
        variables = {
            "input": {
                "idempotencyKey": self.key(),
                "entryId": gid("LedgerEntry", entry_id),
                "reason": "posted in error",
            }
        }
        outcome = self.m.reverse(entry_id)
        rows = self.command(REVERSE, variables, outcome, altered(variables, reason="another"))
        self.m.record(rows, None)

    @precondition(lambda self: self.model is not None and self.m.pick("OK"))
    @rule(pick=st.integers(0, 999))
    def reverse_an_entry(self, pick: int) -> None:
        candidates = self.m.pick("OK")
        self.reverse(candidates[pick % len(candidates)])

    @precondition(lambda self: self.model is not None)
    @rule(
        why=st.sampled_from(
            [
                "REVERSAL_NOT_REVERSIBLE",
                "ALREADY_REVERSED",
                "ENTRY_NOT_REVERSIBLE",
                "ENTRY_IN_TRANSACTION",
            ]
        ),
        pick=st.integers(0, 999),
    )
    def reverse_refused(self, why: str, pick: int) -> None:
        candidates = self.m.pick(why) or self.m.pick("ENTRY_NOT_REVERSIBLE")
        self.reverse(candidates[pick % len(candidates)])

    @precondition(lambda self: self.model is not None)
    @rule(
        type_=st.sampled_from(sorted(TRANSACTION_EFFECTS)),
        picks=st.lists(st.integers(0, 2), min_size=1, max_size=2, unique=True),
        mode=MODES,
        frac=st.integers(1, 99),
        balanced=st.sampled_from([True, True, True, False]),
    )
    def transaction(
        self, type_: str, picks: list[int], mode: str, frac: int, balanced: bool
    ) -> None:
        visits = self.m.visit_balances()
        places = [self.system.places[p] for p in picks]
        apps = [(p.visit_id, amount_for(visits[p.visit_id], mode, frac)) for p in places]
        total = sum(c for _, c in apps) + (0 if balanced else frac)
        created = self.run(
            self.system.send(
                CREATE,
                {"input": {"payerId": self.system.payer, "type": type_, "amount": money(total)}},
            )
        )
        assert created["userErrors"] == [], created
        txn = created["transaction"]["id"]
        for place, (_, cents) in zip(places, apps, strict=True):
            application = {
                "transactionId": txn,
                "accountNumber": place.account_number,
                "visitNumber": place.visit_number,
                "amount": money(cents),
            }
            added = self.run(self.system.send(ADD_APPLICATION, {"input": application}))
            assert added["userErrors"] == [], added
        variables = {"input": {"idempotencyKey": self.key(), "transactionId": txn}}
        outcome = self.m.post(type_, apps) if balanced else Outcome("TRANSACTION_UNBALANCED", True)
        other = altered(variables, transactionId=gid("Transaction", 2**62))
        rows = self.command(POST, variables, outcome, other)
        self.m.transactions[txn] = "POSTED" if rows else "WORK_IN_PROGRESS"
        self.m.record(rows, txn)
        assert self.run(self.system.transaction_status(txn)) == self.m.transactions[txn]

    @precondition(lambda self: self.model is not None and self.m.transactions)
    @rule(pick=st.integers(0, 999))
    def void(self, pick: int) -> None:
        txns = sorted(self.m.transactions)
        txn = txns[pick % len(txns)]
        variables = {
            "input": {"idempotencyKey": self.key(), "transactionId": txn, "reason": "wrong payer"}
        }
        outcome = self.m.void(txn)
        rows = self.command(VOID, variables, outcome, altered(variables, reason="another"))
        self.m.record(rows, txn)
        if not outcome.sync and outcome.code is None:
            self.m.transactions[txn] = "VOIDED"
        assert self.run(self.system.transaction_status(txn)) == self.m.transactions[txn]

    @precondition(lambda self: self.sent)
    @rule(pick=st.integers(0, 999))
    def retry(self, pick: int) -> None:
        sent = self.sent[pick % len(self.sent)]
        assert self.run(self.system.send(sent.document, sent.variables)) == sent.payload

    @precondition(lambda self: self.sent)
    @rule(pick=st.integers(0, 999))
    def conflict(self, pick: int) -> None:
        sent = self.sent[pick % len(self.sent)]
        payload = self.run(self.system.send(sent.document, sent.altered))
        errors = [(e["field"], e["code"]) for e in payload["userErrors"]]
        assert errors == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")], payload
        assert payload["command"] is None

    @invariant()
    def balances_equal_the_model(self) -> None:
        if self.model is None:
            return
        stored = self.run(self.system.snapshot())
        assert stored.lines == {i: line.balance for i, line in self.m.lines.items()}
        assert stored.visits == self.m.visit_balances()
        assert stored.accounts == self.m.account_balances()
        assert (stored.entries, stored.commands) == (len(self.m.entries), self.m.commands)

    def teardown(self) -> None:
        if self.model is None:
            return
        assert self.run(self.system.findings()) == []
        body = self.run(gql(self.system.client, ACCOUNTS, None, self.system.token))
        lines = {
            line["id"]: line["balance"]
            for edge in body["data"]["accounts"]["edges"]
            for visit in edge["node"]["visits"]
            for line in visit["chargeLines"]
        }
        expected = {gid("ChargeLine", i): money_out(x.balance) for i, x in self.m.lines.items()}
        assert lines == expected


async def test_the_system_behaves_like_the_model(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given the real API and worker, and a model that knows only the documented rules
    system = System(asyncio.get_running_loop(), client, sessions)
    machine = type(
        "LedgerMachine",
        (LedgerMachine,),
        {"system": system, "token": staticmethod(lambda w: w.token(settings, EVERY_SCOPE))},
    )
    # when hypothesis runs random sequences of operations against both (seeded: SEED replays)
    # then every step agrees with the model exactly, and the oracle finds nothing at the end
    await asyncio.to_thread(
        run_state_machine_as_test, seed(SEED)(machine), settings=MACHINE_SETTINGS
    )
