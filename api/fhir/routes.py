"""FHIR R5 read-only routes beside GraphQL, with the same bearer tokens.

- `GET /fhir/Account/{id}`: one account (`id` is its numeric id; see `api.fhir.account`).
- `GET /fhir/Account?identifier=<account number>` (or `<system>|<account number>`): a searchset
  Bundle of the account with that number (none or one).
- `GET /fhir/metadata`: the CapabilityStatement (no token needed, as FHIR expects).

Every account route needs a token with scope `billing.read`, authenticated exactly as GraphQL
does (`api.auth.Authenticator`), and reads only the caller's tenant (row-level security, and
the tenant in the query): another tenant's id is 404, like an id that was never used. Refusals
are OperationOutcomes: 401 (with a `WWW-Authenticate: Bearer` challenge), 403, 404, 400, 503.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.auth import READ, AuthError, Principal
from api.context import Services
from api.fhir.account import (
    account_resource,
    capability_statement,
    identifier_system,
    searchset,
)
from api.fhir.json import FhirResponse, Refusal
from api.ids import MAX_PK
from api.request_id import request_id_of
from arledger.config import Settings
from domain.db import Scope, scoped
from domain.fhir.balances import AccountBalances, account_balances

CHALLENGE = 'Bearer realm="arledger"'
Handler = Callable[[Request], Awaitable[Response]]


def fhir_routes(settings: Settings, services: Callable[[], Services]) -> list[BaseRoute]:
    """The `/fhir` routes; `services` gives the process's services once the app has started."""
    system = settings.fhir_account_system

    async def read(request: Request) -> Response:
        principal = await authorised(services(), request)
        text = request.path_params["id"]
        pk = numeric_id(text)
        found = None if pk is None else await load(services(), request, principal, account_id=pk)
        if found is None:
            raise Refusal("not-found", "NOT_FOUND", f"Account/{text[:64]} is not known.")
        return FhirResponse(account_resource(found, system))

    async def search(request: Request) -> Response:
        principal = await authorised(services(), request)
        given_system, number = identifier(request)
        found = await load(services(), request, principal, account_number=number)
        if found and given_system is not None:
            found = found if given_system == identifier_system(system, found.tenant_slug) else None
        base = str(request.base_url).rstrip("/") + "/fhir"
        return FhirResponse(searchset([found] if found else [], system, str(request.url), base))

    async def metadata(request: Request) -> Response:
        return FhirResponse(capability_statement(str(request.base_url).rstrip("/") + "/fhir"))

    return [
        Route("/fhir/metadata", refusing(metadata), methods=["GET"]),
        Route("/fhir/Account", refusing(search), methods=["GET"]),
        Route("/fhir/Account/{id}", refusing(read), methods=["GET"]),
    ]


def refusing(handler: Handler) -> Handler:
    """`handler`, answering its `Refusal` with the OperationOutcome."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Refusal as refusal:
            return refusal.response()

    return endpoint


async def authorised(services: Services, request: Request) -> Principal:
    """The caller, holding `billing.read`, or a Refusal (401, 403 or 503)."""
    try:
        principal = await services.authenticator.principal(request.headers.get("authorization"))
    except AuthError as error:
        if error.code == "AUTH_UNAVAILABLE":
            raise Refusal("transient", error.code, str(error)) from error
        invalid = "" if error.code == "UNAUTHENTICATED" else ', error="invalid_token"'
        headers = {"WWW-Authenticate": CHALLENGE + invalid}
        raise Refusal("login", error.code, str(error), headers) from error
    if READ not in principal.scopes:
        challenge = f'{CHALLENGE}, error="insufficient_scope", scope="{READ}"'
        raise Refusal(
            "forbidden",
            "FORBIDDEN",
            f"Scope '{READ}' is required.",
            {"WWW-Authenticate": challenge},
        )
    return principal


def numeric_id(text: str) -> int | None:
    """The account id a FHIR id names: digits only, within BIGINT (else it names nothing)."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_PK))):
        return None
    return int(text) if int(text) <= MAX_PK else None


def identifier(request: Request) -> tuple[str | None, str]:
    """(system, account number) of the search's `identifier` (`<number>`: any system;
    `<system>|<number>`: that system only, `|<number>`: no system, which never matches). It
    must be given exactly once, with a number."""
    values = request.query_params.getlist("identifier")
    if len(values) == 1 and "|" in values[0]:
        system, _, number = values[0].partition("|")
        if number:
            return system, number
    elif len(values) == 1 and values[0]:
        return None, values[0]
    raise Refusal(
        "invalid",
        "INVALID_SEARCH",
        "Search accounts by one identifier: /fhir/Account?identifier=<account number>.",
    )


async def load(
    services: Services, request: Request, principal: Principal, **where: Any
) -> AccountBalances | None:
    """The caller's tenant's account matching `where`, read in one statement."""
    scope = Scope(principal.tenant_id, request_id_of(request.scope), principal.scopes)
    try:
        async with scoped(services.session_factory, scope)() as session, session.begin():
            return await account_balances(session, principal.tenant_id, **where)
    except (DBAPIError, OSError) as error:
        message = "The database is unavailable; try again."
        raise Refusal("transient", "UNAVAILABLE", message) from error
