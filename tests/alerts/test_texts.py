import string

import pytest

from alerts import texts
from alerts.model import AlertState, Outcome, ReportCategory, Severity


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(texts.MESSAGES))
def test_both_languages_take_the_same_parameters(key: str) -> None:
    zh, en = texts.MESSAGES[key]
    assert _fields(zh) == _fields(en)
    assert zh.strip() or not en.strip()


@pytest.mark.parametrize("table, enum", [
    (texts.CATEGORY, ReportCategory), (texts.SEVERITY, Severity), (texts.STATE, AlertState),
    (texts.OUTCOME, Outcome),
])
def test_every_value_has_a_name_in_both_languages(table: dict, enum: type) -> None:
    assert set(table) == set(enum)
    assert all(name.zh and name.en for name in table.values())


def test_firearm_reads_as_the_field_says_it() -> None:
    assert texts.CATEGORY[ReportCategory.firearm].zh == "枪声/涉枪警情"


def test_text_resolves_bilingual_parameters() -> None:
    category = texts.CATEGORY[ReportCategory.snare]
    zh, en = texts.bilingual("cluster.title", category=category)
    assert zh == "猎套/猎夹聚集预警"
    assert en == "Snares and traps cluster warning"


def test_place_falls_back_to_unknown() -> None:
    assert texts.place(None) == texts.MESSAGES["unknown_place"]
    assert texts.place("白塔镇", None, "R1").zh == "白塔镇 R1"
