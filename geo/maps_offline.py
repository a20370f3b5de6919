"""Make a folium map's HTML self-contained for an isolated intranet.

folium and its plugins declare their browser assets as ``default_js`` / ``default_css`` lists of
``(name, CDN url)`` on each element class (``folium.elements.JSCSSMixin``), and add them to the page
head when rendered. Here every element of the map gets instance-level empty lists instead, and the
assets it needs are put in the head by name — either as links to the app's self-hosted copies
(``assets="link"``, e.g. ``/static/vendor/leaflet/leaflet.js``) or inlined from the vendor folder
(``assets="inline"``, for a file opened from disk). Assets the map does not need (jQuery, Bootstrap,
glyphicons, awesome-markers, Font Awesome) are dropped. An asset name not in :data:`ASSETS` raises
:class:`OfflineAssetError` rather than silently reaching for a CDN, and the rendered page is checked:
in link mode it holds no ``http(s)://`` URL at all except the allowed tile URL; in either mode it
loads nothing from outside (no external ``src``, ``href``, ``url()`` or ``@import``).
"""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import folium
from branca.element import Element, Figure
from folium.elements import JSCSSMixin

AssetMode = Literal["link", "inline"]

#: folium/plugin asset name → the file under the vendor folder, or None: not needed (dropped).
ASSETS: dict[str, str | None] = {
    "leaflet_css": "leaflet/leaflet.css",
    "leaflet": "leaflet/leaflet.js",
    "markerclustercss": "leaflet.markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "leaflet.markercluster/MarkerCluster.Default.css",
    "markerclusterjs": "leaflet.markercluster/leaflet.markercluster.js",
    "leaflet-heat.js": "leaflet.heat/leaflet-heat.js",
    # folium's defaults the coverage map does not use (no Bootstrap popups, no icon fonts, no jQuery)
    "jquery": None,
    "bootstrap": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers": None,
    "awesome_markers_css": None,
    "awesome_markers_font_css": None,
    "awesome_rotate_css": None,
}

_URL = re.compile(r"""https?://[^\s"'<>()\\]+""", re.IGNORECASE)
_RESOURCE = re.compile(
    r"""(?:<script[^>]*\ssrc\s*=\s*["']?|<link[^>]*\shref\s*=\s*["']?|<img[^>]*\ssrc\s*=\s*["']?"""
    r"""|url\(\s*["']?|@import\s+["']?)(?P<url>(?:https?:)?//[^"')\s>]+)""",
    re.IGNORECASE,
)
_CSS_URL = re.compile(r"""url\(\s*(["']?)(?P<path>[^"')]+)\1\s*\)""")


class OfflineAssetError(ValueError):
    """The map needs an asset with no self-hosted copy, or the page still points outside."""


def self_contained_html(
    m: folium.Map,
    *,
    assets: AssetMode = "link",
    base_url: str = "/static/vendor",
    vendor_dir: Path | None = None,
    allowed_urls: Sequence[str] = (),
) -> str:
    """The map's full HTML page with every CDN asset replaced by a self-hosted link or inlined.

    ``allowed_urls``: URL prefixes that may stay (a configured basemap tile URL).
    """
    if assets == "inline" and vendor_dir is None:
        raise ValueError("assets='inline' needs vendor_dir")
    needed = _take_assets(m)
    figure = m.get_root()
    assert isinstance(figure, Figure)
    for name, rel_path, kind in needed:
        figure.header.add_child(_asset_element(rel_path, kind, assets, base_url, vendor_dir), name=name)
    page = figure.render()
    _check(page, assets, allowed_urls)
    return page


def external_urls(page: str, *, allowed: Sequence[str] = ()) -> list[str]:
    """Every ``http(s)://`` URL in the text, except those starting with an allowed prefix."""
    prefixes = [_prefix(a) for a in allowed if a]
    return [u for u in _URL.findall(page) if not any(u.startswith(p) for p in prefixes)]


def external_resources(page: str, *, allowed: Sequence[str] = ()) -> list[str]:
    """URLs the page would load from outside: ``<script src>``, ``<link href>``, ``<img src>``,
    CSS ``url()`` and ``@import`` pointing at ``http(s)://`` or ``//``."""
    prefixes = [_prefix(a) for a in allowed if a]
    found = [m.group("url") for m in _RESOURCE.finditer(page)]
    return [u for u in found if not any(u.startswith(p) for p in prefixes)]


# ----------------------------------------------------------------------------------------------


def _elements(m: folium.Map) -> Iterator[object]:
    stack: list[object] = [m]
    while stack:
        element = stack.pop(0)
        yield element
        stack[0:0] = list(getattr(element, "_children", {}).values())


def _take_assets(m: folium.Map) -> list[tuple[str, str, str]]:
    """The (name, vendor path, js|css) assets the map's elements declare, in order (CSS first per
    element), each once; the elements' own lists emptied so folium adds no CDN link."""
    needed: dict[str, tuple[str, str, str]] = {}
    for element in _elements(m):
        if not isinstance(element, JSCSSMixin):
            continue
        for kind, declared in (("css", element.default_css), ("js", element.default_js)):
            for name, url in declared:
                if name not in ASSETS:
                    raise OfflineAssetError(
                        f"{type(element).__name__} needs {name!r} ({url}) and there is "
                        f"no self-hosted copy: vendor it and add it to ASSETS"
                    )
                rel_path = ASSETS[name]
                if rel_path is not None and name not in needed:
                    needed[name] = (name, rel_path, kind)
        element.default_js = []  # instance attributes: the class lists stay untouched
        element.default_css = []
    return list(needed.values())


def _asset_element(
    rel_path: str, kind: str, mode: AssetMode, base_url: str, vendor_dir: Path | None
) -> Element:
    if mode == "link":
        url = f"{base_url.rstrip('/')}/{rel_path}"
        tag = f'<script src="{url}"></script>' if kind == "js" else f'<link rel="stylesheet" href="{url}"/>'
        return verbatim(tag)
    assert vendor_dir is not None
    path = vendor_dir / rel_path
    if not path.is_file():
        raise OfflineAssetError(f"{path}: vendored asset missing")
    text = path.read_text(encoding="utf-8")
    if kind == "js":
        return verbatim("<script>" + text.replace("</script", "<\\/script") + "</script>")
    css = _inline_css_urls(text, path.parent).replace("</style", "<\\/style")
    return verbatim(f"<style>{css}</style>")


def verbatim(markup: str) -> Element:
    """An element that outputs ``markup`` as it is (``Element(markup)`` would parse it as Jinja)."""
    element = Element("{{ this.markup }}")
    element.markup = markup  # type: ignore[attr-defined]
    return element


def _inline_css_urls(css: str, folder: Path) -> str:
    """Relative ``url(...)`` references (Leaflet's control images) as ``data:`` URIs."""

    def _replace(match: re.Match[str]) -> str:
        ref = match.group("path").strip()
        if ref.startswith(("data:", "#")) or "//" in ref:
            return match.group(0)
        target = (folder / ref).resolve()
        if not target.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return f"url(data:{mime};base64,{base64.b64encode(target.read_bytes()).decode('ascii')})"

    return _CSS_URL.sub(_replace, css)


def _prefix(url_template: str) -> str:
    """A tile URL template up to its first placeholder (``https://t{s}.example/{z}/…`` → ``https://t``)."""
    return url_template.split("{", 1)[0]


def _check(page: str, mode: AssetMode, allowed: Sequence[str]) -> None:
    loads = external_resources(page, allowed=allowed)
    if loads:
        raise OfflineAssetError(f"the page still loads from outside: {', '.join(sorted(set(loads))[:5])}")
    if mode == "link":
        urls = external_urls(page, allowed=allowed)
        if urls:
            raise OfflineAssetError(f"the page still holds external URLs: {', '.join(sorted(set(urls))[:5])}")
