"""Extra real servers for the hardening tests: a uvicorn API with its own settings (production
mode, short limits), a tiny JWKS endpoint in a thread, RSA signing keys, and websocket helpers.

The API servers share the session's database, Redis, queue and channel prefix (the `settings`
fixture has exported them); only the variables given here differ.
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import _free_port, _spawn, _stop

Env = dict[str, str | None]


@contextlib.contextmanager
def environment(changes: Env) -> Iterator[None]:
    """`os.environ` with `changes` (None removes a variable), restored afterwards."""
    saved = dict(os.environ)
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def start_api(changes: Env, log: Path) -> tuple[Any, str]:
    """Spawn uvicorn serving the API with `changes` to the environment; (process, base URL).
    The process may exit at once (bad settings): see `wait_healthy`."""
    port = _free_port()
    with environment(changes):
        process = _spawn(
            ["-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port)], log
        )
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(process: Any, base: str, log: Path, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                _stop(process)
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.2)


@contextlib.contextmanager
def api_server(changes: Env, log: Path) -> Iterator[str]:
    """A healthy API with `changes` to the environment; yields its base URL."""
    process, base = start_api(changes, log)
    wait_healthy(process, base, log)
    try:
        yield base
    finally:
        _stop(process)


# ---------------------------------------------------------------------------------------------
# Signing keys and a JWKS endpoint
# ---------------------------------------------------------------------------------------------


@dataclass
class SigningKey:
    """An RSA key pair and the `kid` it is published under."""

    kid: str
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return data | {"kid": self.kid, "alg": "RS256", "use": "sig"}

    def sign(self, claims: dict[str, Any], kid: str | None = None) -> str:
        headers = {"kid": kid or self.kid}
        return jwt.encode(claims, self.private, algorithm="RS256", headers=headers)


class JwksServer:
    """Serves `{"keys": [...]}` at /jwks.json from a daemon thread; counts the fetches."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.document = json.dumps({"keys": [k.jwk() for k in keys]}).encode()
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.document)))
                self.end_headers()
                self.wfile.write(outer.document)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/jwks.json"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> "JwksServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unsigned(payload: dict[str, Any], alg: str) -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}."


def hmac_signed(payload: dict[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with any bytes (PyJWT refuses to key HMAC with a PEM key)."""
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(payload)}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def claims(slug: str, /, scope: str = "billing.read", ttl: int = 600, **changes: Any) -> dict:
    """Valid claims for tenant `slug` (default issuer and audience); a change of None drops
    the claim."""
    now = int(time.time())
    base = {
        "sub": "tester",
        "tenant": slug,
        "scope": scope,
        "iss": "arledger",
        "aud": "arledger",
        "iat": now,
        "exp": now + ttl,
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


# ---------------------------------------------------------------------------------------------
# graphql-transport-ws
# ---------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def websocket(base: str) -> AsyncIterator[ClientConnection]:
    url = base.replace("http", "ws", 1) + "/graphql"
    async with asyncio.timeout(30), connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        yield ws


async def receive(ws: ClientConnection, within: float = 5) -> dict[str, Any]:
    async with asyncio.timeout(within):
        return json.loads(await ws.recv())


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def connect_as(ws: ClientConnection, token: str | None) -> None:
    """`connection_init` with the token (if any)."""
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await send(ws, {"type": "connection_init", "payload": payload})


async def acknowledged(ws: ClientConnection, token: str) -> None:
    await connect_as(ws, token)
    ack = await receive(ws)
    assert ack["type"] == "connection_ack", ack


async def subscribe(
    ws: ClientConnection, op: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    payload = {"query": query, "variables": variables or {}}
    await send(ws, {"id": op, "type": "subscribe", "payload": payload})


async def closed(ws: ClientConnection, within: float = 5) -> tuple[int | None, str | None]:
    """Wait for the server to close the socket, failing if it sends anything first."""
    async with asyncio.timeout(within):
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    return ws.close_code, ws.close_reason
