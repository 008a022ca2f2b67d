"""Every GraphQL error carries `extensions.code`, so a client can tell bad input from a bug.

Our own errors (authentication, scopes, limits) already name a code. graphql-core's do not: a
document that does not parse, one that fails validation, and variables that do not fit their
types (a null for a non-null input, a 64-bit number for an `Int`, a Date that is no date). Those
get the conventional codes below; an error masked as unexpected gets `INTERNAL_SERVER_ERROR`.
"""

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL = "INTERNAL_SERVER_ERROR"


def code_for(error: GraphQLError) -> str:
    """The code for a graphql-core error that has none."""
    if error.message.startswith("Syntax Error"):
        return PARSE_FAILED
    if error.message.startswith("Variable '$"):
        return BAD_USER_INPUT
    if error.path is None:
        return VALIDATION_FAILED
    return INTERNAL


def add_codes(errors: list[GraphQLError] | None) -> None:
    for error in errors or ():
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": code_for(error)}


class ErrorCodes(SchemaExtension):
    """Adds a code to each error of the result that lacks one; list it first, so it runs after
    the other extensions (masking) have finished with the result."""

    def on_operation(self) -> Iterator[None]:
        yield
        add_codes(self.execution_context.pre_execution_errors)
        add_codes(getattr(self.execution_context.result, "errors", None))
