"""Report categories: each one's own detail fields (validated, ``extra="forbid"``) and its labels.

``DETAIL_MODELS`` is the single source: the API schemas, the CSV importer and the ``/report`` form
(``form_spec``) are all built from it, so a field added here appears everywhere.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, model_validator

Category = Literal[
    "illegal_fishing", "electrofishing", "poisoning", "illegal_hunting", "snare", "firearm", "other"
]
CATEGORIES: tuple[str, ...] = get_args(Category)
FishingMethod = Literal["net", "electrofishing", "poison", "rod", "other"]


class _Details(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class IllegalFishingDetails(_Details):
    """非法捕捞 — illegal fishing."""

    method: FishingMethod = Field(description="how the fish were taken")
    boat: bool | None = Field(None, description="a boat was used (null: unknown)")


class ElectrofishingDetails(_Details):
    """电鱼 — electrofishing."""

    boat: bool | None = Field(None, description="from a boat (null: unknown)")
    people_seen: int | None = Field(None, ge=0, le=100, description="people seen doing it")


class PoisoningDetails(_Details):
    """毒鱼 — poisoning of a river or pond."""

    dead_fish_seen: bool = Field(False, description="dead fish were seen")
    estimated_kg: float | None = Field(None, ge=0, le=100_000, description="estimated dead fish, kg")

    @model_validator(mode="after")
    def _kg_needs_fish(self) -> PoisoningDetails:
        if self.estimated_kg and not self.dead_fish_seen:
            raise ValueError("estimated_kg is given but dead_fish_seen is false")
        return self


class IllegalHuntingDetails(_Details):
    """非法狩猎 — illegal hunting."""

    snares_count: int | None = Field(None, ge=0, le=10_000, description="snares seen")
    traps_count: int | None = Field(None, ge=0, le=10_000, description="traps (clamps, cages) seen")
    species: str | None = Field(None, max_length=100, description="species, if known")


class SnareDetails(_Details):
    """猎套 — snares found (no hunter seen)."""

    snares_count: int | None = Field(None, ge=1, le=10_000, description="snares found")


class FirearmDetails(_Details):
    """枪声/枪支 — shots heard or a gun seen."""

    shots_heard: int = Field(ge=0, le=1000, description="number of shots heard (0: none)")
    bearing_deg: float | None = Field(
        None, ge=0, le=360, description="direction of the shots, degrees clockwise from north"
    )
    distance_m: float | None = Field(None, ge=0, le=20_000, description="estimated distance, m")
    weapon_seen: bool = Field(False, description="a firearm was seen")


class OtherDetails(_Details):
    """其他 — anything else (say what in the description)."""


DETAIL_MODELS: dict[str, type[_Details]] = {
    "illegal_fishing": IllegalFishingDetails,
    "electrofishing": ElectrofishingDetails,
    "poisoning": PoisoningDetails,
    "illegal_hunting": IllegalHuntingDetails,
    "snare": SnareDetails,
    "firearm": FirearmDetails,
    "other": OtherDetails,
}

#: (Simplified Chinese, English) labels of the categories.
CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    "illegal_fishing": ("非法捕捞", "Illegal fishing"),
    "electrofishing": ("电鱼", "Electrofishing"),
    "poisoning": ("毒鱼", "Fish poisoning"),
    "illegal_hunting": ("非法狩猎", "Illegal hunting"),
    "snare": ("发现猎套", "Snares found"),
    "firearm": ("枪声或枪支", "Shots or a firearm"),
    "other": ("其他", "Other"),
}

#: (Simplified Chinese, English) labels of the detail fields and of enumerated values.
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "method": ("捕捞方式", "Method"),
    "boat": ("使用船只", "Boat used"),
    "people_seen": ("看到的人数", "People seen"),
    "dead_fish_seen": ("看到死鱼", "Dead fish seen"),
    "estimated_kg": ("死鱼估计重量（公斤）", "Estimated dead fish (kg)"),
    "snares_count": ("猎套数量", "Snares"),
    "traps_count": ("夹子/笼具数量", "Traps"),
    "species": ("物种（如知道）", "Species (if known)"),
    "shots_heard": ("听到枪声次数", "Shots heard"),
    "bearing_deg": ("枪声方向（度，正北为0）", "Bearing (°, north = 0)"),
    "distance_m": ("估计距离（米）", "Estimated distance (m)"),
    "weapon_seen": ("看到枪支", "Firearm seen"),
}
VALUE_LABELS: dict[str, tuple[str, str]] = {
    "net": ("网具", "Net"),
    "electrofishing": ("电鱼", "Electrofishing"),
    "poison": ("毒鱼", "Poison"),
    "rod": ("钓竿", "Rod"),
    "other": ("其他", "Other"),
}


def category_label(category: str) -> dict[str, str]:
    zh, en = CATEGORY_LABELS.get(category, (category, category))
    return {"zh": zh, "en": en}


def field_names(category: str) -> tuple[str, ...]:
    return tuple(DETAIL_MODELS[category].model_fields)


def all_detail_fields() -> dict[str, str]:
    """Every detail field name → its kind (``enum``, ``bool``, ``int``, ``float``, ``text``)."""
    out: dict[str, str] = {}
    for model in DETAIL_MODELS.values():
        for name, info in model.model_fields.items():
            out[name] = _field_kind(info.annotation)[0]
    return out


def form_spec() -> list[dict[str, Any]]:
    """The categories and their fields for the ``/report`` form (labels, kinds, limits, options)."""
    return [
        {
            "key": key,
            "label": category_label(key),
            "fields": [_field_spec(name, info) for name, info in model.model_fields.items()],
        }
        for key, model in DETAIL_MODELS.items()
    ]


def _field_spec(name: str, info: Any) -> dict[str, Any]:
    kind, options = _field_kind(info.annotation)
    zh, en = FIELD_LABELS.get(name, (name, name))
    spec: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "label": {"zh": zh, "en": en},
        "required": info.is_required(),
        "nullable": _is_optional(info.annotation),
    }
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            spec["min"] = meta.ge
        elif isinstance(meta, annotated_types.Le):
            spec["max"] = meta.le
        elif isinstance(meta, annotated_types.MaxLen):
            spec["max_length"] = meta.max_length
    if options:
        spec["options"] = [
            {"value": v, "label": dict(zip(("zh", "en"), VALUE_LABELS.get(v, (v, v)), strict=True))}
            for v in options
        ]
    return spec


def _field_kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    """The kind of a (possibly optional) field annotation, and a Literal's values."""
    inner = _strip_optional(annotation)
    if typing.get_origin(inner) is Literal:
        return "enum", tuple(get_args(inner))
    return {bool: "bool", int: "int", float: "float"}.get(inner, "text"), ()


def _is_optional(annotation: Any) -> bool:
    is_union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    return is_union and type(None) in get_args(annotation)


def _strip_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation
