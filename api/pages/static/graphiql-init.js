/*
 * Boots arledger's GraphiQL page (loaded after React, ReactDOM and GraphiQL's UMD builds).
 *
 * - Queries and mutations: HTTP POST to this page's path (/graphql), JSON, with the headers
 *   from the header editor.
 * - Subscriptions: graphql-transport-ws on the same path (ws:// or wss://); browsers cannot set
 *   websocket headers, so the token travels in the connection_init payload as `authorization`.
 * - `?token=<jwt>` in the page URL pre-fills `Authorization: Bearer <jwt>` in the header editor
 *   and is then removed from the address bar (history, bookmarks). Headers are never persisted.
 */
(function () {
  "use strict";

  var PLACEHOLDER = "<paste a bearer token here>";
  var DEFAULT_QUERY = [
    "# arledger GraphiQL, served by the API itself (works offline).",
    "#",
    "# Headers (below): your bearer token. Queries and mutations",
    "# are POSTed to /graphql; subscriptions use a websocket",
    "# (graphql-transport-ws) with the same token.",
    "#",
    "# Run: Ctrl-Enter   Complete: Ctrl-Space   Docs: book icon",
    "",
    "{",
    "  payers(first: 5) {",
    "    nodes {",
    "      code",
    "      name",
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");

  var location = window.location;
  var params = new URLSearchParams(location.search);
  var token = params.get("token");
  if (token !== null) {
    params.delete("token");
    var search = params.toString();
    window.history.replaceState(
      null,
      "",
      location.pathname + (search ? "?" + search : "") + location.hash
    );
  }
  token = (token || "").trim().replace(/^bearer\s+/i, "");

  var url = location.origin + location.pathname;
  var subscriptionUrl = (location.protocol === "https:" ? "wss://" : "ws://") +
    location.host + location.pathname;

  /* One `authorization` entry, whatever its case in the editor (the server reads
     `authorization` first in connection_init); the untouched placeholder is dropped, so the
     server answers "a bearer token is required" rather than "malformed token". */
  function withAuthorization(headers) {
    var out = {};
    var authorization = null;
    Object.keys(headers || {}).forEach(function (name) {
      if (name.toLowerCase() === "authorization") {
        authorization = headers[name];
      } else {
        out[name] = headers[name];
      }
    });
    if (authorization && String(authorization).indexOf(PLACEHOLDER) === -1) {
      out.authorization = String(authorization);
    }
    return out;
  }

  /* createFetcher: POST for queries and mutations; for a subscription it opens a graphql-ws
     client whose connectionParams are these same headers (the UMD build bundles graphql-ws). */
  var graphiqlFetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl });

  function fetcher(graphQLParams, options) {
    var opts = Object.assign({}, options || {});
    opts.headers = withAuthorization(opts.headers);
    return graphiqlFetcher(graphQLParams, opts);
  }

  var headers = JSON.stringify(
    { Authorization: "Bearer " + (token || PLACEHOLDER) },
    null,
    2
  );

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      headers: headers,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
      inputValueDeprecation: true,
    })
  );
})();
