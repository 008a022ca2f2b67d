"""Process configuration, read from the environment (and `.env`) by pydantic-settings."""

from functools import lru_cache
from typing import Literal, Self
from urllib.parse import quote, urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from arledger.tokens import DEV_SECRET, setting_problems


class Settings(BaseSettings):
    """Every knob arledger reads. Environment names are the upper-cased field names."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/arledger"
    """The owner's connection: migrations only (and tests). The services connect as roles
    that own nothing (see `api_database_url`, `worker_database_url`)."""
    api_database_url: str = ""
    """The API's connection, as `arledger_api` (row-level security: one tenant per transaction).
    Default: `database_url` with that user and `API_DATABASE_PASSWORD`."""
    api_database_password: str = ""
    worker_database_url: str = ""
    """The worker's (and `arledger verify`'s, `seed-demo`'s) connection, as `arledger_worker`
    (every tenant). Default: `database_url` with that user and `WORKER_DATABASE_PASSWORD`."""
    worker_database_password: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    jwt_secret: str = Field(default=DEV_SECRET, min_length=32)
    jwt_issuer: str = "arledger"
    jwt_audience: str = "arledger"
    introspection: bool = True
    graphiql: bool = True
    max_query_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_subscriptions_per_connection: int = 20
    ws_init_timeout_seconds: float = 5.0
    celery_queue: str = "arledger"
    bulk_queue: str = ""
    """Queue of bulk-job tasks (default `<celery_queue>-bulk`), so a big job never holds
    single commands back: a worker consumes both, and interactive work keeps its own line."""
    channel_prefix: str = "arledger"
    sweep_after_seconds: float = 5.0
    sweep_interval_seconds: float = 2.0
    visibility_timeout_seconds: int = 30
    apply_batch_size: int = Field(default=500, ge=1, le=5000)
    apply_batch_wait_seconds: float = Field(default=0.0, ge=0.0, le=1.0)
    apply_drain_seconds: float = Field(default=5.0, gt=0.0)
    bulk_chunk_size: int = Field(default=500, ge=1, le=20_000)
    db_pool_size: int = 10
    log_level: str = "INFO"
    # Production mode, token verification and request limits (issue 7).
    arledger_env: Literal["development", "production"] = "development"
    """`production`: no introspection, no GraphiQL, no schema hints in errors, asymmetric
    tokens only (keys from `jwt_jwks_url` or `jwt_public_key`), the dev secret refused."""
    jwt_algorithms: str = "HS256"
    """Accepted `alg` values, comma-separated (e.g. `RS256,ES256`); HS* only in development."""
    jwt_jwks_url: str = ""
    jwt_public_key: str = ""
    """One PEM public key (`\\n` escapes allowed), instead of a JWKS URL."""
    jwt_jwks_cache_seconds: float = Field(default=300.0, gt=0)
    jwt_leeway_seconds: int = Field(default=0, ge=0, le=300)
    max_batch_operations: int = Field(default=10, ge=0, le=100)
    """Operations in one batched HTTP request (a JSON array); 0 turns batching off."""
    max_request_bytes: int = Field(default=256 * 1024, ge=1024)
    """Largest HTTP request body (413 beyond) and websocket message (closed 1009 beyond)."""

    @model_validator(mode="after")
    def _token_settings(self) -> Self:
        """Misconfigured token verification stops the process at startup, every problem named."""
        if problems := setting_problems(self):
            raise ValueError("token settings:" + "".join(f"\n  - {p}" for p in problems))
        return self

    @property
    def production(self) -> bool:
        return self.arledger_env == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection and not self.production

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql and not self.production

    @model_validator(mode="after")
    def _service_connections(self) -> Self:
        """Derive the API's and the worker's connections from the owner's when not given."""
        owner = self.database_url
        if not self.api_database_url:
            self.api_database_url = _as_user(owner, "arledger_api", self.api_database_password)
        if not self.worker_database_url:
            self.worker_database_url = _as_user(
                owner, "arledger_worker", self.worker_database_password
            )
        return self

    @property
    def bulk_queue_name(self) -> str:
        return self.bulk_queue or f"{self.celery_queue}-bulk"

    @property
    def worker_queues(self) -> str:
        """The `-Q` argument of a worker: both queues."""
        return f"{self.celery_queue},{self.bulk_queue_name}"


def _as_user(url: str, user: str, password: str) -> str:
    """`url` with its user (and password) replaced; host, database and query kept as written."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return parts._replace(netloc=f"{auth}@{host}").geturl()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
