"""The accounts worklist behind `accounts(filter, orderBy)` (see `domain.reports.worklist`)."""

from api.context import Info
from api.ids import decode_id
from api.ledger.types import Account
from api.pagination import MAX_PAGE, Connection, Edge, PageInfo
from api.reports.types import AccountFilter, AccountOrder, SortDirection, refused_as_errors
from domain.errors import DomainError
from domain.reports import aging, worklist


def _filter(given: AccountFilter | None) -> worklist.WorklistFilter:
    if given is None:
        return worklist.WorklistFilter()
    bucket = given.aging_bucket
    payer = None if given.payer_id is None else decode_id(given.payer_id, "Payer") or 0
    return worklist.parse_filter(
        search=given.search,
        payer_id=payer,
        payer_class=None
        if given.payer_class is None
        else aging.PayerClass(given.payer_class.value),
        balance_min=given.balance_min,
        balance_max=given.balance_max,
        aged_over_days=given.aged_over_days,
        bucket_min_days=None if bucket is None else bucket.min_days,
        bucket_max_days=None if bucket is None else bucket.max_days,
        credit_balance=given.credit_balance,
        visit_states=given.visit_states,
        basis=aging.Basis(given.basis.value),
    )


def _order(given: AccountOrder | None) -> worklist.WorklistOrder:
    if given is None:
        return worklist.WorklistOrder()
    descending = None if given.direction is None else given.direction is SortDirection.DESC
    return worklist.WorklistOrder(worklist.OrderField(given.field.value), descending)


async def account_worklist(
    info: Info,
    tenant_id: int,
    first: int,
    after: str | None,
    filter: AccountFilter | None,
    order_by: AccountOrder | None,
) -> Connection[Account]:
    """A page of the worklist as a Relay connection of accounts."""
    with refused_as_errors():
        if not 0 < first <= MAX_PAGE:
            raise DomainError.of("first", "INVALID_PAGE", f"first must be 1 to {MAX_PAGE}.")
        flt, order = _filter(filter), _order(order_by)
        async with info.context.sessions() as session:
            page = await worklist.worklist_page(session, tenant_id, flt, order, first, after)
    edges = [Edge(cursor=cursor, node=Account.from_row(row)) for row, cursor in page.rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
        ),
    )
