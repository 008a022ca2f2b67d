"""Dashboard clients in processes of their own. A hundred dashboards are a hundred browsers; in
one bench event loop the hundredth socket's receipt waits for the other 99 to be read and
parsed, which the system under test never caused. Each process holds its share of the sockets,
stamps each push on receipt (`bench.ws`), and hands the pushes back at the end."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

from bench.report import BenchError
from bench.ws import Subscriber, close_all, start_all

PARALLEL_HANDSHAKES = 10
READY_SECONDS = 120.0


def cents(money: str) -> int:
    return int(Decimal(money) * 100)


@dataclass
class Socket:
    """One dashboard client's pushes: (receipt epoch, AR cents, seq, computedAt epoch)."""

    pushes: list[tuple[float, int, int, float]] = field(default_factory=list)

    def on_data(self, data: dict[str, Any], received: float) -> None:
        push = data["arDashboard"]
        computed = datetime.fromisoformat(push["computedAt"]).timestamp()
        self.pushes.append((received, cents(push["kpis"]["totalAr"]), push["seq"], computed))


def _main(url: str, query: str, token: str, count: int, pipe: Connection) -> None:
    asyncio.run(_clients(url, query, token, count, pipe))


async def _clients(url: str, query: str, token: str, count: int, pipe: Connection) -> None:
    """Open `count` dashboards, say ready, then keep them until every one has the push whose AR
    the parent names (or its deadline passes); send back their pushes and errors."""
    sockets = [Socket() for _ in range(count)]
    subs = [Subscriber(url, query, {}, s.on_data) for s in sockets]
    errors: list[str] = []
    try:
        await start_all(subs, {"authorization": f"Bearer {token}"}, PARALLEL_HANDSHAKES)
        pipe.send("ready")
        end_ar, within = await asyncio.to_thread(pipe.recv)
        deadline = time.monotonic() + within
        while any(not s.pushes or s.pushes[-1][1] != end_ar for s in sockets):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    except Exception as exc:  # reported to the parent, which fails the phase
        errors.append(repr(exc)[:300])
    finally:
        await close_all(subs)
    pipe.send(([s.pushes for s in sockets], errors + [e for sub in subs for e in sub.errors]))


class ClientProcesses:
    """`clients` dashboards spread over `processes` processes."""

    def __init__(self, url: str, query: str, token: str, clients: int, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._procs: list[Any] = []
        for n in range(processes):
            ours, theirs = context.Pipe()
            share = clients // processes + (1 if n < clients % processes else 0)
            proc = context.Process(target=_main, args=(url, query, token, share, theirs))
            proc.start()
            self._pipes.append(ours)
            self._procs.append(proc)

    async def ready(self) -> None:
        """Wait until every process has its dashboards open (their snapshots received)."""
        for pipe in self._pipes:
            if not await asyncio.to_thread(pipe.poll, READY_SECONDS):
                raise BenchError("dashboard: the client processes did not get ready")
            answer = pipe.recv()
            if answer != "ready":
                raise BenchError(f"dashboard clients failed: {answer}")

    async def finish(self, end_ar: int, within: float) -> tuple[list[Socket], list[str]]:
        """Every dashboard's pushes once it has the push at `end_ar` (or `within` passed)."""
        for pipe in self._pipes:
            pipe.send((end_ar, within))
        sockets: list[Socket] = []
        errors: list[str] = []
        for pipe in self._pipes:
            pushes, found = await asyncio.to_thread(pipe.recv)
            sockets += [Socket(list(map(tuple, p))) for p in pushes]
            errors += found
        self.close()
        return sockets, errors

    def close(self) -> None:
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
