"""Browser pages served by the API itself (no CDN): the AR dashboard, the GraphiQL IDE and
their vendored assets."""
