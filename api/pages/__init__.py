"""Browser pages served by the API itself (no CDN): the GraphiQL IDE and its vendored assets."""
