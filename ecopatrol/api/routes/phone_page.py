"""The squad phone page ``/m`` and how a member signs in on it.

A commander issues a short one-time code for a person (``POST /api/v1/phone-codes``); the phone
exchanges it at ``POST /m/login`` for a squad token bound to the person, their squad and their
phone's unit (created as a foot unit of the squad when the person carries none), so the page may post
its positions as fixes. A lost phone is cut off by revoking its token
(``POST /api/v1/phone-tokens/{id}/revoke``). A member may also sign in with a token pasted in.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, insert, select, update
from starlette.concurrency import run_in_threadpool

from ecopatrol.alerting import people
from ecopatrol.api.deps import Commander, RuntimeDep, current_principal
from ecopatrol.api.errors import ApiError, not_found, unprocessable
from ecopatrol.api.routes.pages_reports import render_page
from ecopatrol.api.routes.tokens import TokenId, TokenRevoked, revoke_by_id
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from ecopatrol.store.live_schema import phone_codes
from ecopatrol.store.schema import api_tokens
from ecopatrol.store.tokens_repo import Principal, create_token, verify_token

router = APIRouter(tags=["phone"])
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud over a radio
CODE_LENGTH = 8
PHONE_TOKEN_DAYS = 90
_DAY_MS = 86_400_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PhoneCodeCreate(_Strict):
    person_id: str = Field(min_length=1, max_length=64)
    ttl_min: int = Field(30, ge=1, le=7 * 24 * 60, description="the code works once, within this time")


class PhoneCode(BaseModel):
    code: str
    person_id: str
    squad_id: str
    name: str
    expires_ms: int
    login_path: str = Field(description="open this on the phone to sign in at once")


class PhoneLogin(_Strict):
    code: str | None = Field(None, min_length=4, max_length=20)
    token: str | None = Field(None, min_length=8, max_length=200)


class Member(BaseModel):
    id: str
    name: str
    role: str


class PhoneSession(BaseModel):
    token: str | None = Field(None, description="only when signing in with a code (shown once)")
    token_id: int
    person_id: str | None
    name: str
    squad_id: str | None
    squad_name: str | None
    unit_id: str | None
    role: str
    members: list[Member]


class PhoneToken(BaseModel):
    id: int
    name: str
    person_id: str | None
    squad_id: str | None
    unit_id: str | None
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None


def code_digest(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum()).replace("O", "0")


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# ------------------------------------------------------------------------------------- the page


@router.get("/m", response_class=HTMLResponse, include_in_schema=False)
def phone_page(request: Request, runtime: RuntimeDep, lang: Literal["zh", "en"] = "zh") -> HTMLResponse:
    """The squad phone page: Simplified Chinese by default (``?lang=en``), sign-in, live alerts."""
    try:
        bounds: list[float] | None = list(runtime.layer_index().bounds_lonlat)
    except Exception:
        bounds = None
    config = {"bounds": bounds, "deployment": runtime.settings.deployment.name, "lang": lang}
    html = render_page("phone.html", request=request, runtime=runtime, lang=lang, config=config)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


# ------------------------------------------------------------------------------- codes, sign-in


@router.post("/api/v1/phone-codes", status_code=201, tags=["phone"])
def issue_code(body: PhoneCodeCreate, runtime: RuntimeDep, principal: Commander) -> PhoneCode:
    """A short one-time code a member types on the phone page (or opens as ``login_path``)."""
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        person, squad_id = _person_and_squad(conn, body.person_id)
        code = new_code()
        expires = now + body.ttl_min * 60_000
        conn.execute(insert(phone_codes).values(
            code_hash=code_digest(code), person_id=person.id, squad_id=squad_id, unit_id=person.unit_id,
            name=person.name, issued_by=principal.name[:200], created_ms=now, expires_ms=expires))
    return PhoneCode(code=code, person_id=person.id, squad_id=squad_id, name=person.name, expires_ms=expires,
                     login_path=f"/m?code={code}")


@router.post("/m/login", tags=["phone"])
async def login(body: PhoneLogin, runtime: RuntimeDep) -> PhoneSession:
    """Exchange a one-time code for a squad-member token, or check a token; answers who this is."""
    if (body.code is None) == (body.token is None):
        raise unprocessable(["body"], "give either a code or a token")
    if body.code is not None:
        return await run_in_threadpool(_redeem, runtime, body.code)
    return await run_in_threadpool(_check_token, runtime, body.token)


@router.get("/m/me", tags=["phone"])
def me(runtime: RuntimeDep, principal: Annotated[Principal, Depends(current_principal)]) -> PhoneSession:
    """Who the token belongs to, with the squad's members (the page shows who did what)."""
    with runtime.store.read() as conn:
        return _session(conn, principal, token=None)


def _redeem(runtime: Runtime, code: str) -> PhoneSession:
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        row = conn.execute(select(phone_codes).where(phone_codes.c.code_hash == code_digest(code))).first()
        if row is None or row.used_ms is not None or row.expires_ms <= now:
            raise ApiError(401, ["body", "code"], "the code is unknown, used or expired: ask the commander "
                           "for a new one", "unauthorized")
        person, squad_id = _person_and_squad(conn, row.person_id)
        unit_id = _phone_unit(conn, person, squad_id, now)
        token = create_token(conn, role="squad", name=f"phone {person.name}"[:200], now_ms=now,
                             expires_ms=now + PHONE_TOKEN_DAYS * _DAY_MS, unit_id=unit_id,
                             squad_id=squad_id, person_id=person.id)
        conn.execute(update(phone_codes).where(phone_codes.c.code_hash == row.code_hash)
                     .values(used_ms=now))
        principal = verify_token(conn, token, now_ms=now)
        assert principal is not None
        return _session(conn, principal, token=token)


def _check_token(runtime: Runtime, token: str | None) -> PhoneSession:
    with runtime.store.read() as conn:
        principal = verify_token(conn, token or "", now_ms=runtime.now_ms())
        if principal is None:
            raise ApiError(401, ["body", "token"], "the token is unknown, expired or revoked", "unauthorized")
        if principal.role not in ("squad", "commander"):
            raise ApiError(403, ["body", "token"], "the phone page is for squad members and commanders",
                           "forbidden")
        return _session(conn, principal, token=None)


def _person_and_squad(conn: Connection, person_id: str) -> tuple[Any, str]:
    person = people.get_person_row(conn, person_id)
    if person is None:
        raise not_found(["body", "person_id"], f"no person {person_id!r}")
    squad_id = people.memberships(conn).get(person_id)
    if squad_id is None:
        raise unprocessable(["body", "person_id"], f"{person.name} is in no squad: add them to one first")
    return person, squad_id


def _phone_unit(conn: Connection, person: Any, squad_id: str, now_ms: int) -> str:
    """The unit the person's phone reports as: theirs, else a new foot unit; it travels with the squad."""
    unit_id = person.unit_id or f"phone-{person.id}"[:64]
    unit = units_repo.get_unit(conn, unit_id)
    if unit is None:
        units_repo.upsert_unit(conn, unit_id, mode="foot", name=f"{person.name} 手机", now_ms=now_ms)
    if unit is None or unit.squad_id != squad_id:
        units_repo.set_unit_squad(conn, unit_id, squad_id)
    if person.unit_id is None:
        people.update_person(conn, person.id, {"unit_id": unit_id}, now_ms)
    return unit_id


def _session(conn: Connection, principal: Principal, *, token: str | None) -> PhoneSession:
    squad_name, members = None, []
    if principal.squad_id:
        records = people.load_squads(conn, [principal.squad_id])
        if records:
            squad_name = records[0].name
            members = [Member(id=p.id, name=p.name, role=p.role.value) for p in records[0].members]
    name = principal.name
    if principal.person_id:
        person = people.get_person_row(conn, principal.person_id)
        name = person.name if person is not None else name
    return PhoneSession(token=token, token_id=principal.token_id, person_id=principal.person_id, name=name,
                        squad_id=principal.squad_id, squad_name=squad_name, unit_id=principal.unit_id,
                        role=principal.role, members=members)


# ------------------------------------------------------------------------------- lost phones


@router.get("/api/v1/phone-tokens", tags=["phone"])
def phone_tokens(runtime: RuntimeDep, _: Commander) -> list[PhoneToken]:
    """Squad-member tokens (one per signed-in phone), newest first."""
    with runtime.store.read() as conn:
        rows = conn.execute(select(api_tokens).where(api_tokens.c.role == "squad",
                                                     api_tokens.c.person_id.is_not(None))
                            .order_by(api_tokens.c.id.desc())).fetchall()
    return [PhoneToken(id=r.id, name=r.name, person_id=r.person_id, squad_id=r.squad_id, unit_id=r.unit_id,
                       created_ms=r.created_ms, expires_ms=r.expires_ms, revoked_ms=r.revoked_ms)
            for r in rows]


@router.post("/api/v1/phone-tokens/{token_id}/revoke", tags=["phone"])
def revoke_phone(token_id: TokenId, runtime: RuntimeDep, principal: Commander) -> TokenRevoked:
    """Cut off a lost phone: its token stops working at once (the stream too, on its next reconnect).
    The same as ``POST /api/v1/tokens/{token_id}/revoke``."""
    return revoke_by_id(runtime, token_id, principal)
