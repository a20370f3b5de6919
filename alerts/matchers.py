"""Label matchers as in Alertmanager: ``name="v"``, ``name!="v"``, ``name=~"re"``, ``name!~"re"``.

Regular expressions are fully anchored; a missing label matches as the empty string. In config
and API payloads a matcher is either the string form or ``{"name", "op", "value"}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema


class MatchOp(StrEnum):
    eq = "="
    ne = "!="
    re = "=~"
    nre = "!~"


_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if self.op in (MatchOp.re, MatchOp.nre):
            try:
                _compiled(self.value)
            except re.error as e:
                raise ValueError(f"matcher {self.name}: invalid regular expression: {e}") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op is MatchOp.eq:
            return actual == self.value
        if self.op is MatchOp.ne:
            return actual != self.value
        found = _compiled(self.value).fullmatch(actual) is not None
        return found if self.op is MatchOp.re else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op.value}{json.dumps(self.value, ensure_ascii=False)}"

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``'township=~"城关|白塔"'`` → Matcher. Raises ``ValueError`` saying what is wrong."""
        m = _MATCHER.match(text)
        if not m:
            raise ValueError(f"{text!r} is not a matcher like name=\"value\" (ops = != =~ !~)")
        name, op, raw = m.groups()
        if raw.startswith('"'):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                raise ValueError(f"{text!r}: badly quoted value {raw}") from None
            if not isinstance(value, str):
                raise ValueError(f"{text!r}: value must be a string")
        else:
            value = raw
        return cls(name, MatchOp(op), value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _coerce(value: Any) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if isinstance(value, str):
        return Matcher.parse(value)
    if isinstance(value, Mapping):
        extra = set(value) - {"name", "op", "value"}
        if extra:
            raise ValueError(f"unknown matcher keys {sorted(extra)}")
        try:
            return Matcher(str(value["name"]), MatchOp(value.get("op", "=")), str(value["value"]))
        except KeyError as e:
            raise ValueError(f"matcher lacks {e.args[0]!r}") from None
    raise ValueError("a matcher is a string like name=\"value\" or {name, op, value}")


#: A ``Matcher`` field for pydantic models: accepts the string or dict form, dumps as the string.
MatcherField = Annotated[
    Matcher,
    PlainValidator(_coerce),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ['township="城关镇"', 'severity=~"critical|high"']}),
]
