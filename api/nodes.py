"""Every type `node(id:)` can return, by the type name in its global id."""

from typing import Any

from api.audit import AuditRow
from api.balances import Account, ChargeLine, Visit
from api.bulk_types import BulkJob
from api.transaction_types import Transaction, TransactionCode
from api.types import Command, LedgerEntry, Payer
from domain import models
from domain.bulk import models as bulk_models

NODE_TYPES: dict[str, tuple[Any, Any]] = {
    "Account": (models.Account, Account),
    "Visit": (models.Visit, Visit),
    "ChargeLine": (models.ChargeLine, ChargeLine),
    "Payer": (models.Payer, Payer),
    "LedgerEntry": (models.LedgerEntry, LedgerEntry),
    "Command": (models.Command, Command),
    "AuditRow": (models.AuditRow, AuditRow),
    "Transaction": (models.Transaction, Transaction),
    "TransactionCode": (models.TransactionCode, TransactionCode),
    "BulkJob": (bulk_models.BulkJob, BulkJob),
}
