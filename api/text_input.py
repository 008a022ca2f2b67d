"""Text PostgreSQL cannot store is refused before anything runs.

PostgreSQL text (and JSONB) holds no NUL character, and UTF-8 has no unpaired surrogate (JSON's
`"\\ud800"` decodes to one). Either, anywhere in a variable or a string literal of the document,
made the first statement that carried it fail: a 500-style "Internal error." instead of a typed
refusal. So a query or mutation carrying one is answered with one `BAD_USER_INPUT` error and
nothing is executed. (Subscriptions take only ids, which are decoded before any statement.)
"""

import re
from collections.abc import Iterator
from typing import Any

from graphql import BREAK, DocumentNode, ExecutionResult, GraphQLError, StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
ESCAPED = re.compile(r"\x00|[\ud800-\udfff]|\\u(?:0000|[dD][89a-fA-F])", re.IGNORECASE)
"""A cheap first look at the document's source: a raw or escaped NUL or surrogate."""
MESSAGE = "Text may not contain NUL characters or unpaired surrogates."


def unstorable(value: Any) -> bool:
    """True when `value` (JSON: strings, lists, objects) holds text PostgreSQL cannot store."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(unstorable(v) for v in value)
    return False


class _Literals(Visitor):
    found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if UNSTORABLE.search(node.value):
            self.found = True
            return BREAK
        return None


def in_document(source: str | None, document: DocumentNode | None) -> bool:
    """True when a string literal of the document holds text PostgreSQL cannot store."""
    if document is None or not ESCAPED.search(source or ""):
        return False
    literals = _Literals()
    visit(document, literals)
    return literals.found


class RefuseUnstorableText(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if unstorable(context.variables) or in_document(context.query, context.graphql_document):
            error = GraphQLError(MESSAGE, extensions={"code": "BAD_USER_INPUT"})
            context.result = ExecutionResult(data=None, errors=[error])
        yield
