"""GraphQL and transport limits, proven over HTTP and over graphql-transport-ws against the real
server: depth, aliases, tokens, batch size, request and message size, subscriptions per
connection, and the connection-init timeout (on a second server with a short timeout)."""

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from arledger.config import Settings
from domain.db import SessionFactory
from tests.support.client import gid
from tests.support.factories import World, make_world
from tests.support.prod_server import (
    acknowledged,
    api_server,
    closed,
    receive,
    send,
    subscribe,
    websocket,
)

ACCOUNTS = "{ accounts { nodes { accountNumber } } }"
COMMAND_STATUS = "subscription($id: ID!) { commandStatus(id: $id) { %s } }"
BALANCE = "subscription($id: ID!) { accountBalance(accountId: $id) { version snapshot } }"


@pytest.fixture(scope="module")
async def world(sessions: SessionFactory) -> World:
    return await make_world(sessions, [10000])


@pytest.fixture(scope="module")
def token(world: World, settings: Settings) -> str:
    return world.token(settings, "billing.read")


async def post(client: httpx.AsyncClient, body: Any, token: str) -> httpx.Response:
    return await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})


def messages(body: dict[str, Any]) -> list[str]:
    assert body.get("data") is None, body
    return [e["message"] for e in body["errors"]]


async def ws_errors(server: str, token: str, query: str, variables: dict[str, Any]) -> Any:
    """What the server answers a subscription document with: an `error` message's payload
    messages, or the close (code, reason) when it closes the socket instead."""
    async with websocket(server) as ws:
        await acknowledged(ws, token)
        await subscribe(ws, "1", query, variables)
        try:
            reply = await receive(ws)
        except ConnectionClosed:
            return ws.close_code, ws.close_reason
        assert reply["type"] == "error" and reply["id"] == "1", reply
        return [e["message"] for e in reply["payload"]]


# ---------------------------------------------------------------------------------------------
# Depth, aliases, tokens: over HTTP (queries) and websocket (subscriptions)
# ---------------------------------------------------------------------------------------------


def nested(depth: int) -> str:
    """A selection making a document `depth` fields deep below a root field. No real path is
    that deep (the schema's deepest is 7 fields), so it names a field the type does not have,
    `f`, reported beside the depth."""
    return "f { " * (depth - 2) + "id" + " }" * (depth - 2)


def too_deep_query(depth: int) -> str:
    return "{ accounts { nodes { " + nested(depth - 1) + " } } }"


async def test_depth_limit_over_http_and_websocket(
    client: httpx.AsyncClient, server: str, settings: Settings, world: World, token: str
) -> None:
    depth = settings.max_query_depth + 2  # fields deep: the root field is depth 0
    too_deep = f"'anonymous' exceeds maximum operation depth of {settings.max_query_depth}"
    # given a query and a subscription one level deeper than the limit
    variables = {"id": gid("Command", 1)}
    # when each is sent over its transport
    query = too_deep_query(depth)
    over_http = messages((await post(client, {"query": query}, token)).json())
    over_ws = await ws_errors(server, token, COMMAND_STATUS % nested(depth), variables)
    # then both are refused with the depth error (beside the unknown field), nothing runs
    assert sorted(over_http) == [too_deep, "Cannot query field 'f' on type 'Account'."]
    assert sorted(over_ws) == [too_deep, "Cannot query field 'f' on type 'Command'."]


async def test_alias_limit_over_http_and_websocket(
    client: httpx.AsyncClient, server: str, settings: Settings, token: str
) -> None:
    allowed = settings.max_aliases
    too_many = f"{allowed + 1} aliases found. Allowed: {allowed}"
    # given documents with one alias too many
    query = "{ " + " ".join(f"a{n}: __typename" for n in range(allowed + 1)) + " }"
    selection = " ".join(f"a{n}: status" for n in range(allowed + 1))
    # when each is sent
    over_http = messages((await post(client, {"query": query}, token)).json())
    over_ws = await ws_errors(server, token, COMMAND_STATUS % selection, {"id": gid("Command", 1)})
    # then both are refused before anything runs
    assert over_http == over_ws == [too_many]


async def test_token_limit_over_http_and_websocket(
    client: httpx.AsyncClient, server: str, settings: Settings, token: str
) -> None:
    limit = settings.max_tokens
    message = f"Syntax Error: Document contains more than {limit} tokens. Parsing aborted."
    # given documents of more than max_tokens tokens
    query = "{ " + "__typename " * limit + "}"
    selection = "status " * limit
    # when each is sent
    over_http = messages((await post(client, {"query": query}, token)).json())
    over_ws = await ws_errors(server, token, COMMAND_STATUS % selection, {"id": gid("Command", 1)})
    # then HTTP answers the parse error; the websocket, as graphql-transport-ws does for any
    # syntax error, closes with 4400 and that message
    assert over_http == [message]
    assert over_ws == (4400, message)


async def test_long_syntax_error_closes_the_socket_with_a_reason_that_fits(
    server: str, token: str
) -> None:
    # given a subscription whose syntax error quotes a 300-character name
    query = "subscription { __typename } " + "x" * 300
    async with websocket(server) as ws:
        await acknowledged(ws, token)
        # when it is sent
        await subscribe(ws, "1", query)
        # then the socket is closed 4400 with the message cut to the 123 bytes a frame holds
        code, reason = await closed(ws)
    assert code == 4400
    assert reason == ("Syntax Error: Unexpected Name '" + "x" * 300)[:123]


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


async def test_batch_up_to_the_limit_is_answered_in_order(
    client: httpx.AsyncClient, settings: Settings, token: str
) -> None:
    size = settings.max_batch_operations
    # given a batch of max_batch_operations operations, one of them too deep
    batch = [{"query": ACCOUNTS}] * (size - 1) + [{"query": too_deep_query(12)}]
    # when it is posted
    response = await post(client, batch, token)
    # then each is answered in order, and only the deep one fails
    answered = response.json()
    assert response.status_code == 200
    assert answered[:-1] == [{"data": {"accounts": {"nodes": [{"accountNumber": "A1"}]}}}] * (
        size - 1
    )
    assert sorted(messages(answered[-1])) == [
        "'anonymous' exceeds maximum operation depth of 10",
        "Cannot query field 'f' on type 'Account'.",
    ]


async def test_batch_over_the_limit_is_refused_whole(
    client: httpx.AsyncClient, settings: Settings, token: str
) -> None:
    # given a batch of one operation more than max_batch_operations
    batch = [{"query": ACCOUNTS}] * (settings.max_batch_operations + 1)
    # when it is posted
    response = await post(client, batch, token)
    # then none of it runs
    assert (response.status_code, response.text) == (400, "Too many operations")


# ---------------------------------------------------------------------------------------------
# Request and message size
# ---------------------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A valid GraphQL JSON body of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = json.dumps({"query": ACCOUNTS}).encode()
    return body + b" " * (size - len(body))


REQUEST_TOO_LARGE = {
    "errors": [
        {
            "message": "The request body is larger than 262144 bytes.",
            "extensions": {"code": "REQUEST_TOO_LARGE"},
        }
    ]
}


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 413)])
async def test_request_body_limit_is_exact(
    client: httpx.AsyncClient, settings: Settings, token: str, extra: int, status: int
) -> None:
    limit = settings.max_request_bytes
    assert limit == 256 * 1024
    # given a body of exactly the limit, or one byte more
    body = padded(limit + extra)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # when it is posted
    response = await client.post("/graphql", content=body, headers=headers)
    # then the first is answered, the second refused with 413
    assert response.status_code == status
    if status == 413:
        assert response.json() == REQUEST_TOO_LARGE
    else:
        assert response.json() == {"data": {"accounts": {"nodes": [{"accountNumber": "A1"}]}}}


async def raw_response(server: str, head: bytes, chunks: Iterator[bytes]) -> bytes:
    """Send `head` then `chunks` (until the server answers or hangs up); the response head."""
    host, port = server.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def write() -> None:
        writer.write(head)
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()

    sending = asyncio.create_task(write())
    try:
        async with asyncio.timeout(10):
            return await reader.readuntil(b"\r\n\r\n")
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()


async def test_declared_oversize_body_is_refused_before_it_is_sent(server: str) -> None:
    # given a request announcing 100 MB and sending none of it
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\n\r\n"
    )
    # when it is sent, the answer is 413 at once
    response = await raw_response(server, head, iter([]))
    assert response.startswith(b"HTTP/1.1 413 ")


async def test_endless_chunked_body_is_cut_off_at_the_limit(server: str) -> None:
    # given a chunked body that never ends (no Content-Length to refuse it by)
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"

    def endless() -> Iterator[bytes]:
        while True:
            yield chunk

    # when it is streamed, the server answers 413 without waiting for an end that never comes
    response = await raw_response(server, head, endless())
    assert response.startswith(b"HTTP/1.1 413 ")


async def test_websocket_message_over_the_limit_closes_1009(
    server: str, settings: Settings, token: str
) -> None:
    async with websocket(server) as ws:
        await acknowledged(ws, token)
        # when a message one byte over the limit arrives
        filler = " " * settings.max_request_bytes
        await ws.send('{"type": "ping"}' + filler[: settings.max_request_bytes - 15])
        # then the socket is closed 1009 (message too big)
        assert await closed(ws) == (1009, "Message larger than 262144 bytes")


# ---------------------------------------------------------------------------------------------
# Subscriptions per connection, connection-init timeout
# ---------------------------------------------------------------------------------------------


async def test_subscriptions_per_connection_are_capped(
    server: str, settings: Settings, world: World, token: str
) -> None:
    cap = settings.max_subscriptions_per_connection
    variables = {"id": gid("Account", world.account_id)}
    async with websocket(server) as ws:
        await acknowledged(ws, token)
        # given as many live subscriptions as allowed, each past its snapshot
        for n in range(cap):
            await subscribe(ws, str(n), BALANCE, variables)
        snapshots = [await receive(ws) for _ in range(cap)]
        assert sorted(int(m["id"]) for m in snapshots) == list(range(cap))
        assert {m["payload"]["data"]["accountBalance"]["snapshot"] for m in snapshots} == {True}
        # when one more is started, it is refused on its own; the socket stays open
        await subscribe(ws, "extra", BALANCE, variables)
        assert await receive(ws) == {
            "id": "extra",
            "type": "error",
            "payload": [{"message": "Subscription limit reached"}],
        }
        # and once one is completed, a new one is accepted
        await send(ws, {"id": "0", "type": "complete"})
        await subscribe(ws, "again", BALANCE, variables)
        reply = await receive(ws)
        assert (reply["id"], reply["payload"]["data"]["accountBalance"]["snapshot"]) == (
            "again",
            True,
        )


@pytest.fixture(scope="module")
def quick_init_server(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second API whose connection_init must come within 0.5 s."""
    log = tmp_path_factory.mktemp("quick-init") / "api.log"
    with api_server({"WS_INIT_TIMEOUT_SECONDS": "0.5"}, log) as base:
        yield base


async def test_socket_without_connection_init_is_closed_4408(quick_init_server: str) -> None:
    loop = asyncio.get_running_loop()
    async with websocket(quick_init_server) as ws:
        opened = loop.time()
        # when nothing is sent after the handshake
        # then the socket is closed 4408 once the 0.5 s are up
        assert await closed(ws) == (4408, "Connection initialisation timeout")
        assert 0.5 <= loop.time() - opened < 3


async def test_socket_initialised_in_time_stays_open(quick_init_server: str, token: str) -> None:
    async with websocket(quick_init_server) as ws:
        # given a connection_init within the timeout
        await acknowledged(ws, token)
        # when well past the timeout the client pings
        await asyncio.sleep(1)
        await send(ws, {"type": "ping"})
        # then the server still answers
        assert await receive(ws) == {"type": "pong"}
