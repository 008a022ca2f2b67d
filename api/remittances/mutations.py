"""Remittances over GraphQL: import an 835 (a multipart upload or text), post one held for
review, reverse one. Each needs both billing.payment.write and billing.adjustment.write."""

import strawberry
from sqlalchemy import select
from strawberry.file_uploads import Upload

from api.actions import WRITERS, perform
from api.auth import Principal
from api.context import Info
from api.ids import decode_id
from api.remittances.types import Remittance
from api.types import UserError
from domain.errors import DomainError
from domain.remittances import models as remit
from domain.remittances.imports import Imported, import_file
from domain.remittances.posting_jobs import post_remittance, reverse_remittance
from domain.uow import UnitOfWork


@strawberry.input(description="An 835 file: exactly one of `file` and `text`.")
class ImportRemittanceInput:
    file: Upload | None = strawberry.field(
        default=None,
        description="The file as an upload (the GraphQL multipart request spec).",
    )
    text: str | None = strawberry.field(default=None, description="The file's text, pasted.")
    filename: str | None = strawberry.field(
        default=None, description="Kept with the file (default: the upload's own name)."
    )
    lenient: bool = strawberry.field(
        default=False,
        description="Keep wrong counts, empty required elements and impossible dates as issues "
        "(the remittance then waits for review) instead of refusing the file.",
    )

    @property
    def field(self) -> str:
        """The input field the 835 came in."""
        return "text" if self.text is not None and self.file is None else "file"

    async def data(self) -> tuple[bytes, str | None]:
        """The file's bytes and name, or a typed refusal naming the input field."""
        if self.file is not None and self.text is not None:
            raise DomainError.of("text", "FILE_AND_TEXT", "Send the 835 as file or text, not both.")
        if self.text is not None:
            return self.text.encode(), self.filename
        read = getattr(self.file, "read", None)
        if read is None:
            raise DomainError.of(
                "file",
                "FILE_REQUIRED" if self.file is None else "FILE_NOT_UPLOADED",
                "Send the 835 as `file` (a multipart upload) or as `text`.",
            )
        data = await read()  # at most MAX_UPLOAD_BYTES: larger bodies were refused with 413
        return bytes(data), self.filename or getattr(self.file, "filename", None)


@strawberry.input
class ReverseRemittanceInput:
    idempotency_key: str
    remittance_id: strawberry.ID
    reason: str


@strawberry.type
class ImportRemittancePayload:
    remittances: list[Remittance] = strawberry.field(
        description="Each transaction set of the file, in file order."
    )
    replayed: bool = strawberry.field(
        description="The same file (by SHA-256) was imported before: its remittances, unchanged."
    )
    user_errors: list[UserError]


@strawberry.type
class RemittancePayload:
    remittance: Remittance | None
    user_errors: list[UserError]


def _pk(global_id: str) -> int | None:
    return decode_id(global_id, "Remittance")


async def _remittances(info: Info, pks: tuple[int, ...]) -> list[Remittance]:
    r = remit.Remittance
    mine = select(r).where(r.id.in_(pks), r.tenant_id == info.context.tenant_id)
    async with info.context.sessions() as session:
        rows = await session.scalars(mine.order_by(r.file_id, r.seq))
    return [Remittance.from_row(row) for row in rows]


def _at(errors: list[UserError], field: str) -> list[UserError]:
    """The parser names `file`; for text pasted the field is `text`."""
    return [
        UserError(field=field, code=e.code, message=e.message) if e.field == "file" else e
        for e in errors
    ]


async def _imported(
    info: Info, imported: Imported | None, errors: list[UserError]
) -> ImportRemittancePayload:
    if imported is None or errors:
        return ImportRemittancePayload(remittances=[], replayed=False, user_errors=errors)
    found = await _remittances(info, imported.remittance_ids)
    return ImportRemittancePayload(remittances=found, replayed=imported.replayed, user_errors=[])


async def _payload(info: Info, pk: int | None, errors: list[UserError]) -> RemittancePayload:
    if pk is None or errors:
        return RemittancePayload(remittance=None, user_errors=errors)
    [found] = await _remittances(info, (pk,))
    return RemittancePayload(remittance=found, user_errors=[])


@strawberry.type
class RemittanceMutation:
    @strawberry.mutation(description="Import an 835; balanced remittances start posting at once.")
    async def import_remittance(
        self, info: Info, input: ImportRemittanceInput
    ) -> ImportRemittancePayload:
        async def act(uow: UnitOfWork, who: Principal) -> Imported:
            data, filename = await input.data()
            return await import_file(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                data=data,
                filename=filename,
                enqueue=info.context.services.enqueuer.apply_bulk,
                lenient=input.lenient,
            )

        imported, errors = await perform(info, WRITERS, act)
        return await _imported(info, imported, _at(errors, input.field))

    @strawberry.mutation(description="Post a remittance held for review anyway (audited).")
    async def post_remittance(self, info: Info, remittance_id: strawberry.ID) -> RemittancePayload:
        async def act(uow: UnitOfWork, who: Principal) -> int:
            posted = await post_remittance(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                remittance_id=_pk(remittance_id),
                enqueue=info.context.services.enqueuer.apply_bulk,
            )
            return posted.id

        pk, errors = await perform(info, WRITERS, act)
        return await _payload(info, pk, errors)

    @strawberry.mutation(description="Reverse everything a posted remittance posted, as a job.")
    async def reverse_remittance(
        self, info: Info, input: ReverseRemittanceInput
    ) -> RemittancePayload:
        async def act(uow: UnitOfWork, who: Principal) -> int | None:
            pk = _pk(input.remittance_id)
            await reverse_remittance(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                idempotency_key=input.idempotency_key,
                remittance_id=pk,
                reason=input.reason,
                enqueue=info.context.services.enqueuer.apply_bulk,
            )
            return pk

        pk, errors = await perform(info, WRITERS, act)
        return await _payload(info, pk, errors)
