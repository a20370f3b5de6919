import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from alerts.matchers import Matcher, MatchOp
from alerts.model import Alert, AlertState, Evidence, Severity
from alerts.reasons import SuppressReason
from alerts.silence import Silence, Silencer
from tests.alerts.helpers import HOUR, NIGHT

LABELS = {"severity": "critical", "township": "白塔镇", "category": "firearm"}


@pytest.mark.parametrize("text, matches", [
    ('severity="critical"', True),
    ('severity="high"', False),
    ('severity!="high"', True),
    ('severity!="critical"', False),
    ('severity=~"critical|high"', True),
    ('severity=~"crit"', False),  # fully anchored
    ('severity!~"low|medium"', True),
    ('township="白塔镇"', True),
    ('reach=""', True),  # a missing label is the empty string
    ('reach!=""', False),
    ("category=firearm", True),  # unquoted values are allowed
    ('category=~"fire.*"', True),
])
def test_matcher_table(text: str, matches: bool) -> None:
    assert Matcher.parse(text).matches(LABELS) is matches


@pytest.mark.parametrize("text, message", [
    ("severity", "is not a matcher"),
    ('severity=~"("', "invalid regular expression"),
    ('severity="unterminated', "badly quoted"),
    ("9x=1", "is not a matcher"),
])
def test_matcher_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Matcher.parse(text)


def test_matcher_string_form_round_trips() -> None:
    m = Matcher("township", MatchOp.re, '白塔镇|"城关"')
    assert Matcher.parse(str(m)) == m


@given(value=st.text(max_size=8), actual=st.text(max_size=8))
def test_eq_and_ne_are_complements(value: str, actual: str) -> None:
    labels = {"k": actual}
    assert Matcher("k", MatchOp.eq, value).matches(labels) != \
        Matcher("k", MatchOp.ne, value).matches(labels)


def _alert(**labels: str) -> Alert:
    return Alert("a1", "fp", "r", "report", Severity.high, labels, Evidence(), AlertState.open,
                 NIGHT, NIGHT, NIGHT)


def _silence(**kw: object) -> Silence:
    data = {"id": "s1", "matchers": ['township="白塔镇"'], "starts_ms": NIGHT - HOUR,
            "ends_ms": NIGHT + HOUR, "created_by": "张队", "comment": "drill"}
    data.update(kw)
    return Silence.model_validate(data)


@pytest.mark.parametrize("now_offset, labels, muted", [
    (0, {"township": "白塔镇"}, True),
    (0, {"township": "城关镇"}, False),
    (-HOUR - 1, {"township": "白塔镇"}, False),  # before it starts
    (-HOUR, {"township": "白塔镇"}, True),  # starts inclusive
    (HOUR, {"township": "白塔镇"}, False),  # ends exclusive
])
def test_silencer(now_offset: int, labels: dict[str, str], muted: bool) -> None:
    mute = Silencer([_silence()], NIGHT + now_offset).mutes(_alert(**labels))
    assert (mute is not None) is muted
    if muted:
        assert mute.reason is SuppressReason.silenced and mute.by == "s1"


def test_all_matchers_of_a_silence_must_match() -> None:
    s = _silence(matchers=['township="白塔镇"', 'severity=~"low|medium"'])
    assert Silencer([s], NIGHT).mutes(_alert(township="白塔镇", severity="critical")) is None
    assert Silencer([s], NIGHT).mutes(_alert(township="白塔镇", severity="low")) is not None


@pytest.mark.parametrize("change, message", [
    ({"ends_ms": NIGHT - 2 * HOUR}, "ends_ms must be after starts_ms"),
    ({"matchers": []}, "at least 1 item"),
    ({"matchers": ["nonsense"]}, "is not a matcher"),
    ({"comment": ""}, "at least 1 character"),
    ({"why": "x"}, "Extra inputs are not permitted"),
])
def test_silence_validation(change: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _silence(**change)


def test_silence_dumps_matchers_as_strings() -> None:
    dumped = _silence(matchers=[{"name": "severity", "op": "=~", "value": "high|low"}]).to_dict()
    assert dumped["matchers"] == ['severity=~"high|low"']
