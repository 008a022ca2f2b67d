"""Run the Alembic migrations from code (no alembic.ini needed)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


SERVICE_ROLES = ("arledger_api", "arledger_worker")
"""The roles the API and the worker connect as (created by migration 0008)."""


async def set_role_passwords(database_url: str, passwords: dict[str, str]) -> list[str]:
    """As the owner, give the service roles the passwords configured for them; returns the
    roles changed. Empty passwords are skipped (trusted local connections need none)."""
    import asyncpg

    changed = [role for role in SERVICE_ROLES if passwords.get(role)]
    if not changed:
        return []
    connection = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        for role in changed:
            literal = "'" + passwords[role].replace("'", "''") + "'"
            await connection.execute(f"ALTER ROLE {role} PASSWORD {literal}")
    finally:
        await connection.close()
    return changed
