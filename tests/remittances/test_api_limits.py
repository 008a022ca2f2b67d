"""Upload sizes: a multipart upload has its own limit (MAX_UPLOAD_BYTES, 50 MiB), every other
body keeps MAX_REQUEST_BYTES (256 KiB); and a file over the 835 reader's own limit, let
through by a larger upload limit, is refused as a typed userError storing nothing."""

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest

from arledger.config import Settings
from domain.db import SessionFactory
from domain.remittances.x12 import MAX_BYTES
from tests.remittances.gql import (
    IMPORT,
    claim,
    file_of,
    headers,
    imported,
    slug_of,
    stored,
    token,
    upload,
)
from tests.remittances.world import world_for
from tests.support.prod_server import api_server

pytestmark = pytest.mark.usefixtures("worker")

BIG = file_of("T-BIG", *(claim(f"Z{n:05d}") for n in range(2200)))
"""A valid 835 of about 320 KB: over the JSON limit, far under the upload limit."""


def _too_large(limit: int) -> dict[str, object]:
    message = f"The request body is larger than {limit} bytes."
    return {"errors": [{"message": message, "extensions": {"code": "REQUEST_TOO_LARGE"}}]}


@pytest.fixture
async def bearer(sessions: SessionFactory, settings: Settings) -> str:
    """An every-scope token of a fresh tenant without visits (every claim stays unmatched)."""
    world = await world_for(sessions, [])
    return token(settings, await slug_of(sessions, world.tenant_id))


async def test_an_upload_over_the_json_limit_passes_and_the_same_as_json_does_not(
    client: httpx.AsyncClient, settings: Settings, bearer: str
) -> None:
    assert settings.max_request_bytes < 300 * 1024 < len(BIG) < settings.max_upload_bytes
    # when the file is uploaded as multipart, and sent as text in a JSON body
    uploaded = await upload(client, BIG, bearer)
    variables = {"input": {"text": BIG.decode()}}
    as_json = await client.post(
        "/graphql", json={"query": IMPORT, "variables": variables}, headers=headers(bearer)
    )
    # then the upload is imported, the JSON body refused with 413
    [remittance] = (await imported(uploaded))["remittances"]
    assert remittance["claimSummary"]["claimCount"] == 2200
    assert (as_json.status_code, as_json.json()) == (413, _too_large(settings.max_request_bytes))


async def _response_head(server: str, head: bytes, chunks: Iterator[bytes]) -> bytes:
    """Send `head` then `chunks` until the server answers; the status line and headers."""
    host, port = server.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def write() -> None:
        writer.write(head)
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()

    sending = asyncio.create_task(write())
    try:
        async with asyncio.timeout(60):
            return await reader.readuntil(b"\r\n\r\n")
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()


MULTIPART = b"Content-Type: multipart/form-data; boundary=xyz\r\n"


async def test_an_upload_declared_over_the_upload_limit_is_refused_before_it_is_sent(
    server: str, settings: Settings
) -> None:
    length = str(settings.max_upload_bytes + 1).encode()
    head = b"POST /graphql HTTP/1.1\r\nHost: x\r\n" + MULTIPART
    head += b"Content-Length: " + length + b"\r\n\r\n"
    assert (await _response_head(server, head, iter([]))).startswith(b"HTTP/1.1 413 ")


async def test_an_upload_streamed_past_the_upload_limit_is_cut_off(
    server: str, settings: Settings
) -> None:
    # given a chunked multipart body whose file part never ends (no Content-Length)
    head = b"POST /graphql HTTP/1.1\r\nHost: x\r\n" + MULTIPART
    head += b"Transfer-Encoding: chunked\r\n\r\n"
    part = b'--xyz\r\nContent-Disposition: form-data; name="0"; filename="a.835"\r\n\r\n'
    chunk = b"100000\r\n" + b" " * 0x100000 + b"\r\n"

    def endless() -> Iterator[bytes]:
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
        while True:
            yield chunk

    # then once more than the upload limit has come, the answer is 413
    assert (await _response_head(server, head, endless())).startswith(b"HTTP/1.1 413 ")


@pytest.fixture(scope="module")
def roomy_server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second API whose upload limit is above the 835 reader's own limit."""
    log = tmp_path_factory.mktemp("roomy-upload") / "api.log"
    with api_server({"MAX_UPLOAD_BYTES": str(MAX_BYTES + 1024 * 1024)}, log) as base:
        yield base


async def test_a_file_over_the_readers_limit_is_refused_typed_and_stores_nothing(
    roomy_server: str, sessions: SessionFactory, settings: Settings
) -> None:
    world = await world_for(sessions, [])
    bearer = token(settings, await slug_of(sessions, world.tenant_id))
    before = await stored(sessions, world.tenant_id)
    # when a file one byte over the reader's limit is uploaded
    data = BIG + b" " * (MAX_BYTES + 1 - len(BIG))
    async with httpx.AsyncClient(base_url=roomy_server, timeout=120) as client:
        answer = await imported(await upload(client, data, bearer))
    # then it is refused as too large, and nothing is stored
    message = f"the file is {MAX_BYTES + 1} bytes; the limit is {MAX_BYTES}"
    assert answer == {
        "remittances": [],
        "replayed": False,
        "userErrors": [{"field": "file", "code": "REMITTANCE_TOO_LARGE", "message": message}],
    }
    assert await stored(sessions, world.tenant_id) == before
