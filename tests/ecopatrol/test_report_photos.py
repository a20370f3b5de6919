"""Photo checks: types by content, size and pixel limits (decompression bombs), EXIF position and time,
mismatch flags. Pure: no store, no server."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pyproj import Geod

from ecopatrol.reports.photos import (
    MAX_PHOTOS,
    PhotoProblem,
    PhotoUpload,
    check_photo,
    check_photos,
    mismatch_flags,
    read_exif,
    sniff_type,
)
from tests.ecopatrol.helpers_reports import image_bytes

GEOD = Geod(ellps="WGS84")
TZ = "Asia/Shanghai"


def _upload(data: bytes, name: str = "p.jpg") -> PhotoUpload:
    return PhotoUpload(filename=name, data=data)


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_each_accepted_format_is_recognised_by_its_bytes(fmt: str, content_type: str) -> None:
    data = image_bytes(fmt, (90, 30))
    photo = check_photo(_upload(data, "named-wrongly.gif"), 0)
    assert photo.content_type == content_type
    assert (photo.width_px, photo.height_px) == (90, 30)
    assert photo.n == 1 and photo.size_bytes == len(data)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"just some text, saved as photo.jpg", "not_an_image"),
        (b"GIF89a" + b"\x00" * 40, "not_an_image"),
        (b"%PDF-1.4 not an image", "not_an_image"),
        (b"\xff\xd8\xff\xe0" + b"garbage" * 10, "not_an_image"),  # JPEG magic, broken body
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "not_an_image"),  # PNG magic, no chunks
        (b"RIFF\x10\x00\x00\x00WEBPVP8 nonsense", "not_an_image"),
    ],
)
def test_non_images_and_broken_images_are_refused(data: bytes, kind: str) -> None:
    with pytest.raises(PhotoProblem) as err:
        check_photo(_upload(data), 2)
    assert err.value.kind == kind
    assert err.value.index == 2
    assert err.value.reason


def test_a_png_with_jpeg_magic_is_refused() -> None:
    png = image_bytes("PNG")
    with pytest.raises(PhotoProblem) as err:
        check_photo(_upload(b"\xff\xd8\xff" + png[3:]), 0)
    assert err.value.kind == "not_an_image"


def test_size_limit_counts_bytes() -> None:
    data = image_bytes("PNG", (200, 200))
    assert check_photo(_upload(data), 0, max_bytes=len(data)).size_bytes == len(data)
    with pytest.raises(PhotoProblem) as err:
        check_photo(_upload(data), 0, max_bytes=len(data) - 1)
    assert err.value.kind == "too_large"
    assert str(len(data) - 1) in err.value.reason


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb's header)."""
    raw = bytearray(image_bytes("PNG", (1, 1)))
    ihdr = 8  # signature length; the IHDR chunk follows: length, type, data (13 bytes), crc
    data = struct.pack(">II", width, height) + bytes(raw[ihdr + 16 : ihdr + 21])
    raw[ihdr + 8 : ihdr + 21] = data
    raw[ihdr + 21 : ihdr + 25] = struct.pack(">I", zlib.crc32(b"IHDR" + data) & 0xFFFFFFFF)
    return bytes(raw)


@pytest.mark.parametrize(("width", "height"), [(10_000, 10_000), (40_000, 40_000)])
def test_decompression_bombs_are_refused_before_decoding(width: int, height: int) -> None:
    with pytest.raises(PhotoProblem) as err:
        check_photo(_upload(_png_claiming(width, height)), 0)
    assert err.value.kind == "too_many_pixels"


def test_pixel_limit_is_configurable() -> None:
    data = image_bytes("JPEG", (100, 100))
    check_photo(_upload(data), 0, max_pixels=10_000)
    with pytest.raises(PhotoProblem) as err:
        check_photo(_upload(data), 0, max_pixels=9_999)
    assert err.value.kind == "too_many_pixels"


def test_at_most_five_photos() -> None:
    data = image_bytes()
    assert len(check_photos([_upload(data)] * MAX_PHOTOS)) == MAX_PHOTOS
    with pytest.raises(PhotoProblem) as err:
        check_photos([_upload(data)] * (MAX_PHOTOS + 1))
    assert err.value.kind == "too_many"


def test_the_first_bad_photo_is_named_by_position() -> None:
    good = image_bytes()
    with pytest.raises(PhotoProblem) as err:
        check_photos([_upload(good), _upload(good), _upload(b"nope")])
    assert err.value.index == 2


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
@pytest.mark.parametrize(("lon", "lat"), [(120.712345, 28.801234), (-73.985, 40.748), (151.2093, -33.8688)])
def test_exif_gps_position_is_read_with_its_hemisphere(fmt: str, lon: float, lat: float) -> None:
    data = image_bytes(fmt, gps=(lon, lat))
    got_lon, got_lat, _ = read_exif(data, TZ)
    assert got_lon == pytest.approx(lon, abs=1e-6)
    assert got_lat == pytest.approx(lat, abs=1e-6)


def test_exif_time_with_its_offset_is_read_as_that_instant() -> None:
    taken = datetime(2025, 11, 20, 6, 15, 30, tzinfo=timezone(timedelta(hours=-5)))
    _, _, time_ms = read_exif(image_bytes(taken=taken), TZ)
    assert time_ms == int(taken.timestamp() * 1000)


def test_exif_time_without_offset_is_local_time_of_the_deployment() -> None:
    img = Image.new("RGB", (8, 8))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2025:11:20 09:00:00"
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", exif=exif)
    _, _, time_ms = read_exif(buffer.getvalue(), TZ)
    assert time_ms == int(datetime(2025, 11, 20, 1, 0, tzinfo=UTC).timestamp() * 1000)


def test_gps_timestamp_is_utc() -> None:
    img = Image.new("RGB", (8, 8))
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[29] = "2025:11:19"
    gps[7] = (23.0, 5.0, 10.0)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", exif=exif)
    _, _, time_ms = read_exif(buffer.getvalue(), TZ)
    assert time_ms == int(datetime(2025, 11, 19, 23, 5, 10, tzinfo=UTC).timestamp() * 1000)


def test_no_exif_gives_nothing() -> None:
    assert read_exif(image_bytes("PNG"), TZ) == (None, None, None)


def _photo_at(lon: float, lat: float, taken: datetime):  # type: ignore[no-untyped-def]
    return check_photo(_upload(image_bytes(gps=(lon, lat), taken=taken)), 0)


def test_position_mismatch_over_1_km_is_flagged_with_the_distance() -> None:
    lon, lat = 120.70, 28.80
    taken = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)
    far_lon, far_lat, _ = GEOD.fwd(lon, lat, 45, 1500)
    near_lon, near_lat, _ = GEOD.fwd(lon, lat, 45, 800)
    observed_ms = int(taken.timestamp() * 1000)
    flags = mismatch_flags(_photo_at(far_lon, far_lat, taken), lon=lon, lat=lat, observed_ms=observed_ms)
    assert [f["kind"] for f in flags] == ["exif_position_mismatch"]
    assert flags[0]["value"] == pytest.approx(1500, abs=5)
    assert (
        mismatch_flags(_photo_at(near_lon, near_lat, taken), lon=lon, lat=lat, observed_ms=observed_ms) == []
    )
    # a place given by name is uncertain: the allowance grows with it
    assert (
        mismatch_flags(
            _photo_at(far_lon, far_lat, taken), lon=lon, lat=lat, observed_ms=observed_ms, uncertainty_m=600
        )
        == []
    )


def test_time_mismatch_over_6_h_is_flagged() -> None:
    lon, lat = 120.70, 28.80
    taken = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)
    photo = _photo_at(lon, lat, taken)
    seven_h_later = int((taken + timedelta(hours=7)).timestamp() * 1000)
    five_h_earlier = int((taken - timedelta(hours=5)).timestamp() * 1000)
    flags = mismatch_flags(photo, lon=lon, lat=lat, observed_ms=seven_h_later)
    assert [f["kind"] for f in flags] == ["exif_time_mismatch"]
    assert flags[0]["value"] == pytest.approx(7.0)
    assert mismatch_flags(photo, lon=lon, lat=lat, observed_ms=five_h_earlier) == []


def test_sniffing_knows_only_the_three_formats() -> None:
    assert sniff_type(image_bytes("JPEG")) == "image/jpeg"
    assert sniff_type(image_bytes("PNG")) == "image/png"
    assert sniff_type(image_bytes("WEBP")) == "image/webp"
    assert sniff_type(image_bytes("GIF")) is None
    assert sniff_type(image_bytes("BMP")) is None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=500).map(lambda b: b"\xff\xd8\xff" + b),
        st.binary(max_size=500).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
        st.binary(max_size=500).map(lambda b: b"RIFF\x00\x00\x00\x00WEBP" + b),
    )
)
def test_any_bytes_are_accepted_or_refused_with_a_reason(data: bytes) -> None:
    try:
        photo = check_photo(_upload(data), 0)
    except PhotoProblem as problem:
        assert problem.reason
        return
    assert photo.content_type in ("image/jpeg", "image/png", "image/webp")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_corrupt_exif_never_breaks_reading(tail: bytes) -> None:
    data = image_bytes(gps=(120.7, 28.8), taken=datetime(2025, 1, 1, tzinfo=UTC))
    cut = len(data) // 3
    lon, lat, time_ms = read_exif(data[:cut] + tail + data[cut + len(tail) :], TZ)
    assert lon is None or -180 <= lon <= 180
    assert lat is None or -90 <= lat <= 90
    assert time_ms is None or isinstance(time_ms, int)
