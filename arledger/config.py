"""Process configuration, read from the environment (and `.env`) by pydantic-settings."""

import os
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
    ws_send_timeout_seconds: float = 30.0
    ws_compression: bool = False
    """permessage-deflate on websockets. Off: it compresses every message once per connection,
    which costs the fan-out (api/fanout.py) what sending one rendering to all saved."""
    """A websocket client that reads nothing for this long is dropped (api/fanout.py)."""
    celery_queue: str = "arledger"
    bulk_queue: str = ""
    """Queue of bulk-job tasks (default `<celery_queue>-bulk`), so a big job never holds
    single commands back: a worker consumes both, and interactive work keeps its own line."""
    channel_prefix: str = "arledger"
    sweep_after_seconds: float = 5.0
    sweep_interval_seconds: float = 2.0
    visibility_timeout_seconds: int = 30
    apply_batch_size: int = Field(default=1000, ge=1, le=5000)
    apply_batch_wait_seconds: float = Field(default=0.0, ge=0.0, le=1.0)
    apply_drain_seconds: float = Field(default=5.0, gt=0.0)
    apply_batch_account_share: float = Field(default=0.5, gt=0.0, le=1.0)
    """The share of the accounts the oldest PENDING commands wait on that one batch may lock
    (`domain.locks.claim_disjoint_batch`): at 0.5 a second worker child drains the other half
    beside it; at 1.0 one batch takes them all and children take turns."""
    bulk_chunk_size: int = Field(default=500, ge=1, le=20_000)
    enqueue_interval_seconds: float = Field(default=0.02, ge=0.0, le=1.0)
    """Shortest time between two wake-ups the API sends, all the processes of one `arledger
    api` together (a lone command after a quiet spell is sent at once; under load one message
    covers every command committed before it): see `wake_up_spacing_seconds`."""
    auth_cache_seconds: float = Field(default=60.0, ge=0.0, le=3600.0)
    """How long an API process trusts a verified token and a resolved tenant slug without
    checking again (0: no cache). A token is never trusted past its `exp`."""
    db_pool_size: int = Field(default=20, ge=1, le=500)
    """PostgreSQL connections each API process keeps open."""
    db_max_overflow: int = Field(default=0, ge=0, le=500)
    """Connections an API process may open beyond `db_pool_size` for a burst, each closed as
    soon as it is returned. 0: a request beyond the pool waits for a pooled connection, which
    costs far less than opening one (TLS negotiation, authentication, asyncpg's type
    introspection) and keeps the database's own concurrency bounded."""
    api_workers: int = Field(default=0, ge=0, le=256)
    """Processes `arledger api` runs (`--workers` overrides it); 0: one per CPU."""
    api_processes: int = Field(default=1, ge=1, le=256)
    """How many processes serve the API this one is part of: `arledger api --workers N` sets
    it (`API_PROCESSES`) for the processes it starts."""
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
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    """Largest `multipart/form-data` body (a file upload, e.g. an 835): 413 beyond. The default
    is the 835 reader's own limit (`domain.remittances.x12.MAX_BYTES`)."""
    # Browser front ends on other origins, and the FHIR export (issue 15).
    cors_origins: str = ""
    """Origins (`scheme://host[:port]`, comma-separated) whose pages may call the API over
    HTTP (CORS) and open its websocket; empty: none. `*`: any (development only)."""
    fhir_account_system: str = "https://arledger.invalid/{tenant}/account-number"
    """`Identifier.system` of a FHIR Account's account number; `{tenant}` is the tenant slug."""

    @model_validator(mode="after")
    def _no_problems(self) -> Self:
        """Misconfigured tokens, origins or FHIR ids stop the process at startup, every problem
        named, by section."""
        sections = {
            "token settings": setting_problems(self),
            "CORS settings": origin_problems(self.cors_origins, self.production),
            "FHIR settings": fhir_problems(self.fhir_account_system),
        }
        if named := [(name, problems) for name, problems in sections.items() if problems]:
            raise ValueError(
                "\n".join(f"{name}:" + "".join(f"\n  - {p}" for p in ps) for name, ps in named)
            )
        return self

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """`cors_origins` as origins the way browsers send them (lower case, no default port)."""
        return tuple(normal_origin(o) or o for o in split_origins(self.cors_origins))

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
    def api_worker_count(self) -> int:
        """`api_workers`, or the number of CPUs (`os.cpu_count()`) when it is 0."""
        return self.api_workers or os.cpu_count() or 1

    @property
    def wake_up_spacing_seconds(self) -> float:
        """The shortest time between two wake-ups one API process sends. Any wake-up drains
        every PENDING command, whichever process sent it, so `enqueue_interval_seconds` is a
        budget of the API as a whole: N processes each wait N intervals. (Each wake-up costs
        the worker a task and a transaction; at one interval each, two processes had doubled
        them and the worker's CPU, on a machine whose cores they all share.)"""
        return self.enqueue_interval_seconds * self.api_processes

    @property
    def bulk_queue_name(self) -> str:
        return self.bulk_queue or f"{self.celery_queue}-bulk"

    @property
    def worker_queues(self) -> str:
        """The `-Q` argument of a worker: both queues."""
        return f"{self.celery_queue},{self.bulk_queue_name}"


DEFAULT_PORTS = {"http": 80, "https": 443}


def split_origins(value: str) -> list[str]:
    """The comma-separated entries of `CORS_ORIGINS`, blanks dropped."""
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def normal_origin(entry: str) -> str | None:
    """`scheme://host[:port]` in the form a browser's `Origin` header has it (lower case, the
    scheme's default port left out), or None when `entry` is not such an origin."""
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path or "@" in parts.netloc or any(c in entry for c in "?# \t"):
        return None
    scheme = parts.scheme.lower()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}" + ("" if port in (None, DEFAULT_PORTS[scheme]) else f":{port}")


def origin_problems(value: str, production: bool) -> list[str]:
    """Everything wrong with `CORS_ORIGINS`, each as a sentence naming the variable."""
    entries = split_origins(value)
    problems = []
    if "*" in entries and production:
        problems.append(
            "ARLEDGER_ENV=production refuses CORS_ORIGINS=* (every site's pages could call the "
            "API): list the front ends' exact origins, e.g. https://billing.example.org"
        )
    if "*" in entries and len(entries) > 1:
        problems.append("CORS_ORIGINS=* allows every origin: list nothing beside it")
    for entry in entries:
        if entry == "null":
            problems.append(
                "CORS_ORIGINS must not list 'null' (sandboxed and file: pages all send it)"
            )
        elif entry != "*" and normal_origin(entry) is None:
            problems.append(
                f"CORS_ORIGINS entry {entry!r} is not an origin: http(s)://host[:port], "
                "without a path or a trailing slash"
            )
    return problems


def fhir_problems(system: str) -> list[str]:
    """Everything wrong with `FHIR_ACCOUNT_SYSTEM`."""
    problems = []
    if "{tenant}" not in system:
        problems.append(
            "FHIR_ACCOUNT_SYSTEM must contain {tenant}: account numbers are unique per tenant"
        )
    parts = urlsplit(system.replace("{tenant}", "t"))
    if parts.scheme not in ("http", "https", "urn") or not (parts.netloc or parts.path):
        problems.append("FHIR_ACCOUNT_SYSTEM must be an absolute URL (https://…) or a urn:")
    return problems


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
