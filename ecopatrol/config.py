"""Typed, frozen settings read from ``config.toml`` with ``ECOPATROL_*`` environment overrides.

Precedence: built-in defaults < the TOML file < environment. ``ECOPATROL_DATABASE_URL`` sets
``database.url``, ``ECOPATROL_AUDIT_KEY_FILE`` sets ``audit.key_file``; any other key is
``ECOPATROL_<SECTION>__<KEY>``
(e.g. ``ECOPATROL_INGEST__ALLOW_AUTO_REGISTER=true``), its value read as a TOML literal
when it parses as one, else as a string.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.toml"


class ConfigError(ValueError):
    """A configuration problem, naming the key and the reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_url: str = ""
    max_body_bytes: int = Field(45_000_000, gt=0)
    access_log: bool = False


class DatabaseSettings(_Section):
    url: str = "sqlite:///data/ecopatrol.db"
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"


class DeploymentSettings(_Section):
    name: str = "生态警务站"
    metric_crs: str = "EPSG:32650"
    timezone: str = "Asia/Shanghai"
    bounds_lonlat: tuple[float, float, float, float] | None = None
    margin_m: float = Field(5000, ge=0)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> DeploymentSettings:
        b = self.bounds_lonlat
        if b is not None and not (b[0] < b[2] and b[1] < b[3]):
            raise ValueError("bounds_lonlat must be [min_lon, min_lat, max_lon, max_lat]")
        return self


class LayerSettings(_Section):
    reach_length_m: float = Field(500, gt=0)
    cell_size_m: float = Field(500, gt=0)


class PerMode(_Section):
    vehicle: float = Field(gt=0)
    foot: float = Field(gt=0)
    boat: float = Field(gt=0)


class IngestSettings(_Section):
    allow_auto_register: bool = False
    auto_register_mode: Literal["vehicle", "foot", "boat"] = "foot"
    default_datum: Literal["wgs84", "gcj02", "cgcs2000"] = "wgs84"
    max_future_s: float = Field(300, ge=0)
    max_batch_fixes: int = Field(100_000, gt=0)
    group_commit_ms: float = Field(200, ge=0, le=5000)
    max_gap_s: float = Field(600, gt=0)
    max_jump_m: float = Field(2000, gt=0)
    max_speed_mps: PerMode = PerMode(vehicle=45, foot=4, boat=20)
    sweep_width_m: PerMode = PerMode(vehicle=100, foot=50, boat=100)


class CoverageSettings(_Section):
    fresh_hours: float = Field(24, gt=0)
    stale_hours: float = Field(72, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> CoverageSettings:
        if self.stale_hours <= self.fresh_hours:
            raise ValueError("stale_hours must be greater than fresh_hours")
        return self


class ReportsSettings(_Section):
    max_photo_bytes: int = Field(8_388_608, gt=0)
    public_burst: int = Field(10, ge=1)
    public_per_minute: float = Field(10, gt=0)


#: the longest lifetime a token may be given (``auth.token_days``, ``token create --days``): 100 years
MAX_TOKEN_DAYS = 36_500


class AuthSettings(_Section):
    """Tokens and the brake on guessing credentials (``ecopatrol.api.auth_guard``: checked in memory,
    counted across processes in the database)."""

    max_failures: int = Field(20, ge=1)
    window_s: float = Field(60, gt=0)
    token_cache_s: float = Field(5, ge=0, le=300)
    token_days: float = Field(365, gt=0, le=MAX_TOKEN_DAYS, allow_inf_nan=False)


class MapsSettings(_Section):
    tile_url: str = ""
    tile_attribution: str = ""


class AuditSettings(_Section):
    """Where the evidence trail's HMAC key lives (``ecopatrol.audit.keys``): a file of 32 random bytes
    on the API hosts, never in the database nor in this file; relative paths are next to the config."""

    key_file: str = Field("data/audit.key", min_length=1)


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    deployment: DeploymentSettings = DeploymentSettings()
    layers: LayerSettings = LayerSettings()
    ingest: IngestSettings = IngestSettings()
    coverage: CoverageSettings = CoverageSettings()
    reports: ReportsSettings = ReportsSettings()
    maps: MapsSettings = MapsSettings()
    auth: AuthSettings = AuthSettings()
    audit: AuditSettings = AuditSettings()
    rules: list[dict[str, Any]] = []
    escalation: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    config_path: str = ""

    def resolve_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        base = Path(self.config_path).parent if self.config_path else PROJECT_ROOT
        return (base / value).resolve()

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute (next to the config)."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve_path(url[len(prefix):]))
        return url

    @property
    def audit_key_path(self) -> Path:
        """The audit key file, a relative path resolved next to the config."""
        return self.resolve_path(self.audit.key_file)


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Read the TOML file (``ECOPATROL_CONFIG`` or the project's ``config.toml``) and the environment."""
    env = dict(os.environ if environ is None else environ)
    config_path = Path(path or env.get("ECOPATROL_CONFIG") or DEFAULT_CONFIG)
    data = _read_toml(config_path)
    _apply_env(data, env)
    data["config_path"] = str(config_path.resolve())
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, config_path)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _apply_env(data: dict[str, Any], env: dict[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith("ECOPATROL_") or name == "ECOPATROL_CONFIG":
            continue
        key = name[len("ECOPATROL_"):].lower()
        parts = ["database", "url"] if key == "database_url" else key.split("__")
        if len(parts) < 2:
            continue
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {part} is not a table")
        node[parts[-1]] = _literal(raw)
    if env.get("ECOPATROL_AUDIT_KEY_FILE"):  # a path, taken as it is (never read as a TOML literal)
        section = data.setdefault("audit", {})
        if not isinstance(section, dict):
            raise ConfigError("ECOPATROL_AUDIT_KEY_FILE: audit is not a table")
        section["key_file"] = env["ECOPATROL_AUDIT_KEY_FILE"]


def _literal(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _explain(exc: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid configuration"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        lines.append(f"  {key}: {err['msg']}")
    return "\n".join(lines)
