"""The report operations the tests send over HTTP, and small helpers to read their answers."""

from typing import Any

import httpx

from tests.support.client import gql

AGING = """
query($asOf: Date, $basis: AgingBasis! = DATE_OF_SERVICE, $groupBy: AgingGroupBy! = NONE,
      $buckets: [Int!]) {
  arAging(asOf: $asOf, basis: $basis, groupBy: $groupBy, buckets: $buckets) {
    asOf basis groupBy
    buckets { label minDays maxDays }
    rows {
      payer { code name } payerClass
      buckets { bucket { label } amount visits percent }
      debitTotal debitVisits credits { amount visits } net
    }
    total {
      buckets { bucket { label } amount visits percent }
      debitTotal debitVisits credits { amount visits } net
    }
  }
}"""

SUMMARY_FIELDS = "amount gross reversed memoAmount entries reversals"

WRITE_OFF_SUMMARY = f"""
query($from: Date!, $to: Date!, $groupBy: WriteOffGroupBy! = REASON, $asOf: Date) {{
  writeOffSummary(from: $from, to: $to, groupBy: $groupBy, asOf: $asOf) {{
    from to asOf groupBy
    rows {{ reason user payer {{ code }} {SUMMARY_FIELDS} }}
    total {{ {SUMMARY_FIELDS} }}
  }}
}}"""

ADJUSTMENT_SUMMARY = f"""
query($from: Date!, $to: Date!, $groupBy: AdjustmentGroupBy! = CATEGORY, $asOf: Date) {{
  adjustmentSummary(from: $from, to: $to, groupBy: $groupBy, asOf: $asOf) {{
    from to asOf groupBy
    rows {{ category carc carcGroup carcReason reason payer {{ code }} {SUMMARY_FIELDS} }}
    total {{ {SUMMARY_FIELDS} }}
  }}
}}"""

KPIS = """
query($from: Date!, $to: Date!, $asOf: Date) {
  arKpis(from: $from, to: $to, asOf: $asOf) {
    from to asOf days totalAr debitAr creditBalances charges averageDailyCharges daysInAr
    arOver90 arOver120 percentOver90 percentOver120 payments contractualAdjustments
    netCollectionRate writeOffs adjustments writeOffPercentOfCharges adjustmentPercentOfCharges
  }
}"""

ACCOUNTS = """
query($first: Int! = 50, $after: String, $filter: AccountFilter, $orderBy: AccountOrder) {
  accounts(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    edges { cursor node { accountNumber name balance } }
    pageInfo { hasNextPage endCursor }
  }
}"""

SET_EDGES = """
mutation($edges: [Int!]!) {
  setAgingBucketEdges(edges: $edges) {
    edges buckets { label minDays maxDays } userErrors { field code message }
  }
}"""


async def data(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    """The `data` of a query that must succeed."""
    body = await gql(client, query, variables, token)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]
    return result


async def error(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None
) -> dict[str, Any]:
    """The single error of a query that must fail (its message and extensions)."""
    body = await gql(client, query, variables, token)
    assert len(body.get("errors", [])) == 1, body
    found: dict[str, Any] = body["errors"][0]
    return found


def cells(row: dict[str, Any]) -> list[tuple[str, str, int]]:
    """An aging row's buckets as (label, amount, visits)."""
    return [(c["bucket"]["label"], c["amount"], c["visits"]) for c in row["buckets"]]


def numbers(page: dict[str, Any]) -> list[str]:
    """The account numbers of an accounts page, in order."""
    return [edge["node"]["accountNumber"] for edge in page["accounts"]["edges"]]


async def walk(
    client: httpx.AsyncClient,
    token: str,
    variables: dict[str, Any],
    first: int,
    between: Any = None,
) -> list[dict[str, Any]]:
    """Every node of an accounts walk, `first` at a time; `between(page_number)` (async) runs
    after each page but the last."""
    nodes: list[dict[str, Any]] = []
    after = None
    page_number = 0
    while True:
        page = await data(client, ACCOUNTS, {**variables, "first": first, "after": after}, token)
        connection = page["accounts"]
        nodes += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]
        page_number += 1
        if between is not None:
            await between(page_number)
