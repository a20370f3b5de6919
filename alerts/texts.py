"""Alert texts: Simplified Chinese first, English available. A small catalogue keyed by
message id; parameters that differ by language are given as ``Bi(zh, en)``."""

from __future__ import annotations

from typing import Literal, NamedTuple

from alerts.model import AlertState, Outcome, Overdue, ReportCategory, Severity

Lang = Literal["zh", "en"]


class Bi(NamedTuple):
    zh: str
    en: str

    def __call__(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


CATEGORY: dict[ReportCategory, Bi] = {
    ReportCategory.illegal_fishing: Bi("非法捕捞", "Illegal fishing"),
    ReportCategory.electrofishing: Bi("电鱼", "Electrofishing"),
    ReportCategory.poisoning: Bi("毒鱼/投毒", "Poisoning"),
    ReportCategory.illegal_hunting: Bi("非法狩猎", "Illegal hunting"),
    ReportCategory.snare: Bi("猎套/猎夹", "Snares and traps"),
    ReportCategory.firearm: Bi("枪声/涉枪警情", "Gunshots / firearm"),
    ReportCategory.other: Bi("其他警情", "Other incident"),
}

SEVERITY: dict[Severity, Bi] = {
    Severity.critical: Bi("特急", "Critical"),
    Severity.high: Bi("紧急", "High"),
    Severity.medium: Bi("一般", "Medium"),
    Severity.low: Bi("提示", "Low"),
}

STATE: dict[AlertState, Bi] = {
    AlertState.open: Bi("待接警", "Open"),
    AlertState.acknowledged: Bi("已接警", "Acknowledged"),
    AlertState.en_route: Bi("出警途中", "En route"),
    AlertState.on_scene: Bi("已到场", "On scene"),
    AlertState.resolved: Bi("已处置", "Resolved"),
}

OUTCOME: dict[Outcome, Bi] = {
    Outcome.confirmed: Bi("查实", "Confirmed"),
    Outcome.not_found: Bi("未发现", "Not found"),
    Outcome.false_report: Bi("虚假报告", "False report"),
}

OVERDUE: dict[Overdue, Bi] = {Overdue.yellow: Bi("黄色超时", "Yellow"),
                              Overdue.red: Bi("红色超时", "Red")}

MODE: dict[str, Bi] = {"foot": Bi("徒步", "foot"), "vehicle": Bi("车巡", "vehicle"),
                       "boat": Bi("船巡", "boat")}

MESSAGES: dict[str, Bi] = {
    "report.title": Bi("{category}", "{category}"),
    "report.title_window": Bi("{category}（{window}）", "{category} ({window})"),
    "report.summary": Bi(
        "{place}：{category}，{time} 发现{river}",
        "{place}: {category}, observed {time}{river}",
    ),
    "report.river": Bi("，距河道 {dist_m} 米", ", {dist_m} m from the river"),
    "cluster.title": Bi("{category}聚集预警", "{category} cluster warning"),
    "cluster.summary": Bi(
        "{place}：{hours} 小时内 {radius_m} 米范围有 {n} 起报告",
        "{place}: {n} reports within {radius_m} m in {hours} h",
    ),
    "coverage_gap.title": Bi("巡护空白", "Coverage gap"),
    "coverage_gap.summary": Bi(
        "{place}：{reaches} 段河道、{cells} 个林区网格超过 {hours} 小时未巡护",
        "{place}: {reaches} river reaches and {cells} forest cells unpatrolled for over {hours} h",
    ),
    "silent_unit.title": Bi("巡逻单元失联", "Patrol unit silent"),
    "silent_unit.summary": Bi(
        "{unit}（{mode}）已 {minutes} 分钟无定位",
        "{unit} ({mode}) has sent no position for {minutes} min",
    ),
    "immobile_unit.title": Bi("巡逻单元长时间未移动", "Patrol unit not moving"),
    "immobile_unit.summary": Bi(
        "{unit}（{mode}）已 {minutes} 分钟未移出 {radius_m} 米{remote}",
        "{unit} ({mode}) has not moved beyond {radius_m} m for {minutes} min{remote}",
    ),
    "immobile_unit.remote": Bi("（偏远区域）", " (remote area)"),
    "escalated.title": Bi("【升级】{title}", "[Escalated] {title}"),
    "unknown_place": Bi("未知地点", "unknown place"),
}


def text(key: str, lang: Lang = "zh", **params: object) -> str:
    """The message ``key`` in ``lang`` with ``params`` filled in (``Bi`` params per language)."""
    template = MESSAGES[key](lang)
    values = {k: v(lang) if isinstance(v, Bi) else v for k, v in params.items()}
    return template.format(**values)


def bilingual(key: str, **params: object) -> Bi:
    return Bi(text(key, "zh", **params), text(key, "en", **params))


def place(township: str | None, *parts: str | None) -> Bi:
    """A place label: the township and e.g. the reach id, or "unknown place"."""
    named = [p for p in (township, *parts) if p]
    return Bi(" ".join(named), " ".join(named)) if named else MESSAGES["unknown_place"]
