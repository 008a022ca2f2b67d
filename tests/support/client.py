"""Talking to the running server: GraphQL over HTTP, and waiting for commands to finish."""

import asyncio
import base64
import time
from typing import Any

import httpx

WRITE_OFF = """
mutation($input: WriteOffInput!) {
  writeOff(input: $input) { command { id status } userErrors { field code message } }
}"""
COMMAND = "query($id: ID!) { command(id: $id) { id status errorCode errorMessage } }"


def gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def write_off_input(
    key: str, lines: list[tuple[int, str]], reason: str = "CHARITY", note: str | None = None
) -> dict[str, Any]:
    """Variables for writeOff; `reason` is a WriteOffReason name (CHARITY, SMALL_BALANCE …)."""
    return {
        "input": {
            "idempotencyKey": key,
            "reason": reason,
            "note": note,
            "lines": [{"lineId": gid("ChargeLine", i), "amount": a} for i, a in lines],
        }
    }


async def wait_final(
    client: httpx.AsyncClient, command_id: str, token: str, within: float = 30
) -> dict[str, Any]:
    """Poll until the command is APPLIED or REJECTED."""
    deadline = time.monotonic() + within
    while True:
        assert time.monotonic() < deadline, f"command {command_id} still PENDING"
        try:
            body = await gql(client, COMMAND, {"id": command_id}, token)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            continue  # a kept-alive connection closed under us; the read is safe to repeat
        command = body["data"]["command"]
        if command["status"] != "PENDING":
            return command
        await asyncio.sleep(0.05)
