"""Fuzzing the public inputs over real HTTP with hypothesis (seeded: `ARLEDGER_SEED` replays).

Properties, for every request: never a 5xx nor the masked "Internal error."; refused input is
answered with a typed userError or a GraphQL error with a code; and a refusal writes nothing (the
tenant's commands, ledger entries, audit rows, transactions, applications and bulk jobs are
counted before and after). Accepted input is let through to the worker before the next case.
"""

from typing import Any

from hypothesis import strategies as st

from tests.security.fuzz import Case, dates, ints, money, mostly, notes, text_noise, words
from tests.security.fuzz_run import FRESH, Targets, fuzz_world
from tests.transactions.ops import TYPES

PAYLOAD = "userErrors { field code message }"


def mutation(name: str, input_type: str, fields: str = "") -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {fields} {PAYLOAD} }} }}"


WRITE_OFF = mutation("writeOff", "WriteOffInput", "command { id }")
ADJUST = mutation("applyAdjustment", "ApplyAdjustmentInput", "command { id }")
REVERSE = mutation("reverseEntry", "ReverseEntryInput", "command { id }")
CREATE = mutation("createTransaction", "CreateTransactionInput", "transaction { id }")
ADD = mutation("addTransactionApplication", "AddTransactionApplicationInput", "transaction { id }")
POST = mutation("postTransaction", "PostTransactionInput", "command { id }")
VOID = mutation("voidTransaction", "VoidTransactionInput", "command { id }")
SETTINGS = mutation("updateTenantSettings", "TenantSettingsInput", "settings { timeZone }")
BULK_WRITE_OFF = mutation("bulkWriteOff", "BulkWriteOffInput", "job { id }")
BULK_SELF_PAY = mutation("bulkSelfPayTransactions", "BulkSelfPayInput", "job { id }")
QUERIES = {
    "account": "query($n: String!) { account(accountNumber: $n) { id balance } }",
    "node": "query($id: ID!) { node(id: $id) { id } }",
    "audit": "query($id: ID!, $first: Int!, $after: String) {"
    " auditTrail(subject: $id, first: $first, after: $after) { nodes { id } } }",
    "ledger": "query($id: ID!, $first: Int!, $after: String) {"
    " ledgerEntries(accountId: $id, first: $first, after: $after) { edges { node { id } } } }",
    "payers": "query($n: String!, $first: Int!, $after: String) {"
    " payers(search: $n, first: $first, after: $after) { edges { node { code } } } }",
    "transactions": "query($s: TransactionStatus, $id: ID, $from: Date, $to: Date, $n: String,"
    " $first: Int!, $after: String) { transactions(status: $s, payerId: $id, dateFrom: $from,"
    " dateTo: $to, accountNumber: $n, first: $first, after: $after) { edges { node { id } } } }",
    "bulkJobs": "query($s: BulkJobStatus, $n: BulkJobKind, $first: Int!, $after: String) {"
    " bulkJobs(status: $s, kind: $n, first: $first, after: $after) { nodes { id } } }",
}
KEYS = mostly(st.just(FRESH), st.one_of(text_noise, st.integers(), st.just("used")))
"""`FRESH` is replaced by a key never sent before, so most cases get past the replay check."""


def _input(document: str, required: dict[str, Any], optional: dict[str, Any] | None = None):
    fields = st.fixed_dictionaries(required, optional=optional or {})
    return st.builds(lambda i: Case(document, {"input": i}), fields)


def ledger_cases(t: Targets) -> st.SearchStrategy[Case]:
    line = st.fixed_dictionaries({"lineId": t.ids("ChargeLine"), "amount": money})
    reasons = words(["CHARITY", "BAD_DEBT", "OTHER", "SMALL_BALANCE"])
    target = st.one_of(t.ids("ChargeLine"), t.ids("Visit"))
    return st.one_of(
        _input(
            WRITE_OFF,
            {"idempotencyKey": KEYS, "reason": reasons, "lines": st.lists(line, max_size=3)},
            {"note": notes},
        ),
        _input(
            ADJUST,
            {
                "idempotencyKey": KEYS,
                "target": target,
                "category": words(["contract-correction", "memo"]),
                "reason": words(["contracted-rate-correction"]),
                "amount": money,
            },
            {"note": notes},
        ),
        _input(
            REVERSE,
            {
                "idempotencyKey": KEYS,
                "entryId": t.ids("LedgerEntry"),
                "reason": words(["posted in error"]),
            },
        ),
    )


def transaction_cases(t: Targets) -> st.SearchStrategy[Case]:
    txn = t.ids("Transaction")
    return st.one_of(
        _input(
            CREATE,
            {"payerId": t.ids("Payer"), "type": words(list(TYPES)), "amount": money},
            {"code": words(["PY01", "CW02"]), "transactionDate": dates},
        ),
        _input(
            ADD,
            {"transactionId": txn, "accountNumber": words(["A1"]), "amount": money},
            {"visitNumber": ints, "contractualAmount": money},
        ),
        _input(POST, {"idempotencyKey": KEYS, "transactionId": txn}),
        _input(VOID, {"idempotencyKey": KEYS, "transactionId": txn, "reason": words(["x"])}),
        _input(
            SETTINGS,
            {},
            {
                "smallBalanceThreshold": money,
                "timeZone": words(["UTC", "America/New_York", "Mars/Olympus", "../../etc"]),
                "syntheticCarcGroup": words(["OA", "PI", "ZZ"]),
                "writeOffReasons": st.lists(words(["CHARITY", "OTHER"]), min_size=1, max_size=2),
            },
        ),
    )


def bulk_cases(t: Targets) -> st.SearchStrategy[Case]:
    many = st.just([f"N{n}" for n in range(3000)])
    bulk_filter = st.fixed_dictionaries(
        {},
        optional={
            "payerId": t.ids("Payer"),
            "balanceMin": money,
            "balanceMax": money,
            "minAgeDays": ints,
            "visitStates": st.lists(words(["open", "submitted", "on_hold", "closed"]), max_size=3),
            "accountNumbers": st.one_of(st.lists(words(["A1"]), max_size=3), many),
        },
    )
    line_ids = st.lists(t.ids("ChargeLine"), max_size=4)
    selection = st.one_of(
        st.fixed_dictionaries({"lineIds": line_ids}),
        st.fixed_dictionaries({"filter": bulk_filter}),
        st.fixed_dictionaries({}, optional={"lineIds": line_ids, "filter": bulk_filter}),
    )
    return st.one_of(
        _input(
            BULK_WRITE_OFF,
            {"idempotencyKey": KEYS, "selection": selection, "reason": words(["CHARITY", "OTHER"])},
            {"note": notes},
        ),
        _input(
            BULK_SELF_PAY,
            {"idempotencyKey": KEYS, "type": words(["BD", "FC", "AC", "AD", "RF", "PY"])},
            {
                "amount": money,
                "percent": st.one_of(money, st.sampled_from(["1.5", "0", "100", "100.0001"])),
                "payerCode": words(["1", "2"]),
                "transactionDate": dates,
                "filter": bulk_filter,
            },
        ),
    )


def query_cases(t: Targets) -> st.SearchStrategy[Case]:
    cursor = st.one_of(st.none(), t.ids("Command"))
    page = {"first": ints, "after": cursor}
    variables = {
        "account": st.fixed_dictionaries({"n": words(["A1"])}),
        "node": st.fixed_dictionaries({"id": st.sampled_from(sorted(t.own)).flatmap(t.ids)}),
        "audit": st.fixed_dictionaries({"id": t.ids("ChargeLine"), **page}),
        "ledger": st.fixed_dictionaries({"id": t.ids("Account"), **page}),
        "payers": st.fixed_dictionaries({"n": words(["self", "%", "_"]), **page}),
        "transactions": st.fixed_dictionaries(
            page,
            optional={
                "s": words(["WORK_IN_PROGRESS", "POSTED"]),
                "id": t.ids("Payer"),
                "from": dates,
                "to": dates,
                "n": words(["A1"]),
            },
        ),
        "bulkJobs": st.fixed_dictionaries(
            page, optional={"s": words(["DONE"]), "n": words(["WRITEOFF", "SELF_PAY"])}
        ),
    }
    return st.one_of(*(st.builds(Case, st.just(QUERIES[name]), v) for name, v in variables.items()))


async def test_fuzzed_write_offs_adjustments_and_reversals(client, sessions, settings) -> None:
    # given a tenant with lines and entries, and another tenant whose ids are fair game too
    fuzzer, targets = await fuzz_world(client, sessions, settings)
    # when hypothesis sends write-offs, adjustments and reversals of every shape
    # then no 500, every refusal is typed, and refusals write nothing
    await fuzzer.fuzz(ledger_cases(targets), examples=400)


async def test_fuzzed_transactions_and_settings(client, sessions, settings) -> None:
    fuzzer, targets = await fuzz_world(client, sessions, settings)
    await fuzzer.fuzz(transaction_cases(targets), examples=300)


async def test_fuzzed_bulk_jobs_and_filters(client, sessions, settings) -> None:
    fuzzer, targets = await fuzz_world(client, sessions, settings)
    await fuzzer.fuzz(bulk_cases(targets), examples=250)


async def test_fuzzed_queries_ids_and_cursors(client, sessions, settings) -> None:
    fuzzer, targets = await fuzz_world(client, sessions, settings)
    await fuzzer.fuzz(query_cases(targets), examples=400)


BAD = "BAD_USER_INPUT"


def regressions(t: Targets) -> list[tuple[str, Case, str]]:
    """(name, case, code): inputs the fuzzing above once answered with "Internal error." (NUL
    and unpaired surrogates reached PostgreSQL) or with an error that had no code."""
    line, txn = t.own["ChargeLine"][0], t.own["Transaction"][0]
    ok = {"idempotencyKey": "r-1", "reason": "CHARITY", "lines": [{"lineId": line, "amount": "1"}]}
    post = {"idempotencyKey": "k\x00", "transactionId": txn}
    return [
        ("nul-key", Case(WRITE_OFF, {"input": {**ok, "idempotencyKey": "\x00"}}), BAD),
        ("nul-note", Case(WRITE_OFF, {"input": {**ok, "note": "a\x00b"}}), BAD),
        ("nul-post-key", Case(POST, {"input": post}), BAD),
        ("surrogate-note", Case(WRITE_OFF, {"input": {**ok, "note": "\ud800"}}), BAD),
        ("nul-query-variable", Case(QUERIES["account"], {"n": "\x00"}), BAD),
        ("nul-literal", Case('{ account(accountNumber: "A\\u0000") { id } }', {}), BAD),
        (
            "surrogate-literal",
            Case('{ payers(search: "\\uD800") { edges { cursor } } }', {}),
            "GRAPHQL_PARSE_FAILED",
        ),
        ("null-for-non-null", Case(WRITE_OFF, {"input": {**ok, "reason": None}}), BAD),
        ("int-overflow", Case(QUERIES["payers"], {"n": "", "first": 2**31}), BAD),
        ("syntax-error", Case("{ account(", {}), "GRAPHQL_PARSE_FAILED"),
        ("unknown-field", Case("{ nope }", {}), "GRAPHQL_VALIDATION_FAILED"),
    ]


async def test_inputs_that_once_failed_are_refused_with_a_code(client, sessions, settings) -> None:
    # given the tenant the fuzzing uses
    fuzzer, targets = await fuzz_world(client, sessions, settings)
    before = await fuzzer.counts()
    for name, case, code in regressions(targets):
        # when each input the fuzzing once broke the API with is sent again
        response = await fuzzer.send(case)
        # then it is refused with one typed error, and nothing is stored
        assert response.status_code == 200, (name, response.text)
        errors = response.json()["errors"]
        assert [e["extensions"]["code"] for e in errors] == [code], (name, errors)
    assert await fuzzer.counts() == before
