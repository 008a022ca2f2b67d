"""What an API process remembers of authentication: verified tokens (never past their `exp`)
and tenant slugs (a renamed or removed tenant is forgotten within `auth_cache_seconds`)."""

import asyncio
import time

import pytest
from sqlalchemy import update

from api.auth import Authenticator, AuthError
from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from domain.models import Tenant
from tests.support.factories import make_world


class Clock:
    """Epoch seconds (`now`) that move only when told, read in nanoseconds as `time.time_ns`."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> int:
        return round(self.now * 1_000_000_000)


async def rename(sessions: SessionFactory, tenant_id: int, slug: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Tenant).where(Tenant.id == tenant_id).values(slug=slug))


async def test_a_remembered_token_is_still_refused_once_it_expires(
    settings: Settings, sessions: SessionFactory
) -> None:
    # given a token that expires in about a second, verified (and remembered) once
    world = await make_world(sessions, [100])
    authenticator = Authenticator(settings, sessions)
    token = issue_token(settings, tenant=world.slug, scopes=["billing.read"], ttl_seconds=1)
    principal = await authenticator.principal(f"Bearer {token}")
    assert (principal.tenant_id, principal.actor) == (world.tenant_id, "dev")
    # when it is presented again after its exp
    expires = int(time.time()) + 1
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.1)
    with pytest.raises(AuthError) as refused:
        await authenticator.principal(f"Bearer {token}")
    # then it is refused as expired, as if never seen
    assert refused.value.code == "TOKEN_EXPIRED"


async def test_a_renamed_tenant_is_forgotten_within_the_cache_time(
    settings: Settings, sessions: SessionFactory
) -> None:
    # given a process that resolved a tenant's slug (cache time 60 s)
    world = await make_world(sessions, [100])
    clock = Clock()
    authenticator = Authenticator(
        settings.model_copy(update={"auth_cache_seconds": 60}), sessions, clock
    )
    token = world.token(settings)
    assert (await authenticator.principal(token)).tenant_id == world.tenant_id
    # when the tenant's slug changes
    await rename(sessions, world.tenant_id, f"{world.slug}-renamed")
    # then within the cache time the old slug still resolves (the staleness is bounded) …
    clock.now += 59
    assert (await authenticator.principal(token)).tenant_id == world.tenant_id
    # … and after it, the old slug is unknown
    clock.now += 2
    with pytest.raises(AuthError) as refused:
        await authenticator.principal(token)
    assert refused.value.code == "UNKNOWN_TENANT"


async def test_without_a_cache_every_request_checks_the_tenant(
    settings: Settings, sessions: SessionFactory
) -> None:
    # given a process that remembers nothing (AUTH_CACHE_SECONDS=0)
    world = await make_world(sessions, [100])
    authenticator = Authenticator(settings.model_copy(update={"auth_cache_seconds": 0}), sessions)
    token = world.token(settings)
    assert (await authenticator.principal(token)).tenant_id == world.tenant_id
    # when the tenant's slug changes, then the very next request sees it
    await rename(sessions, world.tenant_id, f"{world.slug}-renamed")
    with pytest.raises(AuthError) as refused:
        await authenticator.principal(token)
    assert refused.value.code == "UNKNOWN_TENANT"


async def test_an_unknown_tenant_is_not_remembered(
    settings: Settings, sessions: SessionFactory
) -> None:
    # given a token for a slug no tenant has yet, refused once
    world = await make_world(sessions, [100])
    authenticator = Authenticator(settings, sessions)
    slug = f"{world.slug}-later"
    token = issue_token(settings, tenant=slug, scopes=["billing.read"])
    with pytest.raises(AuthError):
        await authenticator.principal(token)
    # when a tenant takes that slug, then the same token works at once
    await rename(sessions, world.tenant_id, slug)
    assert (await authenticator.principal(token)).tenant_id == world.tenant_id
