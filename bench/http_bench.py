"""Phase 3: end to end over HTTP. `clients` concurrent httpx clients (one keep-alive
connection each) send a fixed number of mutations; for arledger the clock runs until every
command is final, for the bare app until every response is in."""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from api.ids import decode_id, encode_id

WRITE_OFF = """
mutation($input: WriteOffInput!) {
  writeOff(input: $input) { command { id status } userErrors { field code message } }
}"""
NOOP = """
mutation($input: NoopInput!) {
  noop(input: $input) { command { id status } userErrors { field code message } }
}"""

Body = Callable[[int], dict[str, Any]]


def writeoff_input(key: str, line_id: int, cents: int) -> dict[str, Any]:
    amount = f"{cents // 100}.{cents % 100:02d}"
    return {
        "input": {
            "idempotencyKey": key,
            "reason": "CHARITY",
            "note": None,
            "lines": [{"lineId": encode_id("ChargeLine", line_id), "amount": amount}],
        }
    }


def writeoff_bodies(line_ids: list[int], seed: int) -> Body:
    """Request n: a one-line write-off of 1..99 cents on a line drawn at random."""
    run, rng = secrets.token_hex(4), random.Random(seed)
    picks: dict[int, tuple[int, int]] = {}

    def body(n: int) -> dict[str, Any]:
        line_id, cents = picks.setdefault(n, (rng.choice(line_ids), rng.randint(1, 99)))
        return {"query": WRITE_OFF, "variables": writeoff_input(f"http-{run}-{n}", line_id, cents)}

    return body


def noop_bodies(line_ids: list[int]) -> Body:
    """Request n for the bare app: the same shape and size as a write-off."""
    run = secrets.token_hex(4)

    def body(n: int) -> dict[str, Any]:
        variables = writeoff_input(f"bare-{run}-{n}", line_ids[n % len(line_ids)], 1 + n % 99)
        return {"query": NOOP, "variables": variables}

    return body


def command_pk(payload: dict[str, Any], field: str) -> int | None:
    """The command id of a write-off answer; raises on GraphQL or user errors."""
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    answer = payload["data"][field]
    if answer["userErrors"]:
        raise RuntimeError(f"user errors: {answer['userErrors']}")
    if field == "noop":
        return None
    return decode_id(answer["command"]["id"], "Command")


@dataclass
class Blast:
    requests: int
    seconds: float
    command_ids: list[int]
    errors: list[str]
    started: float  # epoch seconds

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


async def blast(
    base: str, token: str | None, clients: int, count: int, body: Body, field: str
) -> Blast:
    """Send `count` mutations from `clients` concurrent clients; collect command ids."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    counter = itertools.count()
    ids: list[int] = []
    errors: list[str] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        while (n := next(counter)) < count:
            try:
                response = await client.post("/graphql", json=body(n), headers=headers)
                response.raise_for_status()
                pk = command_pk(response.json(), field)
                if pk is not None:
                    ids.append(pk)
            except (httpx.HTTPError, RuntimeError, KeyError, TypeError) as exc:
                errors.append(f"request {n}: {exc!r}"[:500])

    pool = [httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) for _ in range(clients)]
    try:
        # one request each first: connections are opened before the clock starts
        await asyncio.gather(*(c.post("/graphql", json={"query": "{ __typename }"}) for c in pool))
        started, start = time.time(), time.monotonic()
        await asyncio.gather(*(client_loop(c) for c in pool))
        seconds = time.monotonic() - start
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    return Blast(count, seconds, ids, errors, started)
