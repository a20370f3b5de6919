"""Report photos: at most five JPEG, PNG or WebP images, each checked by its bytes (magic number and
Pillow's verify, never the client's content type), under a size and a pixel limit (decompression
bombs), with the EXIF position and time read and compared with the report's place and time.

A large EXIF mismatch is flagged, never refused: a photo taken an hour later from the road is still
evidence.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PIL import Image, UnidentifiedImageError

MAX_PHOTOS = 5
#: default byte limit per photo (config key ``reports.max_photo_bytes``)
MAX_PHOTO_BYTES = 8 * 1024 * 1024
#: pixel limit per photo: 50 MP is above any phone camera, far below a decompression bomb
MAX_PHOTO_PIXELS = 50_000_000
MISMATCH_DISTANCE_M = 1000.0
MISMATCH_HOURS = 6.0

_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_EARTH_RADIUS_M = 6_371_008.8
_DECLARED_PIXELS = re.compile(r"\((\d+) pixels\)")  # in Pillow's DecompressionBombError text


class PhotoProblem(ValueError):
    """A photo that cannot be accepted: which one (0-based) and why."""

    def __init__(self, index: int, reason: str, kind: str = "bad_photo") -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class PhotoUpload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class CheckedPhoto:
    """A photo that passed every check, with what its EXIF says."""

    n: int
    filename: str
    content_type: str
    data: bytes
    sha256: str
    width_px: int
    height_px: int
    exif_lon: float | None
    exif_lat: float | None
    exif_time_ms: int | None

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def check_photos(
    uploads: list[PhotoUpload],
    *,
    max_bytes: int = MAX_PHOTO_BYTES,
    max_pixels: int = MAX_PHOTO_PIXELS,
    timezone_name: str = "Asia/Shanghai",
) -> list[CheckedPhoto]:
    """Check every upload (in order); raise PhotoProblem for the first bad one."""
    if len(uploads) > MAX_PHOTOS:
        raise PhotoProblem(
            MAX_PHOTOS, f"at most {MAX_PHOTOS} photos per report, got {len(uploads)}", "too_many"
        )
    return [
        check_photo(u, i, max_bytes=max_bytes, max_pixels=max_pixels, timezone_name=timezone_name)
        for i, u in enumerate(uploads)
    ]


def check_photo(
    upload: PhotoUpload,
    index: int,
    *,
    max_bytes: int = MAX_PHOTO_BYTES,
    max_pixels: int = MAX_PHOTO_PIXELS,
    timezone_name: str = "Asia/Shanghai",
) -> CheckedPhoto:
    """One photo: size, type by magic bytes, pixel count, Pillow verify, then its EXIF."""
    data = upload.data
    if not data:
        raise PhotoProblem(index, "the file is empty", "empty")
    if len(data) > max_bytes:
        raise PhotoProblem(index, f"{len(data)} bytes is over the limit of {max_bytes} bytes", "too_large")
    content_type = sniff_type(data)
    if content_type is None:
        raise PhotoProblem(index, "not a JPEG, PNG or WebP image (checked by its content)", "not_an_image")
    width, height = _verify(data, index, content_type, max_pixels)
    lon, lat, time_ms = read_exif(data, timezone_name)
    return CheckedPhoto(
        n=index + 1,
        filename=upload.filename[:200],
        content_type=content_type,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        width_px=width,
        height_px=height,
        exif_lon=lon,
        exif_lat=lat,
        exif_time_ms=time_ms,
    )


def sniff_type(data: bytes) -> str | None:
    """The image type by magic bytes: image/jpeg, image/png, image/webp, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _verify(data: bytes, index: int, content_type: str, max_pixels: int) -> tuple[int, int]:
    """Open lazily, check the pixel count before decoding anything, then Pillow's verify."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if _FORMATS.get(img.format or "") != content_type:
                    raise PhotoProblem(
                        index, f"the content is {img.format}, not {content_type}", "not_an_image"
                    )
                if width * height > max_pixels:
                    raise PhotoProblem(
                        index,
                        f"{width}×{height} pixels is over the limit of {max_pixels} pixels",
                        "too_many_pixels",
                    )
                img.verify()
        except PhotoProblem:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            declared = _DECLARED_PIXELS.search(str(exc))
            size = f"{int(declared.group(1))} pixels" if declared else "too many pixels"
            raise PhotoProblem(index, f"the image declares {size}, over the limit of {max_pixels} pixels "
                                      "(a decompression bomb?)", "too_many_pixels") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise PhotoProblem(index, f"not a readable image: {exc}", "not_an_image") from None
    return int(width), int(height)


def read_exif(data: bytes, timezone_name: str) -> tuple[float | None, float | None, int | None]:
    """EXIF GPS position (WGS-84) and the time taken (UTC ms); None for whatever is missing or bad.

    Time: DateTimeOriginal with its OffsetTimeOriginal, else the GPS (UTC) stamp, else
    DateTimeOriginal or DateTime read as local time in ``timezone_name``.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format == "PNG" and "exif" not in img.info:
                return None, None, None  # else Pillow decodes every pixel looking for a later eXIf chunk
            exif = img.getexif()
            gps = dict(exif.get_ifd(_GPS_IFD))
            sub = dict(exif.get_ifd(_EXIF_IFD))
            base_time = exif.get(_DATETIME)
    except Exception:
        return None, None, None
    lon, lat = _gps_position(gps)
    return lon, lat, _taken_ms(sub, gps, base_time, timezone_name)


def _gps_position(gps: dict) -> tuple[float | None, float | None]:
    try:
        lat = _dms(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lon = _dms(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None, None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    if lat == 0 and lon == 0:
        return None, None
    return lon, lat


def _dms(value: object) -> float:
    parts = [float(v) for v in value]  # type: ignore[attr-defined]
    degrees, minutes, seconds = [*parts, 0.0, 0.0][:3]
    return degrees + minutes / 60 + seconds / 3600


def _taken_ms(sub: dict, gps: dict, base_time: object, timezone_name: str) -> int | None:
    original = _exif_datetime(sub.get(_DATETIME_ORIGINAL))
    offset = _exif_offset(sub.get(_OFFSET_TIME_ORIGINAL))
    if original is not None and offset is not None:
        return _ms(original.replace(tzinfo=offset))
    gps_time = _gps_datetime(gps)
    if gps_time is not None:
        return _ms(gps_time)
    local = original or _exif_datetime(base_time)
    if local is not None:
        return _ms(local.replace(tzinfo=ZoneInfo(timezone_name)))
    return None


def _exif_datetime(value: object) -> datetime | None:
    text = str(value).strip().rstrip("\x00") if value is not None else ""
    try:
        return datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _exif_offset(value: object) -> timezone | None:
    text = str(value).strip().rstrip("\x00") if value is not None else ""
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        minutes = int(text[1:3]) * 60 + int(text[4:6])
    except ValueError:
        return None
    return timezone(timedelta(minutes=minutes if text[0] == "+" else -minutes))


def _gps_datetime(gps: dict) -> datetime | None:
    try:
        day = datetime.strptime(str(gps[29]).strip().rstrip("\x00"), "%Y:%m:%d")
        h, m, s = (float(v) for v in gps[7])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
        return None
    return day.replace(tzinfo=UTC) + timedelta(hours=h, minutes=m, seconds=s)


def _ms(moment: datetime) -> int | None:
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        return None


def mismatch_flags(
    photo: CheckedPhoto, *, lon: float, lat: float, observed_ms: int, uncertainty_m: float = 0.0
) -> list[dict[str, object]]:
    """Flags for an EXIF position over 1 km (plus the place's uncertainty, for a place name) or an
    EXIF time over 6 h from the stated place and time."""
    flags: list[dict[str, object]] = []
    if photo.exif_lon is not None and photo.exif_lat is not None:
        distance_m = haversine_m(lon, lat, photo.exif_lon, photo.exif_lat)
        if distance_m > MISMATCH_DISTANCE_M + uncertainty_m:
            flags.append(
                {
                    "kind": "exif_position_mismatch",
                    "photo": photo.n,
                    "value": round(distance_m, 1),
                    "msg": f"photo {photo.n} was taken {distance_m / 1000:.1f} km from the reported place",
                }
            )
    if photo.exif_time_ms is not None:
        hours = abs(photo.exif_time_ms - observed_ms) / 3_600_000
        if hours > MISMATCH_HOURS:
            flags.append(
                {
                    "kind": "exif_time_mismatch",
                    "photo": photo.n,
                    "value": round(hours, 2),
                    "msg": f"photo {photo.n} was taken {hours:.1f} h from the reported time",
                }
            )
    return flags


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
