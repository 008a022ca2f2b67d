"""Shared world-building: the HTTP client, factories, seeds, GraphQL helpers and extra servers."""
