"""The cross-tenant case table: for every field of Query, Mutation and Subscription, the requests
tenant A sends with tenant B's ids (or B's account numbers, codes, keys), and the exact answer A
must get: null, empty, its own data only, or a typed userError. Never B's data.

`test_tenant_isolation` checks these tables name exactly the schema's fields and node types, so
a new field without a case here fails the suite.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.enums import WriteOffReason
from domain.models import ADJUSTMENT_REASONS, WRITE_OFF_REASONS
from domain.tenants.settings import DEFAULT_CATEGORIES
from tests.security.world import (
    B_ACCOUNT,
    B_BULK_KEY,
    B_CODE,
    B_PAYER_CODE,
    B_PAYER_NAME,
    B_POST_KEY,
    B_TRACE,
    B_WRITE_OFF_KEY,
    Attacker,
    Victim,
    remittance_file,
)
from tests.support.client import gid
from tests.transactions.ops import TYPES

Vars = Callable[[Victim, Attacker], dict[str, Any]]
Expect = Callable[[Victim, Attacker], Any]


@dataclass(frozen=True)
class Case:
    """One request: its document, its variables and the exact `data.<field>` A must get."""

    label: str
    document: str
    variables: Vars
    expect: Expect


def _const(value: Any) -> Expect:
    return lambda b, a: value


ERRORS = "userErrors { field code }"
EMPTY = _const({"nodes": []})

# --- queries ------------------------------------------------------------------------------------

AUDIT_TRAIL = """query($s: ID!) { auditTrail(subject: $s) {
  nodes { id actor action reason note commandId entryId accountId lineId } } }"""
TENANT_SETTINGS = """{ tenantSettings { adjustmentReasons writeOffReasons
  adjustmentCategories { code name } history { nodes { actor action details } } } }"""
TRANSACTIONS = """query($payer: ID, $account: String) {
  transactions(payerId: $payer, accountNumber: $account) {
    nodes { id amount status createdBy payer { id name } code { code description }
            applications { accountNumber visitId } } } }"""
TRANSACTION_CODES = """query($type: TransactionType) {
  transactionCodes(type: $type) { code type description } }"""
BULK_JOBS = """query($kind: BulkJobKind, $status: BulkJobStatus) {
  bulkJobs(kind: $kind, status: $status) { nodes { id kind status actor } } }"""
NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
ACCOUNT = """query($n: String!) { account(accountNumber: $n) {
  id accountNumber name balance visits { id chargeLines { id balance } } } }"""
ACCOUNTS = "{ accounts { nodes { id accountNumber name balance } } }"
PAYERS = """query($search: String!) { payers(search: $search) {
  nodes { id code name defaultCodes { type code description } } } }"""
LEDGER_ENTRIES = """query($id: ID!) { ledgerEntries(accountId: $id) {
  nodes { id kind amount reason note actor commandId } } }"""
COMMAND = "query($id: ID!) { command(id: $id) { id kind status } }"
AR_AGING = """query($groupBy: AgingGroupBy!) { arAging(groupBy: $groupBy) {
  rows { payer { id name } net } total { net } } }"""
EVER = {"from": "2000-01-01", "to": "2100-01-01"}
WRITE_OFF_SUMMARY = """query($from: Date!, $to: Date!) { writeOffSummary(from: $from, to: $to) {
  rows { reason user payer { id } amount } total { amount } } }"""
ADJUSTMENT_SUMMARY = """query($from: Date!, $to: Date!) {
  adjustmentSummary(from: $from, to: $to, groupBy: PAYER) {
  rows { payer { id } amount } total { amount } } }"""
AR_KPIS = """query($from: Date!, $to: Date!) { arKpis(from: $from, to: $to) {
  totalAr charges writeOffs adjustments } }"""
WORKLIST = """query($filter: AccountFilter) { accounts(filter: $filter, orderBy: {field: BALANCE}) {
  nodes { id accountNumber name balance } } }"""
REMITTANCE_FIELDS = """id traceNumber payerName paid status file { filename sha256 }
  claims { nodes { patientControlNumber visit { id } lines { chargeLine { id } } } }"""
REMITTANCES = f"""query($filter: RemittanceFilterInput) {{
  remittances(filter: $filter) {{ nodes {{ {REMITTANCE_FIELDS} }} }} }}"""
REMITTANCE = f"query($id: ID!) {{ remittance(id: $id) {{ {REMITTANCE_FIELDS} }} }}"

NODE_IDS = {
    "Account": "account",
    "Visit": "visit",
    "ChargeLine": "line",
    "Payer": "payer",
    "LedgerEntry": "entry",
    "Command": "command",
    "AuditRow": "audit",
    "Transaction": "posted",
    "TransactionCode": "code",
    "BulkJob": "job",
    "Remittance": "remittance",
}
"""Which of B's ids `node(id:)` is asked for, per node type (must cover every node type)."""


def _b(name: str, key: str) -> Vars:
    return lambda b, a: {name: b.ids[key]}


def _own_codes(type_: str | None = None) -> Expect:
    codes = [
        {"code": f"{t}0{n}", "type": t, "description": f"{t} code {n}"}
        for t in sorted(TYPES)
        for n in (1, 2)
        if type_ in (None, t)
    ]
    return _const(codes)


def _a_settings(b: Victim, a: Attacker) -> Any:
    return {
        "adjustmentReasons": list(ADJUSTMENT_REASONS),
        "writeOffReasons": [WriteOffReason(r).name for r in WRITE_OFF_REASONS],
        "adjustmentCategories": [{"code": c.code, "name": c.name} for c in DEFAULT_CATEGORIES],
        "history": {"nodes": []},
    }


def _a_transactions(b: Victim, a: Attacker) -> Any:
    return {
        "nodes": [
            {
                "id": a.wip,
                "amount": "1.00",
                "status": "WORK_IN_PROGRESS",
                "createdBy": "a-actor",
                "payer": {"id": a.payer, "name": "Self Pay"},
                "code": {"code": "PY01", "description": "PY code 1"},
                "applications": [],
            }
        ]
    }


def _a_jobs(b: Victim, a: Attacker) -> Any:
    return {"nodes": [{"id": a.job, "kind": "WRITEOFF", "status": "DONE", "actor": "a-actor"}]}


def _a_accounts(b: Victim, a: Attacker) -> Any:
    account = gid("Account", a.world.account_id)
    return {
        "nodes": [{"id": account, "accountNumber": "A1", "name": "Pat Doe", "balance": "900.00"}]
    }


def _a_payers(b: Victim, a: Attacker) -> Any:
    defaults = [{"type": t, "code": f"{t}01", "description": f"{t} code 1"} for t in sorted(TYPES)]
    return {"nodes": [{"id": a.payer, "code": "1", "name": "Self Pay", "defaultCodes": defaults}]}


QUERIES: dict[str, list[Case]] = {
    "auditTrail": [
        Case(f"of B's {key}", AUDIT_TRAIL, _b("s", key), EMPTY)
        for key in ("account", "visit", "line", "entry", "command")
    ],
    "tenantSettings": [Case("A's own", TENANT_SETTINGS, _const({}), _a_settings)],
    "transactions": [
        Case("all", TRANSACTIONS, _const({}), _a_transactions),
        Case("by B's payer", TRANSACTIONS, _b("payer", "payer_one"), EMPTY),
        Case("by B's account", TRANSACTIONS, _const({"account": B_ACCOUNT}), EMPTY),
    ],
    "transactionCodes": [
        Case("all", TRANSACTION_CODES, _const({}), _own_codes()),
        Case("of B's code's type", TRANSACTION_CODES, _const({"type": "PY"}), _own_codes("PY")),
    ],
    "bulkJobs": [
        Case("all", BULK_JOBS, _const({}), _a_jobs),
        Case(
            "of B's job's kind", BULK_JOBS, _const({"kind": "WRITEOFF", "status": "DONE"}), _a_jobs
        ),
    ],
    "node": [
        Case(f"B's {type_name}", NODE, _b("id", key), _const(None))
        for type_name, key in NODE_IDS.items()
    ],
    "account": [Case("B's number", ACCOUNT, _const({"n": B_ACCOUNT}), _const(None))],
    "accounts": [
        Case("all", ACCOUNTS, _const({}), _a_accounts),
        Case(
            "worklist of B's payer",
            WORKLIST,
            lambda b, a: {"filter": {"payerId": b.ids["payer_one"]}},
            EMPTY,
        ),
        Case(
            "worklist by B's account number",
            WORKLIST,
            _const({"filter": {"search": B_ACCOUNT}}),
            EMPTY,
        ),
    ],
    "payers": [
        Case("all", PAYERS, _const({"search": ""}), _a_payers),
        Case("B's name", PAYERS, _const({"search": B_PAYER_NAME}), EMPTY),
        Case("B's code", PAYERS, _const({"search": B_PAYER_CODE}), EMPTY),
    ],
    "ledgerEntries": [Case("of B's account", LEDGER_ENTRIES, _b("id", "account"), EMPTY)],
    "command": [Case("B's", COMMAND, _b("id", "command"), _const(None))],
    "arAging": [
        Case(
            "A's own",
            AR_AGING,
            _const({"groupBy": "NONE"}),
            _const({"rows": [{"payer": None, "net": "900.00"}], "total": {"net": "900.00"}}),
        ),
        Case(
            "by payer",
            AR_AGING,
            _const({"groupBy": "PAYER"}),
            lambda b, a: {
                "rows": [{"payer": {"id": a.payer, "name": "Self Pay"}, "net": "900.00"}],
                "total": {"net": "900.00"},
            },
        ),
    ],
    "writeOffSummary": [
        Case(
            "A's own",
            WRITE_OFF_SUMMARY,
            _const(EVER),
            lambda b, a: {
                "rows": [{"reason": "CHARITY", "user": None, "payer": None, "amount": "5.00"}],
                "total": {"amount": "5.00"},
            },
        ),
    ],
    "adjustmentSummary": [
        Case(
            "A's own",
            ADJUSTMENT_SUMMARY,
            _const(EVER),
            _const({"rows": [], "total": {"amount": "0.00"}}),
        ),
    ],
    "arKpis": [
        Case(
            "A's own",
            AR_KPIS,
            _const(EVER),
            _const(
                {
                    "totalAr": "900.00",
                    "charges": "905.00",
                    "writeOffs": "5.00",
                    "adjustments": "0.00",
                }
            ),
        ),
    ],
    "remittances": [
        Case("all", REMITTANCES, _const({}), EMPTY),
        Case("by B's trace", REMITTANCES, _const({"filter": {"traceNumber": B_TRACE}}), EMPTY),
        Case("B's status", REMITTANCES, _const({"filter": {"status": "POSTED"}}), EMPTY),
    ],
    "remittance": [Case("B's", REMITTANCE, _b("id", "remittance"), _const(None))],
}

# --- mutations ----------------------------------------------------------------------------------

WRITE_OFF = f"""mutation($input: WriteOffInput!) {{
  writeOff(input: $input) {{ command {{ id status }} {ERRORS} }} }}"""
WRITE_OFF_STATUS = f"""mutation($input: WriteOffInput!) {{
  writeOff(input: $input) {{ command {{ status }} {ERRORS} }} }}"""
APPLY_ADJUSTMENT = f"""mutation($input: ApplyAdjustmentInput!) {{
  applyAdjustment(input: $input) {{ command {{ id }} reducesBalance carc {ERRORS} }} }}"""
REVERSE_ENTRY = f"""mutation($input: ReverseEntryInput!) {{
  reverseEntry(input: $input) {{ command {{ id }} original {{ id amount }}
    changesSince {{ id }} {ERRORS} }} }}"""
UPDATE_SETTINGS = f"""mutation($input: TenantSettingsInput!) {{
  updateTenantSettings(input: $input) {{
    settings {{ adjustmentReasons adjustmentCategories {{ code }}
      history {{ nodes {{ actor action }} }} }} {ERRORS} }} }}"""
TXN = "transaction { id amount status applications { id accountNumber } }"
CREATE_TRANSACTION = f"""mutation($input: CreateTransactionInput!) {{
  createTransaction(input: $input) {{ {TXN} {ERRORS} }} }}"""
ADD_APPLICATION = f"""mutation($input: AddTransactionApplicationInput!) {{
  addTransactionApplication(input: $input) {{ {TXN} {ERRORS} }} }}"""
CHANGE_APPLICATION = f"""mutation($input: ChangeTransactionApplicationInput!) {{
  changeTransactionApplication(input: $input) {{ {TXN} {ERRORS} }} }}"""
REMOVE_APPLICATION = f"""mutation($id: ID!) {{
  removeTransactionApplication(applicationId: $id) {{ {TXN} {ERRORS} }} }}"""
POST_TRANSACTION = f"""mutation($input: PostTransactionInput!) {{
  postTransaction(input: $input) {{ command {{ id status }} {ERRORS} }} }}"""
VOID_TRANSACTION = f"""mutation($input: VoidTransactionInput!) {{
  voidTransaction(input: $input) {{ command {{ id status }} {ERRORS} }} }}"""
SAVE_CODE = f"""mutation($code: String!, $type: TransactionType!) {{
  saveTransactionCode(code: $code, type: $type, description: "a's own") {{
    transactionCode {{ code type description }} {ERRORS} }} }}"""
SET_DEFAULT = f"""mutation($payer: ID!, $type: TransactionType!, $code: String) {{
  setPayerDefaultCode(payerId: $payer, type: $type, code: $code) {{
    payer {{ id name }} {ERRORS} }} }}"""
JOB = "job { id status actor total }"
BULK_WRITE_OFF = f"""mutation($input: BulkWriteOffInput!) {{
  bulkWriteOff(input: $input) {{ {JOB} {ERRORS} }} }}"""
BULK_SELF_PAY = f"""mutation($input: BulkSelfPayInput!) {{
  bulkSelfPayTransactions(input: $input) {{ {JOB} {ERRORS} }} }}"""
REVERSE_BULK_JOB = f"""mutation($input: ReverseBulkJobInput!) {{
  reverseBulkJob(input: $input) {{ {JOB} {ERRORS} }} }}"""
CANCEL_BULK_JOB = f"""mutation($id: ID!) {{ cancelBulkJob(jobId: $id) {{ {JOB} {ERRORS} }} }}"""
IMPORT_REMITTANCE = f"""mutation($input: ImportRemittanceInput!) {{
  importRemittance(input: $input) {{
    remittances {{ traceNumber status claimSummary {{ matchedCount }} }} replayed {ERRORS} }} }}"""
POST_REMITTANCE = f"""mutation($id: ID!) {{
  postRemittance(remittanceId: $id) {{ remittance {{ id status }} {ERRORS} }} }}"""
REVERSE_REMITTANCE = f"""mutation($input: ReverseRemittanceInput!) {{
  reverseRemittance(input: $input) {{ remittance {{ id status }} {ERRORS} }} }}"""


def _refused(field: str | None, code: str, **nulls: Any) -> Expect:
    return _const({**nulls, "userErrors": [{"field": field, "code": code}]})


def _input(**fields: Any) -> Callable[[Callable[[Victim, Attacker], dict[str, Any]]], Vars]:
    """Variables `{"input": {...fields, ...built(b, a)}}`."""

    def wrap(built: Callable[[Victim, Attacker], dict[str, Any]]) -> Vars:
        return lambda b, a: {"input": {**fields, **built(b, a)}}

    return wrap


def _lines(key: str) -> Callable[[Victim, Attacker], dict[str, Any]]:
    return lambda b, a: {"lines": [{"lineId": b.ids[key], "amount": "1.00"}]}


WRITE_OFF_B_KEY = _input(idempotencyKey=B_WRITE_OFF_KEY, reason="CHARITY")(
    lambda b, a: {"lines": [{"lineId": gid("ChargeLine", a.world.line_ids[0]), "amount": "10"}]}
)
"""A's own write-off under the key B used: A must get a new command, never B's."""

ADJUSTMENT = {"category": "contract-correction", "reason": "contracted-rate-correction"}
NO_ADJUSTMENT: dict[str, Any] = {"command": None, "reducesBalance": None, "carc": None}
NO_REVERSAL: dict[str, Any] = {"command": None, "original": None, "changesSince": []}


def _settings_changed(b: Victim, a: Attacker) -> Any:
    return {
        "settings": {
            "adjustmentReasons": [*ADJUSTMENT_REASONS, "a-own-reason"],
            "adjustmentCategories": [{"code": c.code} for c in DEFAULT_CATEGORIES],
            "history": {"nodes": [{"actor": "a-actor", "action": "SETTINGS_CHANGED"}]},
        },
        "userErrors": [],
    }


def _filter(**fields: Any) -> Callable[[Victim, Attacker], dict[str, Any]]:
    return lambda b, a: {"filter": {k: v(b) if callable(v) else v for k, v in fields.items()}}


def _a_remittance(b: Victim, a: Attacker) -> Any:
    """A's own import of the same file: new (B's would be a replay, and POSTED), posting, its
    claim matching none of A's visits."""
    remittance = {"traceNumber": B_TRACE, "status": "POSTING", "claimSummary": {"matchedCount": 0}}
    return {"remittances": [remittance], "replayed": False, "userErrors": []}


BULK_FILTER = _input(idempotencyKey="a-bulk", reason="CHARITY")
SELF_PAY = _input(idempotencyKey="a-self-pay", type="FC", amount="1.00")

MUTATIONS: dict[str, list[Case]] = {
    "setAgingBucketEdges": [
        Case(
            "A's own",
            "mutation { setAgingBucketEdges(edges: [30, 60, 90]) { edges userErrors { code } } }",
            _const({}),
            _const({"edges": [30, 60, 90], "userErrors": []}),
        )
    ],
    "writeOff": [
        Case(
            "B's line",
            WRITE_OFF,
            _input(idempotencyKey="a-wo", reason="CHARITY")(_lines("line")),
            _refused("lines.0.lineId", "LINE_NOT_FOUND", command=None),
        ),
        Case(
            "B's key, A's line",
            WRITE_OFF_STATUS,
            WRITE_OFF_B_KEY,
            _const({"command": {"status": "PENDING"}, "userErrors": []}),
        ),
    ],
    "applyAdjustment": [
        Case(
            f"B's {key}",
            APPLY_ADJUSTMENT,
            _input(idempotencyKey=f"a-adj-{key}", amount="1.00", **ADJUSTMENT)(_b("target", key)),
            _refused("target", "TARGET_NOT_FOUND", **NO_ADJUSTMENT),
        )
        for key in ("visit", "line")
    ],
    "reverseEntry": [
        Case(
            "B's entry",
            REVERSE_ENTRY,
            _input(idempotencyKey="a-rev", reason="mistake")(
                lambda b, a: {"entryId": b.ids["entry"]}
            ),
            _refused("entryId", "ENTRY_NOT_FOUND", **NO_REVERSAL),
        )
    ],
    "updateTenantSettings": [
        Case(
            "A's own",
            UPDATE_SETTINGS,
            _const({"input": {"adjustmentReasons": [*ADJUSTMENT_REASONS, "a-own-reason"]}}),
            _settings_changed,
        )
    ],
    "createTransaction": [
        Case(
            "B's payer",
            CREATE_TRANSACTION,
            _input(type="PY", amount="1.00")(lambda b, a: {"payerId": b.ids["payer_one"]}),
            _refused("payerId", "PAYER_NOT_FOUND", transaction=None),
        ),
        Case(
            "B's code",
            CREATE_TRANSACTION,
            _input(type="PY", amount="1.00", code=B_CODE)(lambda b, a: {"payerId": a.payer}),
            _refused("code", "CODE_NOT_FOUND", transaction=None),
        ),
    ],
    "addTransactionApplication": [
        Case(
            "B's transaction",
            ADD_APPLICATION,
            _input(accountNumber="A1", amount="1.00")(lambda b, a: {"transactionId": b.ids["wip"]}),
            _refused("transactionId", "TRANSACTION_NOT_FOUND", transaction=None),
        ),
        Case(
            "B's account",
            ADD_APPLICATION,
            _input(accountNumber=B_ACCOUNT, amount="1.00")(lambda b, a: {"transactionId": a.wip}),
            _refused("accountNumber", "ACCOUNT_NOT_FOUND", transaction=None),
        ),
    ],
    "changeTransactionApplication": [
        Case(
            "B's application",
            CHANGE_APPLICATION,
            _input(amount="2.00")(lambda b, a: {"applicationId": b.ids["application"]}),
            _refused("applicationId", "APPLICATION_NOT_FOUND", transaction=None),
        )
    ],
    "removeTransactionApplication": [
        Case(
            "B's application",
            REMOVE_APPLICATION,
            _b("id", "application"),
            _refused("applicationId", "APPLICATION_NOT_FOUND", transaction=None),
        )
    ],
    "postTransaction": [
        Case(
            "B's transaction",
            POST_TRANSACTION,
            _input(idempotencyKey="a-post")(lambda b, a: {"transactionId": b.ids["wip"]}),
            _refused("transactionId", "TRANSACTION_NOT_FOUND", command=None),
        ),
        Case(
            "B's key and B's posted transaction",
            POST_TRANSACTION,
            _input(idempotencyKey=B_POST_KEY)(lambda b, a: {"transactionId": b.ids["posted"]}),
            _refused("transactionId", "TRANSACTION_NOT_FOUND", command=None),
        ),
    ],
    "voidTransaction": [
        Case(
            "B's transaction",
            VOID_TRANSACTION,
            _input(idempotencyKey="a-void", reason="mistake")(
                lambda b, a: {"transactionId": b.ids["posted"]}
            ),
            _refused("transactionId", "TRANSACTION_NOT_FOUND", command=None),
        )
    ],
    "saveTransactionCode": [
        Case(
            "B's code, another type",
            SAVE_CODE,
            _const({"code": B_CODE, "type": "CW"}),
            _const(
                {
                    "transactionCode": {"code": B_CODE, "type": "CW", "description": "a's own"},
                    "userErrors": [],
                }
            ),
        )
    ],
    "setPayerDefaultCode": [
        Case(
            "B's payer",
            SET_DEFAULT,
            lambda b, a: {"payer": b.ids["payer_one"], "type": "PY", "code": None},
            _refused("payerId", "PAYER_NOT_FOUND", payer=None),
        ),
        Case(
            "B's code",
            SET_DEFAULT,
            lambda b, a: {"payer": a.payer, "type": "PY", "code": B_CODE},
            _refused("code", "CODE_NOT_FOUND", payer=None),
        ),
    ],
    "bulkWriteOff": [
        Case(
            "B's lines",
            BULK_WRITE_OFF,
            BULK_FILTER(
                lambda b, a: {"selection": {"lineIds": [b.ids["line"], b.ids["secret_line"]]}}
            ),
            _const(
                {
                    "job": None,
                    "userErrors": [
                        {"field": "selection.lineIds.0", "code": "LINE_NOT_FOUND"},
                        {"field": "selection.lineIds.1", "code": "LINE_NOT_FOUND"},
                    ],
                }
            ),
        ),
        Case(
            "B's payer",
            BULK_WRITE_OFF,
            BULK_FILTER(
                lambda b, a: {"selection": _filter(payerId=lambda b: b.ids["payer_one"])(b, a)}
            ),
            _refused("selection.filter.payerId", "PAYER_NOT_FOUND", job=None),
        ),
        Case(
            "B's account",
            BULK_WRITE_OFF,
            BULK_FILTER(lambda b, a: {"selection": _filter(accountNumbers=[B_ACCOUNT])(b, a)}),
            _refused("selection.filter.accountNumbers", "ACCOUNT_NOT_FOUND", job=None),
        ),
        Case(
            "B's key and B's lines",
            BULK_WRITE_OFF,
            _input(idempotencyKey=B_BULK_KEY, reason="CHARITY")(
                lambda b, a: {"selection": {"lineIds": [b.ids["bulk_line"]]}}
            ),
            _refused("selection.lineIds.0", "LINE_NOT_FOUND", job=None),
        ),
    ],
    "bulkSelfPayTransactions": [
        Case(
            "B's account",
            BULK_SELF_PAY,
            SELF_PAY(_filter(accountNumbers=[B_ACCOUNT])),
            _refused("filter.accountNumbers", "ACCOUNT_NOT_FOUND", job=None),
        ),
        Case(
            "B's payer code",
            BULK_SELF_PAY,
            SELF_PAY(lambda b, a: {"payerCode": B_PAYER_CODE}),
            _refused("payerCode", "PAYER_NOT_FOUND", job=None),
        ),
    ],
    "reverseBulkJob": [
        Case(
            "B's job",
            REVERSE_BULK_JOB,
            _input(idempotencyKey="a-rev-job", reason="mistake")(
                lambda b, a: {"jobId": b.ids["job"]}
            ),
            _refused("jobId", "JOB_NOT_FOUND", job=None),
        )
    ],
    "cancelBulkJob": [
        Case(
            "B's job",
            CANCEL_BULK_JOB,
            _b("id", "job"),
            _refused("jobId", "JOB_NOT_FOUND", job=None),
        )
    ],
    "importRemittance": [
        Case(
            "B's file, imported by A as its own",
            IMPORT_REMITTANCE,
            lambda b, a: {"input": {"text": remittance_file(b)}},
            _a_remittance,
        )
    ],
    "postRemittance": [
        Case(
            "B's remittance",
            POST_REMITTANCE,
            _b("id", "remittance"),
            _refused("remittanceId", "REMITTANCE_NOT_FOUND", remittance=None),
        )
    ],
    "reverseRemittance": [
        Case(
            "B's remittance",
            REVERSE_REMITTANCE,
            _input(idempotencyKey="a-rev-remittance", reason="mistake")(
                lambda b, a: {"remittanceId": b.ids["remittance"]}
            ),
            _refused("remittanceId", "REMITTANCE_NOT_FOUND", remittance=None),
        )
    ],
}

# --- subscriptions ------------------------------------------------------------------------------

SUBSCRIPTIONS: dict[str, list[Case]] = {
    "accountBalance": [
        Case(
            f"B's {key}",
            "subscription($id: ID!) { accountBalance(accountId: $id) { accountId balance } }",
            _b("id", key),
            _const([("No such account.", "NOT_FOUND")]),
        )
        for key in ("account", "secret_account")
    ],
    "commandStatus": [
        Case(
            "B's command",
            "subscription($id: ID!) { commandStatus(id: $id) { id status } }",
            _b("id", "command"),
            _const([("No such command.", "NOT_FOUND")]),
        )
    ],
    "bulkJob": [
        Case(
            "B's job",
            "subscription($id: ID!) { bulkJob(id: $id) { jobId status applied } }",
            _b("id", "job"),
            _const([("No such bulk job.", "NOT_FOUND")]),
        )
    ],
}

TENANT_WIDE_SUBSCRIPTIONS: dict[str, str] = {
    "arDashboard": "subscription { arDashboard { seq snapshot aging { total { net } } } }",
}
"""Subscriptions that name no object: A's socket gets A's own figures and nothing of B's."""
