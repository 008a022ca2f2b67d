"""The schema with its validation limits (depth, aliases, tokens, batch size, introspection).

Production mode also turns introspection off and strips graphql-core's "Did you mean …?"
suggestions, which would otherwise spell out field, argument, type and enum names.
"""

import contextlib
import re
from collections.abc import Iterator
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
from strawberry.schema.config import BatchingConfig, StrawberryConfig

from api.adjustments.mutations import AdjustmentMutation
from api.audit.trail import AuditQuery
from api.bulk.mutations import BulkMutation
from api.bulk.queries import BulkQuery
from api.bulk.subscriptions import BulkSubscription
from api.commands.queries import CommandQuery
from api.commands.subscriptions import CommandSubscription
from api.error_codes import ErrorCodes
from api.fanout import SharingExecutionContext
from api.ledger.queries import LedgerQuery
from api.ledger.subscriptions import LedgerSubscription
from api.nodes import NODE_TYPES, NodeQuery
from api.read_snapshot import ReadSnapshotExtension
from api.remittances.mutations import RemittanceMutation
from api.remittances.queries import RemittanceQuery
from api.reports.mutations import ReportMutation
from api.reports.queries import ReportQuery
from api.reports.subscriptions import DashboardSubscription
from api.reversals.mutations import ReversalMutation
from api.scalars import SCALARS
from api.tenants.settings import SettingsMutation, SettingsQuery
from api.text_input import RefuseUnstorableText
from api.transactions.mutations import TransactionMutation
from api.transactions.payers import PayerQuery
from api.transactions.queries import TransactionQuery
from api.writeoffs.mutations import WriteOffMutation
from arledger.config import Settings, get_settings


@strawberry.type
class Query(
    NodeQuery,
    LedgerQuery,
    PayerQuery,
    CommandQuery,
    AuditQuery,
    SettingsQuery,
    TransactionQuery,
    BulkQuery,
    ReportQuery,
    RemittanceQuery,
):
    """Every read, one capability at a time; each needs `billing.read`."""


@strawberry.type
class Mutation(
    WriteOffMutation,
    AdjustmentMutation,
    ReversalMutation,
    SettingsMutation,
    TransactionMutation,
    BulkMutation,
    ReportMutation,
    RemittanceMutation,
):
    """Every write: each parses, authorises, calls one domain function and maps its errors."""


@strawberry.type
class Subscription(
    LedgerSubscription, CommandSubscription, BulkSubscription, DashboardSubscription
):
    """Committed changes, pushed over graphql-transport-ws."""


def is_unexpected(error: GraphQLError) -> bool:
    """True for errors from bugs or outages (their text may hold SQL); never for our own."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")
"""graphql-core's hint; the names it quotes never contain a question mark."""


def has_suggestion(error: GraphQLError) -> bool:
    return SUGGESTION.search(error.message) is not None


class MaskUnexpected(MaskErrors):
    """`MaskErrors` without its per-result `isinstance` against a runtime-checkable protocol.

    Strawberry runs the check on every streamed result, so once per subscriber per event; a
    protocol `isinstance` inspects the class's attributes each time, and it was about a tenth
    of an API process's CPU while it fanned 2,000 messages a second out. Here an attribute
    read decides, with the same outcome: errors are masked wherever a result carries them."""

    def _process_result(self, result: object) -> None:
        if errors := getattr(result, "errors", None):
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


class HideSuggestions(MaskUnexpected):
    """Removes "Did you mean …?" hints from every error, validation and execution alike."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=has_suggestion)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            SUGGESTION.sub("", error.message),
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=error.extensions,
        )


class SafeParserCache(ParserCache):
    """`ParserCache` that leaves a document it cannot parse to strawberry's own parse.

    `ParserCache` parses in its hook, outside the `try` that turns a syntax error into a
    result; on a subscription the error escaped, the client got a bare `complete` and the
    server logged a traceback. Strawberry now reports it: an error over HTTP, a 4400 close over
    graphql-transport-ws.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema, limited as `settings` say."""
    # Factories, not instances: each operation gets fresh extension state. The limit rules
    # are built once, so the validation cache (keyed by document and rules) hits.
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    extensions: list[Any] = [
        ErrorCodes,  # first: it sees the result after every other extension
        RefuseUnstorableText,
        partial(AddValidationRules, rules),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(MaskUnexpected, should_mask_error=is_unexpected, error_message="Internal error."),
        partial(SafeParserCache, maxsize=256),
        partial(ValidationCache, maxsize=256),
        ReadSnapshotExtension,
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    if settings.production:
        extensions.append(HideSuggestions)
    batching = settings.max_batch_operations
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=SharingExecutionContext,  # one execution per event and shape
        types=list(dict.fromkeys(t for _, t in NODE_TYPES.values())),
        config=StrawberryConfig(
            scalar_map=SCALARS,
            batching_config=BatchingConfig(max_operations=batching) if batching else None,
        ),
    )


schema = build_schema(get_settings())
