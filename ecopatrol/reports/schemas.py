"""The report API's schema families: ``ReportCreate`` (one variant per category, told apart by
``category``), ``ReportPublic`` (what staff and the sending partner read), ``ReportSummaryPublic``
(list rows), ``ReportStatusPublic`` (what anyone holding the tracking code sees) and small pieces."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel, create_model, field_validator

from ecopatrol.reports.categories import CATEGORY_LABELS, DETAIL_MODELS, Category
from ecopatrol.reports.lifecycle import Status

Datum = Literal["wgs84", "gcj02", "cgcs2000"]
LocationSource = Literal["point", "township", "reach", "river"]
Channel = Literal["api", "public", "csv"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PointGeometry(_Strict):
    """A GeoJSON Point: ``[longitude, latitude]`` (an altitude, if sent, is ignored)."""

    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=3, examples=[[120.73, 28.85]])

    @field_validator("coordinates")
    @classmethod
    def _in_range(cls, value: list[float]) -> list[float]:
        lon, lat = value[0], value[1]
        if not -180 <= lon <= 180:
            raise ValueError(f"longitude {lon} is not within -180..180 (coordinates are [lon, lat])")
        if not -90 <= lat <= 90:
            raise ValueError(f"latitude {lat} is not within -90..90 (coordinates are [lon, lat])")
        return value


class Reporter(_Strict):
    """Who saw it. Optional for the public; partners' organisation comes from their API key."""

    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40, pattern=r"^[0-9+()\- ]{3,40}$")
    org: str | None = Field(None, max_length=200)


class _ReportBase(_Strict):
    observed_at: AwareDatetime = Field(
        description="when it was seen: ISO-8601 with a zone", examples=["2026-11-20T22:40:00+08:00"]
    )
    location: PointGeometry | None = Field(
        None, description="where (omit and give place_name when there is no GPS)"
    )
    datum: Datum = Field(
        "wgs84",
        description="datum of location: phones' GPS give wgs84; Chinese "
        "map apps (AMap, Tencent, Baidu-converted) give gcj02",
    )
    place_name: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="a township, river or reach id, used when there is no location",
    )
    description: str = Field("", max_length=4000)
    reporter: Reporter | None = None


def _variant(category: str) -> type[_ReportBase]:
    details = DETAIL_MODELS[category]
    required = any(f.is_required() for f in details.model_fields.values())
    default: Any = ... if required else Field(default_factory=details)
    name = "".join(part.title() for part in category.split("_")) + "Report"
    model = create_model(
        name,
        __base__=_ReportBase,
        __doc__=f"{CATEGORY_LABELS[category][1]} ({CATEGORY_LABELS[category][0]})",
        category=(Literal[category], ...),
        details=(details, default),
    )  # type: ignore[valid-type]
    return model


REPORT_VARIANTS: dict[str, type[_ReportBase]] = {c: _variant(c) for c in DETAIL_MODELS}
_Variants = Union[tuple(REPORT_VARIANTS.values())]  # type: ignore[valid-type]  # noqa: UP007


class ReportCreate(RootModel[Annotated[_Variants, Field(discriminator="category")]]):  # type: ignore[valid-type]
    """A new report; ``details`` holds the fields of its ``category``."""


ReportIn = _ReportBase  # the type of ``ReportCreate(...).root``, with ``category`` and ``details``


class Placement(BaseModel):
    reach_id: str | None = Field(description="the river reach within 1 km, if any")
    river_name: str | None
    distance_to_river_m: float | None
    cell_id: str | None = Field(description="forest grid cell")
    township: str | None
    zone_ids: list[str] = Field(description="protected / no-fishing zones the place is in")


class PatrolContext(BaseModel):
    patrol_within_1km_24h: bool = Field(description="a patrol passed within 1 km in the 24 h before")
    nearest_patrol_m: float | None = Field(
        description="closest approach of a patrol in those 24 h (fixes up to 1.5 km away are searched)"
    )
    last_patrol_unit_id: str | None
    last_patrol_at: datetime | None


class Flag(BaseModel):
    kind: Literal["exif_position_mismatch", "exif_time_mismatch"]
    photo: int
    msg: str
    value: float = Field(description="the mismatch: metres or hours")


class PhotoPublic(BaseModel):
    n: int
    url: str
    content_type: str
    size_bytes: int
    width_px: int
    height_px: int
    sha256: str
    exif_lon: float | None
    exif_lat: float | None
    exif_time: datetime | None


class Actor(BaseModel):
    role: str
    name: str


class TimelineEntry(BaseModel):
    status: Status
    at: datetime
    actor: Actor
    reason: str | None = None
    note: str | None = None
    squad_id: str | None = None


class CategoryLabel(BaseModel):
    zh: str
    en: str


class ReportSummaryPublic(BaseModel):
    id: int
    tracking_code: str
    category: Category
    category_label: CategoryLabel
    observed_at: datetime
    location: PointGeometry
    location_source: LocationSource
    status: Status
    placement: Placement
    patrol: PatrolContext
    duplicate_of: int | None
    org: str | None
    channel: Channel
    photo_count: int
    flags: list[Flag]
    created_at: datetime


class ReportPublic(ReportSummaryPublic):
    status_url: str
    details: dict[str, Any]
    datum: Datum = Field(description="the datum the location was sent in (stored as WGS-84)")
    place_name: str | None
    location_uncertainty_m: float = Field(description="0 for a point; for a place name, about its size")
    description: str
    reporter: Reporter | None
    assigned_squad_id: str | None
    reject_reason: str | None
    photos: list[PhotoPublic]
    timeline: list[TimelineEntry]
    updated_at: datetime


class ReportList(BaseModel):
    items: list[ReportSummaryPublic]
    total: int
    limit: int
    offset: int


class ReportReceipt(BaseModel):
    """What the public form gets back: the code to follow the report with, nothing else."""

    tracking_code: str
    status: Status
    status_url: str
    qr_svg_url: str
    category: Category
    received_at: datetime


class StatusStep(BaseModel):
    status: Status
    status_label: CategoryLabel
    at: datetime
    by: CategoryLabel = Field(description="who acted, by function only (never a name)")
    reason: str | None = Field(None, description="why it was rejected")


class ReportStatusPublic(BaseModel):
    """The public view of one report: its status and timeline, nothing about people or places."""

    tracking_code: str
    category: Category
    category_label: CategoryLabel
    status: Status
    status_label: CategoryLabel
    received_at: datetime
    timeline: list[StatusStep]


class TransitionRequest(_Strict):
    """Optional body of a status change."""

    reason: str | None = Field(None, max_length=1000, description="required to reject")
    note: str | None = Field(None, max_length=1000, description="internal note (never public)")
    squad_id: str | None = Field(None, max_length=64, description="assign: the squad sent")


class ReportCheck(BaseModel):
    """Where a report would be placed, without storing it."""

    location: PointGeometry
    location_source: LocationSource
    location_uncertainty_m: float
    placement: Placement
