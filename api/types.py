"""Types every capability uses: the Node interface and user errors."""

import strawberry
from graphql import GraphQLError

from domain.errors import DomainError


@strawberry.interface
class Node:
    """An object with a Relay-style global id, fetchable with `node(id:)`."""

    id: strawberry.ID


@strawberry.type
class UserError:
    """An expected failure: which input field, a stable code, a message for people."""

    field: str | None
    code: str
    message: str


def user_errors(error: DomainError) -> list[UserError]:
    """A domain refusal as userErrors, one per problem."""
    return [UserError(field=p.field, code=p.code, message=p.message) for p in error.problems]


def denied(error: GraphQLError) -> list[UserError]:
    """An authentication or scope failure as a userError."""
    code = (error.extensions or {}).get("code", "FORBIDDEN")
    return [UserError(field=None, code=str(code), message=error.message)]


def not_found(what: str) -> GraphQLError:
    """The error a subscription raises for an id the caller cannot see."""
    return GraphQLError(f"No such {what}.", extensions={"code": "NOT_FOUND"})
