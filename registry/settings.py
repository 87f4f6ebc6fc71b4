"""One settings object, read once from REGISTRY_* environment variables."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "tf-registry"

VARIABLE_PREFIX = "REGISTRY_"

MiB = 1024**2
S3_MIN_PART_SIZE = 5 * MiB  # S3 refuses smaller parts (all but the last)


class SettingsError(ValueError):
    """Settings that cannot be used; the one-line message names each bad one and why.

    Each is named by its variable, also when the value came from code rather than the
    environment: a field and its variable are one setting, and this way one message serves
    the person who set the variable.
    """

    @classmethod
    def from_validation(cls, error: ValidationError) -> SettingsError:
        problems = [
            f"{variable_name(str(problem['loc'][0]))}={problem['input']!r}: {problem['msg']}"
            for problem in error.errors()
        ]
        return cls(f"invalid settings: {'; '.join(problems)}")


def variable_name(field: str) -> str:
    """The environment variable a settings field is read from."""
    return f"{VARIABLE_PREFIX}{field.upper()}"


class Settings(BaseSettings):
    """Every knob of the registry. Field `x` is read from `REGISTRY_X`.

    Empty database/storage/broker URLs mean the embedded default under `data_dir`:
    a SQLite file, a local artifact directory and a server-less SQLite broker.
    """

    model_config = SettingsConfigDict(env_prefix=VARIABLE_PREFIX, frozen=True)

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    # Every wait on the database has a bound (PostgreSQL; SQLite waits busy_timeout on locks):
    # connecting, taking a pooled connection, waiting for a row lock, one statement, and a
    # transaction left open doing nothing.
    database_connect_timeout_seconds: PositiveInt = 5
    database_pool_timeout_seconds: PositiveFloat = 10
    database_lock_timeout_seconds: PositiveFloat = 10
    database_statement_timeout_seconds: PositiveFloat = 120
    database_idle_in_transaction_timeout_seconds: PositiveFloat = 120
    # `s3://bucket/prefix` or a local directory path (`file:///abs/dir` or `/abs/dir`).
    storage_url: str = ""
    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = Field("", repr=False)
    s3_region: str = "us-east-1"
    # The S3 endpoint as clients reach it, when that differs from `s3_endpoint_url` (a
    # container network's name): presigned URLs are signed for this host.
    s3_public_endpoint_url: str = ""
    broker_url: str = ""

    # A client that sends nothing of its request for this long is cut off (408) and its
    # partial upload removed, so stalled clients cannot keep the API's threads (gunicorn).
    client_idle_timeout_seconds: PositiveFloat = 60

    # Upload limits.
    max_upload_bytes: PositiveInt = 4 * 1024**3
    max_archive_entries: PositiveInt = 10_000
    max_unpacked_bytes: PositiveInt = 16 * 1024**3
    max_compression_ratio: PositiveInt = 200

    # Transfer tuning: S3 multipart part size and parts in flight per upload.
    part_size_bytes: int = Field(16 * MiB, ge=S3_MIN_PART_SIZE)
    parts_in_flight: PositiveInt = 4
    # Bounds of every S3 call (retries are botocore's, 3 attempts): see storage CallPolicy.
    s3_connect_timeout_seconds: PositiveFloat = 3
    s3_read_timeout_seconds: PositiveFloat = 20
    # Transfers that bypass the API (S3 only): how long a presigned part URL of a direct upload
    # and a presigned download redirect stay valid. Unfinished direct uploads are aborted a day
    # after they began (by `registry gc` and by every process that opens the store).
    direct_upload_url_seconds: PositiveInt = 3600
    download_redirect_seconds: PositiveInt = 300

    # Conversion jobs.
    job_timeout_seconds: PositiveInt = 600
    job_memory_limit_mb: PositiveInt = 8192
    job_max_attempts: PositiveInt = 3
    job_lease_seconds: PositiveInt = 900
    # How long a job that cannot reach storage or the database is retried (with growing
    # delays) before it fails; those attempts do not count against job_max_attempts.
    job_retry_window_seconds: PositiveInt = 600
    sweep_interval_seconds: PositiveInt = 30
    # Each variant's profile (load time, latency) stops its timed runs at this bound; the
    # converter is stopped if it has not answered within twice it.
    profile_time_bound_seconds: PositiveInt = 60
    # Each worker keeps verified copies of the bytes it read (sources, example inputs, variants
    # to profile), up to this much, so jobs on the same bytes do not download them again;
    # 0 keeps none.
    kept_bytes_mb: NonNegativeInt = 2048

    # `registry gc` keeps unneeded objects younger than this, and the bytes of versions deleted
    # less long ago: uploads and conversions write their bytes before they commit them.
    gc_grace_seconds: NonNegativeInt = 24 * 3600

    # Level of the JSON log lines every process writes to stderr (DEBUG, INFO, WARNING...).
    log_level: str = "INFO"

    # Webhooks: how long one delivery attempt may take, and how many attempts a delivery gets
    # (on the retry schedule of registry.domain.webhooks.outbox). Endpoints on loopback,
    # private, link-local or other non-public addresses are refused unless allowed.
    webhook_timeout_seconds: PositiveFloat = 15
    webhook_max_attempts: PositiveInt = 8
    webhook_allow_private: bool = False

    # Access and audit: reads without a token, and an audit event for every artifact download.
    anonymous_read: bool = False
    audit_downloads: bool = False
    # An API process remembers a token it accepted this long without asking the database again:
    # a revoked token stops working within it (0: ask on every request).
    token_cache_seconds: NonNegativeFloat = 5
    # Signs the web pages' sign-in cookies. Empty: a key kept in `<data_dir>/web.key`, made on
    # first use; set it when several machines serve the pages, so each accepts the others'.
    web_secret_key: str = Field("", repr=False)

    def __init__(self, **fields: Any) -> None:
        try:
            super().__init__(**fields)
        except ValidationError as error:
            raise SettingsError.from_validation(error) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The constructor takes only the fields it is given: the environment is read by
        # `from_env` alone, so that `Settings(data_dir=...)` means the same in every process.
        return (init_settings,)

    @field_validator("data_dir")
    @classmethod
    def _expand_user(cls, data_dir: Path) -> Path:
        return data_dir.expanduser()

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, level: str) -> str:
        name, levels = level.upper(), logging.getLevelNamesMapping()
        if name not in levels:
            raise PydanticCustomError(
                "log_level",
                "not a logging level, use one of {levels}",
                {"levels": ", ".join(levels)},
            )
        return name

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `REGISTRY_*` variables; keyword overrides win over the environment.

        Reads `environ` if given, else `os.environ`.
        """
        variables = _RegistryVariables(cls, os.environ if environ is None else environ)()
        return cls(**{**variables, **overrides})

    def with_changes(self, **changes: Any) -> Settings:
        return type(self)(**{**self.model_dump(), **changes})

    def to_env(self) -> dict[str, str]:
        """The `REGISTRY_*` variables that reproduce these settings in another process."""
        return {
            variable_name(field): str(value).lower() if isinstance(value, bool) else str(value)
            for field, value in self.model_dump().items()
        }

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.sqlite'}"

    @property
    def effective_storage_url(self) -> str:
        return self.storage_url or str(self.data_dir / "artifacts")

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.data_dir / 'broker.sqlite'}"

    @property
    def work_dir(self) -> Path:
        """Scratch space for conversions (unpacked sources, outputs before upload)."""
        return self.data_dir / "work"

    @property
    def kept_bytes_dir(self) -> Path:
        """Verified copies of bytes a worker read (`kept_bytes_mb`), beside the scratch space:
        a job's scratch takes hard links to them."""
        return self.data_dir / "kept-bytes"


class _RegistryVariables(EnvSettingsSource):
    """The settings' variables found in one mapping, which need not be `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self.environ = environ  # set first: the base __init__ loads the variables
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Matched case-insensitively, as pydantic-settings does by default.
        return {name.lower(): value for name, value in self.environ.items()}
