"""The GraphQL transport: strawberry on starlette. Parses, authorises, calls the domain."""
