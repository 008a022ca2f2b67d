"""The schema with its validation limits (depth, aliases, tokens, optional introspection)."""

from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from api.mutations import Mutation
from api.nodes import NODE_TYPES
from api.queries import Query
from api.read_snapshot import ReadSnapshotExtension
from api.scalars import SCALARS
from api.subscriptions import Subscription
from arledger.config import Settings, get_settings


def is_unexpected(error: GraphQLError) -> bool:
    """True for errors from bugs or outages (their text may hold SQL); never for our own."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema, limited as `settings` say."""
    # Factories, not instances: each operation gets fresh extension state. The limit rules
    # are built once, so the validation cache (keyed by document and rules) hits.
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    extensions: list[Any] = [
        partial(AddValidationRules, rules),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(MaskErrors, should_mask_error=is_unexpected, error_message="Internal error."),
        partial(ParserCache, maxsize=256),
        partial(ValidationCache, maxsize=256),
        ReadSnapshotExtension,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        types=list(dict.fromkeys(t for _, t in NODE_TYPES.values())),
        config=StrawberryConfig(scalar_map=SCALARS),
    )


schema = build_schema(get_settings())
