"""Transactions over GraphQL: create, apply, post and void; codes and payer configuration."""

from datetime import date
from typing import Any

import strawberry

from api.actions import WRITERS, perform
from api.auth import Principal
from api.commands.types import Command, CommandPayload
from api.context import Info
from api.enums import TransactionType
from api.ids import decode_id
from api.scalars import Money
from api.transactions.payers import Payer
from api.transactions.types import Transaction, TransactionCode, TransactionPayload
from api.types import UserError
from domain import models
from domain.transactions import payer_config
from domain.transactions import posting as transaction_posting
from domain.transactions import service as transaction_service
from domain.uow import UnitOfWork


async def _transaction_payload(info: Info, pk: int | None, errors: Any) -> TransactionPayload:
    if pk is None or errors:
        return TransactionPayload(transaction=None, user_errors=errors)
    async with info.context.sessions() as session:
        row = await session.get(models.Transaction, pk)
    assert row is not None
    return TransactionPayload(transaction=Transaction.from_row(row), user_errors=[])


@strawberry.input
class CreateTransactionInput:
    payer_id: strawberry.ID
    type: TransactionType
    amount: Money = strawberry.field(description="Positive, refunds too (RF posts as a debit).")
    code: str | None = strawberry.field(default=None, description="Default: the payer's code.")
    transaction_date: date | None = strawberry.field(
        default=None, description="Default: today in the tenant's time zone."
    )


@strawberry.input
class AddTransactionApplicationInput:
    transaction_id: strawberry.ID
    account_number: str
    amount: Money
    visit_number: int | None = strawberry.field(default=None, description="Default: newest.")
    contractual_amount: Money | None = None


@strawberry.input
class ChangeTransactionApplicationInput:
    application_id: strawberry.ID
    amount: Money
    contractual_amount: Money | None = None


@strawberry.input
class PostTransactionInput:
    idempotency_key: str
    transaction_id: strawberry.ID


@strawberry.input
class VoidTransactionInput:
    idempotency_key: str
    transaction_id: strawberry.ID
    reason: str


@strawberry.type
class TransactionCodePayload:
    transaction_code: TransactionCode | None
    user_errors: list[UserError]


@strawberry.type
class PayerPayload:
    payer: Payer | None
    user_errors: list[UserError]


def _txn(global_id: str) -> int | None:
    return decode_id(global_id, "Transaction")


def _application(global_id: str) -> int | None:
    return decode_id(global_id, "TransactionApplication")


@strawberry.type
class TransactionMutation:
    @strawberry.mutation(description="Start a work-in-progress transaction.")
    async def create_transaction(
        self, info: Info, input: CreateTransactionInput
    ) -> TransactionPayload:
        async def act(uow: UnitOfWork, who: Principal) -> int:
            row = await transaction_service.create_transaction(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                payer_id=decode_id(input.payer_id, "Payer"),
                type_=input.type.value,
                code=input.code,
                transaction_date=input.transaction_date,
                amount=input.amount,
            )
            return row.id

        pk, errors = await perform(info, WRITERS, act)
        return await _transaction_payload(info, pk, errors)

    @strawberry.mutation(description="Apply part of a work-in-progress transaction to a visit.")
    async def add_transaction_application(
        self, info: Info, input: AddTransactionApplicationInput
    ) -> TransactionPayload:
        async def act(uow: UnitOfWork, who: Principal) -> int:
            row = await transaction_service.add_application(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                transaction_id=_txn(input.transaction_id),
                account_number=input.account_number,
                visit_number=input.visit_number,
                amount=input.amount,
                contractual_amount=input.contractual_amount,
            )
            return row.transaction_id

        pk, errors = await perform(info, WRITERS, act)
        return await _transaction_payload(info, pk, errors)

    @strawberry.mutation(description="Change an application of a work-in-progress transaction.")
    async def change_transaction_application(
        self, info: Info, input: ChangeTransactionApplicationInput
    ) -> TransactionPayload:
        async def act(uow: UnitOfWork, who: Principal) -> int:
            row = await transaction_service.change_application(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                application_id=_application(input.application_id),
                amount=input.amount,
                contractual_amount=input.contractual_amount,
            )
            return row.transaction_id

        pk, errors = await perform(info, WRITERS, act)
        return await _transaction_payload(info, pk, errors)

    @strawberry.mutation(description="Remove an application of a work-in-progress transaction.")
    async def remove_transaction_application(
        self, info: Info, application_id: strawberry.ID
    ) -> TransactionPayload:
        async def act(uow: UnitOfWork, who: Principal) -> int:
            row = await transaction_service.remove_application(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                application_id=_application(application_id),
            )
            return row.id

        pk, errors = await perform(info, WRITERS, act)
        return await _transaction_payload(info, pk, errors)

    @strawberry.mutation(
        description="Post a balanced transaction: all applications or none, by the worker."
    )
    async def post_transaction(self, info: Info, input: PostTransactionInput) -> CommandPayload:
        async def act(uow: UnitOfWork, who: Principal) -> models.Command:
            return await transaction_posting.submit_post(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                idempotency_key=input.idempotency_key,
                transaction_id=_txn(input.transaction_id),
                enqueue=info.context.services.enqueuer.apply_command,
            )

        row, errors = await perform(info, WRITERS, act)
        return CommandPayload(
            command=None if row is None else Command.from_row(row), user_errors=errors
        )

    @strawberry.mutation(description="Void a posted transaction: reverse every entry it posted.")
    async def void_transaction(self, info: Info, input: VoidTransactionInput) -> CommandPayload:
        async def act(uow: UnitOfWork, who: Principal) -> models.Command:
            return await transaction_posting.submit_void(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                idempotency_key=input.idempotency_key,
                transaction_id=_txn(input.transaction_id),
                reason=input.reason,
                enqueue=info.context.services.enqueuer.apply_command,
            )

        row, errors = await perform(info, WRITERS, act)
        return CommandPayload(
            command=None if row is None else Command.from_row(row), user_errors=errors
        )

    @strawberry.mutation(description="Create a transaction code or change its description.")
    async def save_transaction_code(
        self, info: Info, code: str, type: TransactionType, description: str
    ) -> TransactionCodePayload:
        async def act(uow: UnitOfWork, who: Principal) -> models.TransactionCode:
            return await payer_config.upsert_transaction_code(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                code=code,
                type_=type.value,
                description=description,
            )

        row, errors = await perform(info, ("billing.admin",), act)
        node = None if row is None else TransactionCode.from_row(row)
        return TransactionCodePayload(transaction_code=node, user_errors=errors)

    @strawberry.mutation(description="Set or (with no code) clear a payer's default code.")
    async def set_payer_default_code(
        self, info: Info, payer_id: strawberry.ID, type: TransactionType, code: str | None = None
    ) -> PayerPayload:
        async def act(uow: UnitOfWork, who: Principal) -> models.Payer:
            return await payer_config.set_payer_default_code(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                payer_id=decode_id(payer_id, "Payer"),
                type_=type.value,
                code=code,
            )

        row, errors = await perform(info, ("billing.admin",), act)
        return PayerPayload(payer=None if row is None else Payer.from_row(row), user_errors=errors)
