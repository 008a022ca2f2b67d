"""The pages' routes, for `api.app.create_app` to put before the GraphQL routes."""

from starlette.routing import BaseRoute, Mount

from api.pages.dashboard import dashboard_route
from api.pages.document import STATIC_PATH
from api.pages.graphiql import graphiql_route, static_files
from arledger.config import Settings


def page_routes(settings: Settings) -> list[BaseRoute]:
    """`/static` (vendored assets), the AR dashboard at `/dashboard`, and GraphiQL on GET
    /graphql when it is enabled (never in production). Put these before `Route("/graphql", …)`:
    browser GETs stop here, everything else falls through to GraphQL."""
    routes: list[BaseRoute] = [
        Mount(STATIC_PATH, app=static_files(), name="static"),
        dashboard_route("/dashboard"),
    ]
    if settings.graphiql_enabled:
        routes.append(graphiql_route("/graphql"))
    return routes
