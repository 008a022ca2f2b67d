"""The remittance API against the real server and worker: a multipart upload imported, posted
and read back to the cent, the posting followed over the `bulkJob` subscription, replays,
review, reversal, every refusal typed and storing nothing, and the authorisation matrix."""

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from arledger.config import Settings
from domain.db import SessionFactory
from domain.remittances.generate import ProviderAdjustmentSpec
from domain.remittances.parser import parse_835
from tests.bulk.gql import subscriber
from tests.remittances.gql import (
    POST,
    REVERSE,
    claim,
    detail,
    file_of,
    import_text,
    imported,
    payload,
    settled,
    slug_of,
    stored,
    token,
    unbalanced,
    upload,
)
from tests.remittances.samples import sample
from tests.remittances.world import RemitWorld, world_for
from tests.support.client import gid, gql

pytestmark = pytest.mark.usefixtures("worker")


@dataclass
class Scene:
    """A tenant whose visits the file's claims name, and an every-scope token of it."""

    world: RemitWorld
    slug: str
    token: str


async def scene(sessions: SessionFactory, settings: Settings, data: bytes, **kw: Any) -> Scene:
    world = await world_for(sessions, parse_835(data, strict=False), **kw)
    slug = await slug_of(sessions, world.tenant_id)
    return Scene(world, slug, token(settings, slug))


CO_45 = "Charges exceed your contracted/legislated fee arrangement."


def _adjustment(group: str, reason: str, amount: str, effect: str) -> dict[str, Any]:
    return {
        "group": group,
        "groupCode": group,
        "reasonCode": reason,
        "amount": amount,
        "quantity": None,
        "effect": effect,
    }


async def test_a_multipart_upload_is_imported_posted_and_read_to_the_cent(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given visits for claims C1 and C2 (C3 names none), and a file paying 70.00 on each, with
    # 5.00 of interest (PLB L6) added to the check
    data = file_of(
        "T-UPLOAD",
        claim("C1"),
        claim("C2"),
        claim("C3"),
        plb=(ProviderAdjustmentSpec("L6", -500),),
    )
    s = await scene(sessions, settings, data, skip=["C3"])
    # when it is uploaded as a multipart request
    answer = await imported(await upload(client, data, s.token, filename="check-T.835"))
    # then it is stored and posting, as a REMITTANCE job
    [remittance] = answer["remittances"]
    assert (answer["replayed"], answer["userErrors"]) == (False, [])
    assert remittance["status"] == "POSTING"
    assert remittance["postingJob"]["kind"] == "REMITTANCE"
    # when the posting job is followed over the bulkJob subscription
    async with subscriber(server, s.token) as sub:
        await sub.subscribe("posting", remittance["postingJob"]["id"])
        events = await sub.events("posting")
    # then it ends finished and DONE, and the remittance reads back to the cent
    assert (events[-1]["finished"], events[-1]["status"]) == (True, "DONE")
    assert await settled(client, remittance["id"], s.token) == "POSTED"
    shown = await detail(client, remittance["id"], s.token)
    assert {k: shown[k] for k in ("paid", "posted", "unapplied", "providerAdjustmentTotal")} == {
        "paid": "215.00",
        "posted": "140.00",
        "unapplied": "70.00",
        "providerAdjustmentTotal": "-5.00",
    }
    assert shown["claimSummary"] == {
        "claimCount": 3,
        "matchedCount": 2,
        "unmatchedCount": 1,
        "postedCount": 2,
        "deniedCount": 0,
        "reversedCount": 0,
        "skippedCount": 0,
        "unappliedCount": 1,
    }
    assert shown["file"] == {
        "filename": "check-T.835",
        "sha256": hashlib.sha256(data).hexdigest(),
        "sizeBytes": len(data),
        "importedBy": "remitter",
    }
    assert shown["transaction"] == {
        "type": "PY",
        "amount": "140.00",
        "status": "POSTED",
        "applications": [{"amount": "70.00"}, {"amount": "70.00"}],
    }
    plb = shown["providerAdjustments"]
    assert [(p["reasonCode"], p["reasonText"], p["amount"]) for p in plb] == [
        ("L6", "Interest Owed", "-5.00")
    ]
    assert plb[0]["postedAt"] is not None
    first, _, unmatched = shown["claims"]["nodes"]
    visit = gid("Visit", s.world.visits["C1"])
    line = gid("ChargeLine", s.world.lines["C1"][0])
    assert first == {
        "patientControlNumber": "C1",
        "statusCode": "1",
        "statusText": "Processed as Primary",
        "charge": "100.00",
        "paid": "70.00",
        "patientResponsibility": "10.00",
        "payerClaimControlNumber": "PCN1",
        "patientName": "DOE, JANE",
        "serviceDate": "2026-01-05",
        "outcome": "POSTED",
        "code": None,
        "message": None,
        "posted": "70.00",
        "unapplied": "0.00",
        "visit": {"id": visit, "balance": "10.00"},
        "adjustments": [],
        "lines": [
            {
                "procedureQualifier": "HC",
                "procedureCode": "99213",
                "modifiers": ["25"],
                "serviceDate": "2026-01-05",
                "charge": "100.00",
                "paid": "70.00",
                "units": None,
                "controlNumber": "C1-L1",
                "unmatchedCode": None,
                "chargeLine": {"id": line, "balance": "10.00"},
                "adjustments": [
                    {**_adjustment("CO", "45", "20.00", "REDUCE"), "reasonText": CO_45},
                    {
                        **_adjustment("PR", "2", "10.00", "MEMO"),
                        "reasonText": "Coinsurance Amount",
                    },
                ],
            }
        ],
    }
    assert (unmatched["outcome"], unmatched["code"], unmatched["unapplied"]) == (
        "UNMATCHED",
        "CLAIM_NOT_FOUND",
        "70.00",
    )
    assert (unmatched["visit"], unmatched["lines"][0]["chargeLine"]) == (None, None)
    # and the visit lists the claim that paid it
    visit_claims = """query($id: ID!) { node(id: $id) { ... on Visit {
      remittances { patientControlNumber posted remittance { id traceNumber } } } } }"""
    body = await gql(client, visit_claims, {"id": visit}, s.token)
    assert body["data"]["node"]["remittances"] == [
        {
            "patientControlNumber": "C1",
            "posted": "70.00",
            "remittance": {"id": remittance["id"], "traceNumber": "T-UPLOAD"},
        }
    ]
    # when the same file comes again
    before = await stored(sessions, s.world.tenant_id)
    again = await imported(await upload(client, data, s.token, filename="again.835"))
    # then it is the same remittance, replayed, and nothing is added
    assert again["replayed"] is True
    assert [r["id"] for r in again["remittances"]] == [remittance["id"]]
    assert again["remittances"][0]["status"] == "POSTED"
    assert await stored(sessions, s.world.tenant_id) == before


async def test_an_unbalanced_file_waits_for_review_then_posts_when_a_person_says_so(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a file whose claim U1 does not balance (CLP03 - CLP04 = 30.00, the CAS say 25.00)
    data = file_of("T-REVIEW", unbalanced("U1"))
    s = await scene(sessions, settings, data)
    # when it is imported as text
    answer = await import_text(client, data.decode(), s.token)
    [held] = answer["remittances"]
    # then it is held, with every imbalance to the cent and the segment it is about
    assert (held["status"], held["balanced"], held["postingJob"]) == ("NEEDS_REVIEW", False, None)
    shown = await detail(client, held["id"], s.token)
    assert shown["imbalances"] == [
        {
            "level": level,
            "reference": reference,
            "segment": segment,
            "expected": "30.00",
            "actual": "25.00",
            "difference": "5.00",
            "message": f"{level.lower()} {reference} (segment {segment}): {sides} is 30.00 but "
            f"{parts} is 25.00 (off by 5.00)",
        }
        for level, reference, segment, sides, parts in (
            ("CLAIM", "U1", 13, "CLP03 - CLP04", "Σ claim and line CAS"),
            ("LINE", "U1 line 1", 15, "SVC02 - SVC03", "Σ line CAS"),
        )
    ]
    assert shown["claims"]["nodes"][0]["outcome"] == "PENDING"
    # when a person posts it anyway
    posted = await payload(client, POST, {"id": held["id"]}, s.token)
    # then it posts, naming who reviewed it, and settles POSTED
    assert posted["userErrors"] == []
    assert (posted["remittance"]["status"], posted["remittance"]["reviewedBy"]) == (
        "POSTING",
        "remitter",
    )
    assert await settled(client, held["id"], s.token) == "POSTED"
    balance = "query($id: ID!) { node(id: $id) { ... on Visit { balance } } }"
    visit = await gql(client, balance, {"id": gid("Visit", s.world.visits["U1"])}, s.token)
    assert visit["data"]["node"] == {"balance": "5.00"}
    # and asking again changes nothing
    before = await stored(sessions, s.world.tenant_id)
    again = await payload(client, POST, {"id": held["id"]}, s.token)
    assert (again["userErrors"], again["remittance"]["status"]) == ([], "POSTED")
    assert await stored(sessions, s.world.tenant_id) == before


async def test_a_lenient_import_keeps_the_defect_as_an_issue_and_holds_it(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given sample 02, whose BPR16 is an impossible date
    text = sample("02_lfh_managed_care_two_claims.835").decode()
    s = await scene(sessions, settings, text.encode())
    before = await stored(sessions, s.world.tenant_id)
    # when it is imported strictly, then leniently
    strict = await import_text(client, text, s.token, filename="02.835")
    lenient = await import_text(client, text, s.token, filename="02.835", lenient=True)
    # then the strict import is refused, naming the segment, and stores nothing
    message = "segment 4 (BPR): BPR16 '20002316' is not a calendar date"
    assert strict == {
        "remittances": [],
        "replayed": False,
        "userErrors": [{"field": "text", "code": "REMITTANCE_MALFORMED", "message": message}],
    }
    # and the lenient one is held for review with the defect as its issue
    [held] = lenient["remittances"]
    assert (held["status"], held["balanced"], held["paid"]) == ("NEEDS_REVIEW", True, "945.00")
    shown = await detail(client, held["id"], s.token)
    assert shown["issues"] == [
        {"segment": 4, "tag": "BPR", "code": "REMITTANCE_MALFORMED", "message": message}
    ]
    assert shown["file"]["filename"] == "02.835"
    after = await stored(sessions, s.world.tenant_id)
    assert (after["remittance_files"], after["remittances"]) == (
        before["remittance_files"] + 1,
        before["remittances"] + 1,
    )


async def test_reversing_a_remittance_undoes_it_once(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a posted remittance paying claim D1, and one held for review
    data = file_of("T-UNDO", claim("D1"))
    held_data = file_of("T-HELD", unbalanced("D2"))
    world = await world_for(sessions, [*parse_835(data), *parse_835(held_data)])
    s = Scene(world, await slug_of(sessions, world.tenant_id), "")
    s.token = token(settings, s.slug)
    [posted] = (await import_text(client, data.decode(), s.token))["remittances"]
    [held] = (await import_text(client, held_data.decode(), s.token))["remittances"]
    assert await settled(client, posted["id"], s.token) == "POSTED"
    undo = {"idempotencyKey": "undo-1", "remittanceId": posted["id"], "reason": "wrong practice"}
    # when it is reversed
    reversal = await payload(client, REVERSE, {"input": undo}, s.token)
    # then a reversal job runs, the remittance ends REVERSED and the visit owes it all again
    assert reversal["userErrors"] == []
    shown = reversal["remittance"]
    assert (shown["status"], shown["reversalReason"]) == ("REVERSING", "wrong practice")
    assert shown["reversalJob"]["kind"] == "REVERSAL"
    assert await settled(client, posted["id"], s.token) == "REVERSED"
    after = await detail(client, posted["id"], s.token)
    assert after["transaction"]["status"] == "VOIDED"
    assert after["claims"]["nodes"][0]["visit"]["balance"] == "100.00"
    # and the same key returns it as it is; another key, or a remittance not posted, is refused
    again = await payload(client, REVERSE, {"input": undo}, s.token)
    assert again["userErrors"] == []
    assert again["remittance"]["reversalJob"] == {**shown["reversalJob"], "status": "DONE"}
    other = await payload(client, REVERSE, {"input": {**undo, "idempotencyKey": "undo-2"}}, s.token)
    not_posted = {**undo, "idempotencyKey": "undo-3", "remittanceId": held["id"]}
    refused = await payload(client, REVERSE, {"input": not_posted}, s.token)
    assert [(e["field"], e["code"]) for e in other["userErrors"] + refused["userErrors"]] == [
        ("remittanceId", "REMITTANCE_ALREADY_REVERSED"),
        ("remittanceId", "REMITTANCE_NOT_POSTED"),
    ]
    assert other["remittance"] is None and refused["remittance"] is None
