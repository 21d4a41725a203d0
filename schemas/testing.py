"""Realistic example documents and helpers for tests of any package.

Like Kinto's storage/testing.py: one place that knows what a valid document
looks like, so server, sync and client tests do not each invent their own.
The examples come from the field reports (来凤县, 张富清先锋队, a spring found
in a valley, a fraud attempt foiled on patrol, a monthly haircut for a
paralysed man). Every call returns a fresh deep copy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .ids import new_doc_id
from .registry import DocumentInvalid, validate_document
from .rejection_notice import notice_id

COUNTY = "422827"  # 来凤县
TOWNSHIP = "422827100"  # 翔凤镇
VILLAGE = "422827100201"  # a village of 翔凤镇
GRID = "422827100201003"  # its third grid
STATION = "station:xiangfeng-01"
TEAM = "team:zhangfuqing-xiangfeng"
AUTHOR = "user:zhangsan"
DEVICE = "tablet-xf-07"
T0 = 1724549400000  # 2024-08-25T09:30:00+08:00 in ms

HOUSEHOLD_ID = new_doc_id("household", T0 - 86_400_000 * 30, bytes(range(10)))

_ENVELOPE: dict[str, Any] = {
    "place": GRID,
    "station": STATION,
    "team": TEAM,
    "author": AUTHOR,
    "device": DEVICE,
    "created_at": "2024-08-25T09:30:00+08:00",
    "updated_at": "2024-08-25T18:05:00+08:00",
}


def _envelope(doc_type: str, version: int, seed: int, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": new_doc_id(doc_type, T0 + seed, bytes([seed]) * 10),
        "type": doc_type,
        "schema_version": version,
        **_ENVELOPE,
    }
    doc.update(fields)
    return doc


def _patrol() -> dict[str, Any]:
    return _envelope(
        "patrol",
        2,
        1,
        location={"lat": 29.5135, "lon": 109.4071, "accuracy_m": 12.5},
        participants=["user:zhangsan", "user:lisi"],
        zone="翔凤镇白岩村第三网格（责任区 3）",
        started_at="2024-08-25T14:00:00+08:00",
        ended_at="2024-08-25T17:30:00+08:00",
        track=[
            {"lat": 29.5135, "lon": 109.4071, "at": "2024-08-25T14:00:00+08:00"},
            {"lat": 29.5172, "lon": 109.4102, "at": "2024-08-25T14:20:00+08:00"},
        ],
        incidents=[
            {
                "kind": "fraud",
                "description": "独居老人接到冒充公安的电话，被要求转账，已被骗 1500 元。",
                "action_taken": "陪同老人到派出所报案，联系银行止付，追回 1500 元。",
                "referred_to": "police",
                "resolved": True,
                "reported_at": "2024-08-25T15:02:00+08:00",
                "contact_known_at": "2024-08-25T15:02:40+08:00",
                "reached_at": "2024-08-25T15:04:30+08:00",
                "on_site_at": "2024-08-25T15:11:00+08:00",
            },
            {
                "kind": "safety_hazard",
                "description": "村道旁电线杆倾斜。",
                "resolved": False,
                "referred_to": "township",
            },
        ],
    )


def _water_source() -> dict[str, Any]:
    return _envelope(
        "water_source",
        1,
        2,
        place=VILLAGE,
        location={
            "lat": 29.4921,
            "lon": 109.3856,
            "accuracy_m": 8,
            "altitude_m": 612.5,
            "taken_at": "2024-08-25T11:42:00+08:00",
        },
        kind="spring",
        estimated_flow_l_min=35.5,
        distance_km=9.6,
        terrain="山谷底部，需翻过两道山梁，沿途无车路。",
        quality={
            "observations": "水质清澈，无异味。",
            "tests": [
                {
                    "parameter": "pH",
                    "value": 7.2,
                    "tested_at": "2024-08-26T10:00:00+08:00",
                },
                {"parameter": "浊度", "value": 1.5, "unit": "NTU"},
            ],
        },
        households_served=20,
        people_served=100,
        status="in_use",
        pipe_length_m=320,
        found_on="2024-08-25",
    )


def _home_visit() -> dict[str, Any]:
    return _envelope(
        "home_visit",
        2,
        3,
        household=HOUSEHOLD_ID,
        visited_at="2024-08-25T09:30:00+08:00",
        duration_min=90,
        volunteers=["user:zhangsan", "user:wangfang"],
        vulnerability=["disabled", "elderly_alone"],
        services=["haircut", "cleaning", "temperature"],
        health={"temperature_c": 36.6, "blood_pressure": "135/85"},
        needs=[
            {
                "need_id": "need-1",
                "category": "生活用品",
                "description": "瘫痪在床多年，需要一张防褥疮气垫床。",
                "urgency": "high",
                "status": "open",
            }
        ],
        follow_up={
            "due_on": "2024-09-25",
            "assignee": "user:zhangsan",
            "note": "每月上门理发一次。",
        },
    )


def _household() -> dict[str, Any]:
    return _envelope(
        "household",
        1,
        4,
        _id=HOUSEHOLD_ID,
        household_no="BY-03-017",
        head_of_household="田大爷",
        address="翔凤镇白岩村三组 17 号",
        size=2,
        members=[
            {
                "name": "田大爷",
                "relation": "户主",
                "birth_year": 1948,
                "vulnerability": ["disabled"],
            },
            {
                "name": "田小军",
                "relation": "孙子",
                "birth_year": 2013,
                "vulnerability": ["left_behind_child"],
            },
        ],
        phone="13800000000",
        vulnerability=["disabled", "left_behind_child"],
    )


def _reference(doc_type: str, slug: str, place: str, **fields: Any) -> dict[str, Any]:
    doc = _envelope(doc_type, 1, 5, _id=f"{doc_type}:{slug}", place=place, **fields)
    del doc["station"]
    return doc


def _place() -> dict[str, Any]:
    return _reference(
        "place",
        VILLAGE,
        VILLAGE,
        code=VILLAGE,
        name_zh="白岩村",
        name_en="Baiyan Village",
        level="village",
        parent=TOWNSHIP,
    )


def _team() -> dict[str, Any]:
    return _reference(
        "team",
        "zhangfuqing-xiangfeng",
        TOWNSHIP,
        name="张富清先锋队翔凤分队",
        level="township",
        captain="user:lisi",
        member_count=42,
    )


def _station() -> dict[str, Any]:
    return _reference(
        "station",
        "xiangfeng-01",
        VILLAGE,
        name="白岩村志愿服务站",
        kind="station",
        lead="user:lisi",
        grids=[VILLAGE + "001", VILLAGE + "002", GRID],
    )


def _user() -> dict[str, Any]:
    return _reference(
        "user",
        "zhangsan",
        COUNTY,
        username="zhangsan",
        display_name="张三",
        role="volunteer",
        scope=VILLAGE,
        phone="13900000000",
        active=True,
    )


def _rejection_notice() -> dict[str, Any]:
    about = "home_visit:01J63JF1E30C1G60R30C1G60R3"
    return _reference(
        "rejection_notice",
        notice_id(about).partition(":")[2],
        GRID,
        about=about,
        rev="2-6b21f266ce3a1f1809483fd450343625",
        reasons=["visited_at：缺少时区。 / visited_at: Time zone missing."],
        rejected_at="2024-08-25T18:06:00+08:00",
        pushed_by="zhangsan",
    )


_BUILDERS = {
    "patrol": _patrol,
    "water_source": _water_source,
    "home_visit": _home_visit,
    "household": _household,
    "place": _place,
    "team": _team,
    "station": _station,
    "user": _user,
    "rejection_notice": _rejection_notice,
}


def example(doc_type: str) -> dict[str, Any]:
    """A valid, canonical (validates to itself) current-version document."""
    return copy.deepcopy(_BUILDERS[doc_type]())


def example_v1(doc_type: str) -> dict[str, Any]:
    """A version-1 document as old tablets still write it (patrol, home_visit)."""
    doc = example(doc_type)
    doc["schema_version"] = 1
    if doc_type == "patrol":
        doc["start"] = doc.pop("started_at")
        doc["end"] = doc.pop("ended_at")
        doc["participants"] = "user:zhangsan、lisi"
    elif doc_type == "home_visit":
        doc["visit_time"] = doc.pop("visited_at")
        doc["services"] = "haircut, cleaning，temperature"
    else:
        raise KeyError(doc_type)
    return doc


Path = Sequence[str | int]
DELETE = object()


def with_value(doc: Mapping[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of `doc` with the value at `path` replaced (or removed with DELETE)."""
    out = copy.deepcopy(dict(doc))
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def errors_of(doc: Any) -> dict[Any, Any]:
    """The validation errors of `doc`; AssertionError if it is valid."""
    try:
        validate_document(doc)
    except DocumentInvalid as error:
        return error.errors
    raise AssertionError("document unexpectedly valid")


def errors_at(doc: Any, path: Path) -> list[str]:
    """The messages at `path` in the errors of `doc` (AssertionError if none)."""
    node: Any = errors_of(doc)
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            raise AssertionError(f"no error at {list(path)}: {errors_of(doc)}")
        node = node[key]
    return node


def assert_error(doc: Any, path: Path, zh: str, en: str) -> None:
    """Assert that validating `doc` reports exactly "zh / en" at `path`."""
    messages = errors_at(doc, path)
    expected = f"{zh} / {en}"
    assert expected in messages, f"{expected!r} not in {messages!r}"
