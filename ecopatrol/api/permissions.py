"""Who may call which route: one rule per route, read from its dependencies or declared here.

Most routes say whom they admit with a dependency: ``require(*roles)`` (``Commander``, ``Reader``,
``FixSender``, …) keeps its roles as ``allowed_roles``, ``current_principal`` alone admits any valid
token, ``browser_commander`` admits a commander by header, cookie or ``?token=``. ``route_rules(app)``
reads those from each route's dependency tree. Every other route is declared in ``DECLARED`` by
method and path, with the reason: the deliberately public routes (health, the report form and its
submission, the tracking page, static assets, the API documentation) and the routes authenticated
another way (device keys on the phone protocols, sign-in forms, the review page's cookie, the live
stream's ``?token=``). A route with neither, or with both, has no rule: the permission test
(``tests/ecopatrol/test_permissions.py``) fails naming it, so no endpoint ships without saying who
may call it.

Scope (which squad's alerts, which organisation's reports, which unit's fixes) is checked by the
routes themselves once the role is admitted; this table is about roles only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from ecopatrol.api.deps import current_principal
from ecopatrol.api.routes.maps import browser_commander
from ecopatrol.store.tokens_repo import ROLES

#: every kind of caller: the token roles, and ``public`` (no credential at all)
CALLERS: tuple[str, ...] = (*ROLES, "public")


class Scheme(StrEnum):
    """How a route learns who calls it."""

    bearer = "bearer"  # Authorization: Bearer <token>
    browser = "browser"  # bearer, the access_token cookie, or ?token= (pages, iframes, downloads)
    stream = "stream"  # bearer or ?token= (EventSource cannot set headers)
    device_key = "device_key"  # phone protocols: a registered device id, its HTTP Basic key if it has one
    sign_in = "sign_in"  # a credential in the body: a phone code, or a token typed into a form
    public = "public"  # nobody needs to be known


@dataclass(frozen=True)
class Rule:
    scheme: Scheme
    admits: frozenset[str]
    why: str = ""

    def admitted(self, caller: str) -> bool:
        return self.scheme is Scheme.public or caller in self.admits


@dataclass(frozen=True)
class RouteRule:
    """One method of one route, with its rule (``None`` with ``problem`` when it has none)."""

    method: str
    path: str
    name: str
    rule: Rule | None
    problem: str = ""

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _public(why: str) -> Rule:
    return Rule(Scheme.public, frozenset(CALLERS), why)


def _rule(scheme: Scheme, roles: Iterable[str], why: str) -> Rule:
    return Rule(scheme, frozenset({"commander", *roles}) if scheme is not Scheme.device_key
                else frozenset(roles), why)


#: routes whose rule is not in their dependencies, by (method, path); HEAD is looked up as GET
DECLARED: dict[tuple[str, str], Rule] = {
    # deliberately public
    ("GET", "/healthz"): _public("liveness for load balancers and monitors; says only 'ok' and the backend"),
    ("GET", "/"): _public("the landing page: links to the pages"),
    ("GET", "/report"): _public("the public report form"),
    ("POST", "/api/v1/public/reports"): _public("the public form's submission; rate limited per address "
                                                "(reports.public_burst, reports.public_per_minute)"),
    ("POST", "/api/v1/reports/check"): _public("the form's dry run: validates and places, stores nothing"),
    ("GET", "/r/{code}"): _public("a report's status for whoever holds its tracking code"),
    ("GET", "/r/{code}/qr.svg"): _public("the QR code of a tracking page"),
    ("GET", "/api/v1/layers/{kind}.geojson"): _public("the county's townships, reaches and zones for the "
                                                      "form's map"),
    ("GET", "/m"): _public("the phone page's shell; everything on it needs a sign-in"),
    ("POST", "/review/logout"): _public("forgets the review page's cookie"),
    ("GET", "/static"): _public("self-hosted CSS, JavaScript and map assets"),
    ("GET", "/openapi.json"): _public("the API description (no data)"),
    ("GET", "/docs"): _public("the API documentation"),
    ("GET", "/docs/oauth2-redirect"): _public("the API documentation"),
    ("GET", "/redoc"): _public("the API documentation"),
    # authenticated another way
    ("POST", "/ingest/osmand"): _rule(Scheme.device_key, ["device"],
                                      "Traccar Client / OsmAnd: a registered device id (the app sends no "
                                      "secret); a device registered with a key is refused here"),
    ("POST", "/ingest/owntracks"): _rule(Scheme.device_key, ["device"],
                                         "OwnTracks: a registered device id, and its key as the HTTP "
                                         "Basic password when it has one"),
    ("POST", "/m/login"): _rule(Scheme.sign_in, ["squad"],
                                "a one-time code a commander issued to a squad member, or a squad or "
                                "commander token"),
    ("POST", "/review/login"): _rule(Scheme.sign_in, [], "a commander token typed into the sign-in form"),
    ("GET", "/review"): _rule(Scheme.browser, [],
                              "commanders by header, cookie or ?token=; anyone else gets the sign-in form "
                              "(401)"),
    ("GET", "/api/v1/alerts/stream"): _rule(Scheme.stream, ["squad"],
                                            "bearer or ?token=; a squad receives its own alerts only"),
}

#: dependencies that decide who is admitted, besides ``require(...)`` (read from ``allowed_roles``)
DEPENDENCY_RULES: dict[Callable[..., Any], Rule] = {
    current_principal: Rule(Scheme.bearer, frozenset(ROLES), "any valid token"),
    browser_commander: Rule(Scheme.browser, frozenset({"commander"}),
                            "a commander: header, cookie or ?token="),
}


def route_rules(app: FastAPI) -> list[RouteRule]:
    """Every method of every route of the app (pages, mounts and documentation included), with its rule."""
    out = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            path, methods, derived = route.path, ["GET", "HEAD"], None
        else:
            path = str(context.path)
            methods = sorted(context.methods or [])
            dependant = getattr(context, "dependant", None)
            derived = dependency_rule(dependant) if dependant is not None else None
        for method in methods or ["*"]:
            declared = DECLARED.get(("GET" if method == "HEAD" else method, path))
            out.append(_combine(method, path, str(context.name or ""), derived, declared))
    return out


def dependency_rule(dependant: Any) -> Rule | None:
    """The rule a route's dependency tree states, or None when it states none."""
    found = []
    for call in _calls(dependant):
        roles = getattr(call, "allowed_roles", None)
        if roles is not None:
            found.append(Rule(Scheme.bearer, frozenset(roles), "require(" + ", ".join(sorted(roles)) + ")"))
        elif call in DEPENDENCY_RULES:
            found.append(DEPENDENCY_RULES[call])
    if not found:
        return None
    # every dependency must pass: the route admits the roles all of them admit
    admits = frozenset.intersection(*(r.admits for r in found))
    scheme = next((r.scheme for r in found if r.scheme is not Scheme.bearer), Scheme.bearer)
    return Rule(scheme, admits, "; ".join(sorted({r.why for r in found})))


def stale_declarations(app: FastAPI) -> list[tuple[str, str]]:
    """Entries of ``DECLARED`` that match no route (a renamed or removed route left behind)."""
    seen = {("GET" if r.method == "HEAD" else r.method, r.path) for r in route_rules(app)}
    return sorted(set(DECLARED) - seen)


def attempt_paths(app: FastAPI) -> frozenset[str]:
    """Paths whose requests are sign-in attempts even without a header (their credential is in the
    body): the sign-in forms and the phone protocols. The failed-authentication brake counts them."""
    return frozenset(r.path for r in route_rules(app)
                     if r.rule is not None and r.rule.scheme in (Scheme.sign_in, Scheme.device_key))


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for sub in getattr(dependant, "dependencies", None) or []:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _combine(method: str, path: str, name: str, derived: Rule | None, declared: Rule | None) -> RouteRule:
    if derived is not None and declared is not None:
        return RouteRule(method, path, name, None, "both declared in permissions.DECLARED and stated by its "
                         "dependencies: keep one")
    rule = derived or declared
    if rule is None:
        return RouteRule(method, path, name, None, "no permission: add a require(...) dependency, or "
                         "declare it in ecopatrol/api/permissions.py DECLARED with the reason")
    return RouteRule(method, path, name, rule)
