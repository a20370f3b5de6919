"""The ``[channels]`` table of ``config.toml``, parsed into typed, frozen delivery settings.

A route names channels (``stream``, ``webhook``, ``ntfy``…); each outbox row is one notification on
one of them. ``endpoints.<name>`` says how a channel delivers; ``by_squad`` / ``by_severity`` override
parts of it (another URL, topic or secret, or ``enabled = false``) for a squad's or a severity's
notifications. Escalations go to roles (``roles.<role>`` = person ids) and people, who are reached
through their own topic or webhook (``people.<id>``). Secrets are never in the file: ``secret_env``
names the environment variable that holds one.

```toml
[channels]
max_attempts = 8
[channels.endpoints.webhook]
kind = "webhook"
url = "https://dispatch.example/hooks/ecopatrol"
secret_env = "ECOPATROL_WEBHOOK_SECRET"
[channels.endpoints.webhook.by_severity.critical]
url = "https://dispatch.example/hooks/critical"
[channels.endpoints.ntfy]
kind = "ntfy"
base_url = "http://10.1.2.3:8090"
topic_template = "ecopatrol-{squad_id}"
[channels.roles]
duty_commander = ["p-zhang"]
[channels.people.p-zhang]
ntfy_topic = "ecopatrol-zhang"
```
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.model import Severity
from ecopatrol.config import ConfigError, Settings

STREAM = "stream"  # delivered by the live hub, not by the outbox worker
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOPIC_FIELDS = {"squad_id", "recipient_id", "recipient_kind"}
_KINDS = ("webhook", "ntfy", "log")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError("must be the NAME of an environment variable (e.g. ECOPATROL_WEBHOOK_SECRET), "
                         "never the secret itself")
    return value


class WebhookOverride(_Strict):
    enabled: bool | None = None
    url: str | None = Field(None, pattern=r"^https?://")
    secret_env: str | None = None
    timeout_s: float | None = Field(None, gt=0, le=120)

    _check_env = field_validator("secret_env")(_env_name)


class WebhookEndpoint(_Strict):
    kind: Literal["webhook"]
    enabled: bool = True
    url: str = Field(pattern=r"^https?://")
    secret_env: str
    timeout_s: float = Field(5.0, gt=0, le=120)
    by_squad: dict[str, WebhookOverride] = {}
    by_severity: dict[Severity, WebhookOverride] = {}

    _check_env = field_validator("secret_env")(_env_name)


class NtfyOverride(_Strict):
    enabled: bool | None = None
    base_url: str | None = Field(None, pattern=r"^https?://")
    topic_template: str | None = None
    token_env: str | None = None
    timeout_s: float | None = Field(None, gt=0, le=120)

    _check_env = field_validator("token_env")(_env_name)


class NtfyEndpoint(_Strict):
    kind: Literal["ntfy"]
    enabled: bool = True
    base_url: str = Field(pattern=r"^https?://")
    topic_template: str = "ecopatrol-{squad_id}"
    token_env: str | None = None
    click_template: str | None = None
    timeout_s: float = Field(5.0, gt=0, le=120)
    by_squad: dict[str, NtfyOverride] = {}
    by_severity: dict[Severity, NtfyOverride] = {}

    _check_env = field_validator("token_env")(_env_name)

    @field_validator("topic_template")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        unknown = set(re.findall(r"{(\w*)}", value)) - _TOPIC_FIELDS
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)} (use {sorted(_TOPIC_FIELDS)})")
        return value


class LogEndpoint(_Strict):
    """Keeps what it is sent in memory (demos, dry runs)."""

    kind: Literal["log"]
    enabled: bool = True


Endpoint = Annotated[WebhookEndpoint | NtfyEndpoint | LogEndpoint, Field(discriminator="kind")]


class PersonAddress(_Strict):
    """How one person (a duty commander, a station chief) is reached on escalation."""

    ntfy_topic: str | None = None
    webhook_url: str | None = Field(None, pattern=r"^https?://")
    webhook_secret_env: str | None = None

    _check_env = field_validator("webhook_secret_env")(_env_name)


class DeliverySettings(_Strict):
    max_attempts: int = Field(8, ge=1, le=100)
    backoff_base_s: float = Field(2.0, gt=0)
    backoff_max_s: float = Field(600.0, gt=0)
    poll_s: float = Field(1.0, gt=0, le=60)
    lease_s: float = Field(60.0, gt=0)
    per_channel_concurrency: int = Field(8, ge=1, le=256)
    batch: int = Field(200, ge=1, le=10_000)
    endpoints: dict[str, Endpoint] = {}
    roles: dict[str, tuple[str, ...]] = {}
    people: dict[str, PersonAddress] = {}

    @model_validator(mode="after")
    def _cross_checks(self) -> DeliverySettings:
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be at least backoff_base_s")
        if STREAM in self.endpoints:
            raise ValueError(f"endpoints.{STREAM}: the stream channel is the live hub's, not an endpoint")
        for role, people in self.roles.items():
            missing = [p for p in people if p not in self.people]
            if missing:
                raise ValueError(f"roles.{role}: no people.{missing[0]} address")
        for name, endpoint in self.endpoints.items():
            timed = isinstance(endpoint, NtfyEndpoint | WebhookEndpoint)
            if timed and endpoint.timeout_s + 3 > self.lease_s:  # type: ignore[union-attr]
                raise ValueError(f"endpoints.{name}.timeout_s: lease_s must exceed timeout_s + 3 s")
        return self

    def lease_ms(self) -> int:
        return int(self.lease_s * 1000)


def parse_delivery_settings(channels: Mapping[str, Any]) -> DeliverySettings:
    """``settings.channels`` → ``DeliverySettings``; a ``ConfigError`` names every bad key."""
    try:
        return DeliverySettings.model_validate(dict(channels))
    except ValidationError as exc:
        lines = ["invalid [channels] configuration"]
        for err in exc.errors():
            loc = list(err["loc"])
            if len(loc) > 2 and loc[0] == "endpoints" and loc[2] in _KINDS:
                del loc[2]  # the union's tag, not a key
            key = ".".join(str(p) for p in ("channels", *loc))
            lines.append(f"  {key}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def delivery_settings(settings: Settings) -> DeliverySettings:
    return parse_delivery_settings(settings.channels)


def secret_from_env(env_name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret held by the environment variable ``env_name`` (None when unset or empty)."""
    value = (os.environ if environ is None else environ).get(env_name, "")
    return value or None
