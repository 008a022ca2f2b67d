"""The live dashboard's test helpers: its subscription over a real graphql-transport-ws socket,
the same figures asked of the report queries in one operation, and write-offs over HTTP."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.reports.ops import data
from tests.support.client import WRITE_OFF, gql, write_off_input

SUMMARY_FIELDS = "amount gross reversed memoAmount entries reversals"
AGING_FIELDS = """asOf basis groupBy buckets { label minDays maxDays }
    rows { payer { id code name } payerClass
           buckets { bucket { label } amount visits percent }
           debitTotal debitVisits credits { amount visits } net }
    total { buckets { bucket { label } amount visits percent }
            debitTotal debitVisits credits { amount visits } net }"""
WRITE_OFF_FIELDS = f"""from to asOf groupBy
    rows {{ reason user payer {{ code }} {SUMMARY_FIELDS} }} total {{ {SUMMARY_FIELDS} }}"""
ADJUSTMENT_FIELDS = f"""from to asOf groupBy
    rows {{ category carc carcGroup carcReason reason payer {{ code }} {SUMMARY_FIELDS} }}
    total {{ {SUMMARY_FIELDS} }}"""
KPI_FIELDS = """from to asOf days totalAr debitAr creditBalances charges averageDailyCharges
    daysInAr arOver90 arOver120 percentOver90 percentOver120 payments contractualAdjustments
    netCollectionRate writeOffs adjustments writeOffPercentOfCharges adjustmentPercentOfCharges"""
ACTIVITY_FIELDS = """entryId accountId accountNumber accountName kind amount memoAmount label
    postedAt"""

DASHBOARD = f"""subscription($filter: DashboardFilter) {{
  arDashboard(filter: $filter) {{
    seq snapshot computedAt
    aging {{ {AGING_FIELDS} }}
    writeOffs {{ {WRITE_OFF_FIELDS} }}
    adjustments {{ {ADJUSTMENT_FIELDS} }}
    adjustmentsByCarc {{ {ADJUSTMENT_FIELDS} }}
    kpis {{ {KPI_FIELDS} }}
    activity {{ {ACTIVITY_FIELDS} }}
  }}
}}"""

QUERIES = f"""query($from: Date!, $to: Date!, $groupBy: AgingGroupBy!, $basis: AgingBasis!) {{
  aging: arAging(groupBy: $groupBy, basis: $basis) {{ {AGING_FIELDS} }}
  writeOffs: writeOffSummary(from: $from, to: $to, groupBy: REASON) {{ {WRITE_OFF_FIELDS} }}
  adjustments: adjustmentSummary(from: $from, to: $to, groupBy: CATEGORY) {{
    {ADJUSTMENT_FIELDS} }}
  adjustmentsByCarc: adjustmentSummary(from: $from, to: $to, groupBy: CARC) {{
    {ADJUSTMENT_FIELDS} }}
  kpis: arKpis(from: $from, to: $to) {{ {KPI_FIELDS} }}
}}"""
"""The four report queries, aliased as the dashboard names its parts."""


async def queried(
    client: httpx.AsyncClient,
    token: str,
    first: str,
    last: str,
    group_by: str = "PAYER",
    basis: str = "DATE_OF_SERVICE",
) -> dict[str, Any]:
    """What the report queries answer for a dashboard of the period `first`..`last`."""
    variables = {"from": first, "to": last, "groupBy": group_by, "basis": basis}
    return await data(client, QUERIES, variables, token)


def figures(push: dict[str, Any]) -> dict[str, Any]:
    """A push's parts the queries answer too (not seq, snapshot, computedAt, activity)."""
    return {k: push[k] for k in ("aging", "writeOffs", "adjustments", "adjustmentsByCarc", "kpis")}


@dataclass
class Push:
    sub_id: str
    data: dict[str, Any]
    at: float


@dataclass
class Dashboards:
    """One socket; `pushes` collects every push of every subscription on it, in order."""

    ws: ClientConnection
    pushes: list[Push] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    _read: dict[str, int] = field(default_factory=dict)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def subscribe(self, sub_id: str, variables: dict[str, Any] | None = None) -> None:
        payload = {"query": DASHBOARD, "variables": variables or {}}
        await self.send({"id": sub_id, "type": "subscribe", "payload": payload})

    async def run(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message["type"] == "ping":
                await self.send({"type": "pong"})
            elif message["type"] == "next" and message["payload"].get("data"):
                self.pushes.append(
                    Push(message["id"], message["payload"]["data"]["arDashboard"], time.time())
                )
            else:
                self.errors.append(message)
            self._arrived.set()

    def of(self, sub_id: str) -> list[dict[str, Any]]:
        return [p.data for p in self.pushes if p.sub_id == sub_id]

    async def wait(self, condition: Any, within: float = 20) -> None:
        """Until `condition()` holds."""
        async with asyncio.timeout(within):
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()

    async def next(self, sub_id: str, within: float = 20) -> dict[str, Any]:
        """The next push of `sub_id` after those already read by `next`."""
        count = self._read.get(sub_id, 0)
        await self.wait(lambda: len(self.of(sub_id)) > count, within)
        self._read[sub_id] = count + 1
        return self.of(sub_id)[count]

    async def quiet(self, seconds: float = 1.0, within: float = 60) -> None:
        """Until nothing has arrived for `seconds`."""
        async with asyncio.timeout(within):
            while True:
                count = len(self.pushes)
                await asyncio.sleep(seconds)
                if len(self.pushes) == count:
                    return


@contextlib.asynccontextmanager
async def dashboards(server: str, token: str | None) -> AsyncIterator[Dashboards]:
    """An initialised socket (connection_ack received) reading in the background."""
    url = server.replace("http", "ws", 1) + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        async with asyncio.timeout(10):
            ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        board = Dashboards(ws)
        reader = asyncio.create_task(board.run())
        try:
            yield board
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def write_off(
    client: httpx.AsyncClient, token: str, key: str, line_id: int, amount: str
) -> str:
    """Submit a CHARITY write-off over HTTP; its command id (not waited for)."""
    body = await gql(client, WRITE_OFF, write_off_input(key, [(line_id, amount)]), token)
    payload = body["data"]["writeOff"]
    assert payload["userErrors"] == [], payload
    command_id: str = payload["command"]["id"]
    return command_id
