"""A retried adjustment gets its original command even after the tenant's settings changed."""

from arledger.config import Settings
from domain.db import SessionFactory
from tests.support.factories import make_world
from tests.support.gql_ops import (
    ADJUST,
    ADMIN,
    READ,
    adjust,
    adjust_and_wait,
    adjustment_input,
    deactivated,
    errors,
    line_gid,
    must_update_settings,
)

EVERYTHING = f"{READ} {ADJUST} {ADMIN}"


async def test_retry_after_category_deactivated_returns_the_original_command(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given an applied $10.00 contract-correction adjustment
    world = await make_world(sessions, [10000])
    token = world.token(settings, EVERYTHING)
    variables = adjustment_input("retry-1", line_gid(world), "10")
    first = await adjust(client, variables, token)
    assert (await adjust_and_wait(client, variables, token))["status"] == "APPLIED"
    # when the category is deactivated and the same request is retried under the same key
    await must_update_settings(
        client, {"adjustmentCategories": deactivated("contract-correction")}, token
    )
    retry = await adjust(client, variables, token)
    # then the retry gets the original command and what it did, not UNKNOWN_CATEGORY
    assert retry["userErrors"] == []
    assert retry["command"]["id"] == first["command"]["id"]
    assert (retry["reducesBalance"], retry["carc"]) == (True, "OA-45")


async def test_retry_after_carc_policy_change_returns_the_original_command(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given an applied adjustment written as OA-45
    world = await make_world(sessions, [10000])
    token = world.token(settings, EVERYTHING)
    variables = adjustment_input("retry-2", line_gid(world), "10.00")
    first = await adjust(client, variables, token)
    # when the tenant's synthetic CARC group changes, and the client retries with "10"
    await must_update_settings(client, {"syntheticCarcGroup": "PI"}, token)
    retry = await adjust(client, adjustment_input("retry-2", line_gid(world), "10"), token)
    # then it is the same request (same amount), answered with the original command
    assert retry["command"]["id"] == first["command"]["id"]
    assert retry["carc"] == "OA-45"
    # and a different amount under the key is still a conflict
    other = await adjust(client, adjustment_input("retry-2", line_gid(world), "11"), token)
    assert errors(other) == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
