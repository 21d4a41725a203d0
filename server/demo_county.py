"""A realistic demo county: 来凤县's eight townships, villages, grids, stations,
teams, volunteers and their records, every document valid under `schemas/`.

Deterministic: the same seed gives the same documents on every machine (one
`random.Random`, no wall clock), so demos and benchmarks compare like with
like. Village names and codes below the township level are illustrative.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from schemas import CURRENT_VERSIONS, new_doc_id

COUNTY = ("422827", "来凤县", "Laifeng County")
CST = timezone(timedelta(hours=8))  # tablets stamp records in China Standard Time
PERIOD_START = datetime(2024, 3, 1, 8, 0, tzinfo=CST)
PERIOD_DAYS = 240

# (township code suffix, name, villages); the townships are 来凤县's own.
TOWNSHIPS: list[tuple[str, str, list[str]]] = [
    ("100", "翔凤镇", ["白岩村", "沙坝村", "胡家坪村", "老虎洞村", "桐子园村", "东门社区"]),
    ("101", "百福司镇", ["舍米湖村", "兴安村", "河东村", "高洞村", "新街村"]),
    ("102", "大河镇", ["五台村", "冷水溪村", "独石塘村", "黄柏村", "大河社区"]),
    ("103", "绿水镇", ["老寨村", "田家寨村", "龙嘴村", "黄家院子村"]),
    ("104", "旧司镇", ["板沙界村", "大岩板村", "马家坪村", "腊壁司村"]),
    ("105", "革勒车镇", ["鼓架山村", "桐麻园村", "杉木坪村", "车坝村"]),
    ("200", "漫水乡", ["漫水村", "油房坳村", "鱼塘村", "兴隆坳村"]),
    ("201", "三胡乡", ["石桥村", "黄柏园村", "苏家堡村", "三堡岭村"]),
]
GRIDS_PER_VILLAGE = 3

SURNAMES = "田向彭张王李刘陈杨黄覃冉姚滕龚邓胡谭吴周"
GIVEN = [
    "大爷",
    "奶奶",
    "秀英",
    "桂兰",
    "建国",
    "国强",
    "玉珍",
    "德明",
    "春花",
    "志刚",
    "小军",
    "红梅",
]
SERVICE_NOTES = {
    "haircut": "为瘫痪在床的老人上门理发、修剪指甲，老人说每个月就盼着这一天。",
    "cleaning": "帮助打扫房间、清洗被褥，整理灶屋和院坝，清理屋后排水沟。",
    "medicine": "代购降压药和胃药，按医嘱分好一周的药量并写在药盒上。",
    "health_check": "联系村卫生室医生一同入户，做了简单体检并登记健康档案。",
    "temperature": "测量体温和血压，提醒按时服药、注意保暖防滑。",
    "policy_explanation": "讲解城乡居民医保缴费、高龄津贴和残疾人两项补贴的申请办法。",
    "legal_aid": "帮助梳理赡养纠纷的经过，约好法律明白人下周来调解。",
    "paperwork": "帮忙填写临时救助申请表，复印身份证和户口簿，带回村委会。",
}
NEEDS = [
    ("生活用品", "瘫痪在床多年，需要一张防褥疮气垫床。", "high"),
    ("医疗", "老人视力下降，希望有人陪同去县医院检查白内障。", "normal"),
    ("微心愿", "留守儿童想要一套初中数学辅导书和一个新书包。", "low"),
    ("住房", "屋顶瓦片被大风掀开，下雨漏水，需要修补。", "urgent"),
    ("饮水", "家里水管冬天冻裂，需要更换约二十米水管。", "high"),
]
INCIDENTS = [
    (
        "fraud",
        "独居老人接到冒充公安的电话，被要求转账。",
        "陪同老人到派出所报案，联系银行止付。",
        "police",
    ),
    (
        "safety_hazard",
        "村道旁电线杆倾斜，线路离地面不足两米。",
        "设置警示标志，报告乡镇供电所。",
        "township",
    ),
    ("fire", "农户在山边焚烧秸秆，火势有蔓延到林地的危险。", "劝导灭火，讲解森林防火规定。", None),
    ("dispute", "两户村民因宅基地边界发生争吵。", "现场劝解，约定由村调委会调解。", "township"),
    ("flood", "连日降雨，河堤有一处渗水。", "拉警戒线，通知村干部和水利站。", "township"),
    ("sanitation", "河道里堆积生活垃圾。", "组织队员清理，张贴爱护河道倡议。", None),
]


@dataclass(frozen=True)
class Village:
    code: str  # 12 digits
    name: str
    township: str

    def grids(self) -> list[str]:
        return [f"{self.code}{n:03d}" for n in range(1, GRIDS_PER_VILLAGE + 1)]


def villages() -> list[Village]:
    return [
        Village(f"{COUNTY[0]}{t_code}{v_no:03d}", name, t_name)
        for t_code, t_name, names in TOWNSHIPS
        for v_no, name in enumerate(names, start=1)
    ]


class DemoCounty:
    """Generates the county's documents; one instance, one deterministic stream."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.clock_ms = int(PERIOD_START.timestamp() * 1000)
        self.villages = villages()

    # -- envelope ------------------------------------------------------------------------------

    def _id(self, doc_type: str) -> str:
        self.clock_ms += self.rng.randint(1, 90_000)
        return new_doc_id(doc_type, self.clock_ms, self.rng.randbytes(10))

    def _when(self) -> datetime:
        minutes = self.rng.randrange(PERIOD_DAYS * 24 * 60)
        day_time = PERIOD_START + timedelta(minutes=minutes)
        return day_time.replace(hour=self.rng.randint(8, 17))

    def _envelope(self, doc_type: str, place: str, when: datetime, village: Village) -> dict:
        author = self._user(village)
        return {
            "_id": self._id(doc_type),
            "type": doc_type,
            "schema_version": CURRENT_VERSIONS[doc_type],
            "place": place,
            "station": f"station:{village.code}",
            "team": f"team:{village.code}",
            "author": author,
            "device": f"tablet-{village.code[-6:]}-{self.rng.randint(1, 4):02d}",
            "created_at": when.isoformat(),
            "updated_at": (when + timedelta(minutes=self.rng.randint(0, 600))).isoformat(),
        }

    def _user(self, village: Village) -> str:
        return f"user:v{village.code}-{self.rng.randint(1, 8):02d}"

    def _location(self, precise: bool = False) -> dict:
        return {
            "lat": round(29.2 + self.rng.random() * 0.5, 5),
            "lon": round(109.1 + self.rng.random() * 0.5, 5),
            "accuracy_m": round(self.rng.uniform(3, 15 if precise else 60), 1),
        }

    def _name(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    # -- reference data ------------------------------------------------------------------------

    def reference(self) -> Iterator[dict]:
        """Places, teams, stations and users: what an admin loads once."""
        when = PERIOD_START - timedelta(days=30)
        admin = {
            "author": "user:admin",
            "device": "county-office",
            "created_at": when.isoformat(),
            "updated_at": when.isoformat(),
        }
        yield self._place(COUNTY[0], COUNTY[1], "county", None, admin)
        for t_code, t_name, _ in TOWNSHIPS:
            yield self._place(COUNTY[0] + t_code, t_name, "township", COUNTY[0], admin)
        for village in self.villages:
            yield self._place(village.code, village.name, "village", village.code[:9], admin)
            for grid_no, grid in enumerate(village.grids(), start=1):
                yield self._place(
                    grid, f"{village.name}第{grid_no}网格", "grid", village.code, admin
                )
            common = {"schema_version": 1, "place": village.code, **admin}
            yield {
                "_id": f"team:{village.code}",
                "type": "team",
                **common,
                "name": f"张富清先锋队{village.name}小队",
                "level": "village",
                "captain": f"user:v{village.code}-01",
                "member_count": 8,
            }
            yield {
                "_id": f"station:{village.code}",
                "type": "station",
                **common,
                "name": f"{village.name}志愿服务站",
                "kind": "station",
                "lead": f"user:v{village.code}-01",
                "grids": village.grids(),
            }
            for n in range(1, 9):
                yield {
                    "_id": f"user:v{village.code}-{n:02d}",
                    "type": "user",
                    **common,
                    "username": f"v{village.code}-{n:02d}",
                    "display_name": self._name(),
                    "role": "station_lead" if n == 1 else "volunteer",
                    "scope": village.code,
                    "team": f"team:{village.code}",
                    "station": f"station:{village.code}",
                    "active": True,
                }

    @staticmethod
    def _place(code: str, name: str, level: str, parent: str | None, admin: dict) -> dict:
        doc = {
            "_id": f"place:{code}",
            "type": "place",
            "schema_version": 1,
            "place": code,
            **admin,
            "code": code,
            "name_zh": name,
            "level": level,
        }
        if parent:
            doc["parent"] = parent
        return doc

    # -- field records -------------------------------------------------------------------------

    def household(self, village: Village) -> dict:
        when = self._when()
        head = self._name()
        doc = self._envelope("household", self.rng.choice(village.grids()), when, village)
        doc.update(
            {
                "household_no": f"{village.code[-3:]}-{self.rng.randint(1, 300):03d}",
                "head_of_household": head,
                "address": f"{village.township}{village.name}{self.rng.randint(1, 9)}组"
                f"{self.rng.randint(1, 80)}号",
                "size": self.rng.randint(1, 6),
                "vulnerability": self.rng.sample(
                    ["elderly_alone", "disabled", "left_behind_child", "low_income", "sick"],
                    self.rng.randint(1, 2),
                ),
            }
        )
        return doc

    def home_visit(self, village: Village, household_id: str) -> dict:
        when = self._when()
        doc = self._envelope("home_visit", self.rng.choice(village.grids()), when, village)
        services = self.rng.sample(sorted(SERVICE_NOTES), self.rng.randint(2, 4))
        needs = []
        for n in range(self.rng.choice([0, 1, 2, 2])):
            category, text, urgency = self.rng.choice(NEEDS)
            needs.append(
                {
                    "need_id": f"need-{n + 1}",
                    "category": category,
                    "description": text,
                    "urgency": urgency,
                    "status": "open",
                }
            )
        doc.update(
            {
                "household": household_id,
                "visited_at": when.isoformat(),
                "duration_min": self.rng.randint(20, 180),
                "volunteers": sorted({doc["author"], self._user(village)}),
                "vulnerability": ["elderly_alone"],
                "services": services,
                "health": {
                    "temperature_c": round(self.rng.uniform(36.0, 37.4), 1),
                    "blood_pressure": f"{self.rng.randint(110, 160)}/{self.rng.randint(65, 95)}",
                },
                "needs": needs,
                "follow_up": {
                    "due_on": (when + timedelta(days=30)).date().isoformat(),
                    "assignee": doc["author"],
                    "note": "".join(
                        [SERVICE_NOTES[s] for s in services]
                        + [need["description"] for need in needs]
                        + ["下次走访前一天先电话告知家属，约好时间。"]
                    ),
                },
            }
        )
        return doc

    def patrol(self, village: Village) -> dict:
        start = self._when()
        doc = self._envelope("patrol", self.rng.choice(village.grids()), start, village)
        incidents = []
        for _ in range(self.rng.choice([0, 0, 0, 1, 2])):
            kind, text, action, referred = self.rng.choice(INCIDENTS)
            incident = {
                "kind": kind,
                "description": text,
                "action_taken": action,
                "resolved": self.rng.random() < 0.7,
            }
            if referred:
                incident["referred_to"] = referred
            incidents.append(incident)
        doc.update(
            {
                "participants": sorted({doc["author"], self._user(village), self._user(village)}),
                "zone": f"{village.name}责任区{self.rng.randint(1, 5)}",
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(minutes=self.rng.randint(30, 240))).isoformat(),
                "location": self._location(),
                "incidents": incidents,
            }
        )
        return doc

    def water_source(self, village: Village) -> dict:
        when = self._when()
        doc = self._envelope("water_source", village.code, when, village)
        status = self.rng.choice(["found", "assessed", "piped", "in_use", "dry"])
        households = self.rng.randint(3, 40)
        doc.update(
            {
                "location": self._location(precise=True),
                "kind": self.rng.choice(["spring", "well", "stream", "pond"]),
                "estimated_flow_l_min": round(self.rng.uniform(2, 60), 1),
                "distance_km": round(self.rng.uniform(0.3, 10), 1),
                "terrain": "山谷底部，沿山沟步行，途中需翻过一道山梁。",
                "households_served": households,
                "people_served": households * self.rng.randint(2, 5),
                "status": status,
                "found_on": when.date().isoformat(),
            }
        )
        if status in ("piped", "in_use"):
            doc["pipe_length_m"] = self.rng.randint(50, 900)
        return doc

    def records(self, per_village: int) -> Iterator[dict]:
        """`per_village` rounds of field work in every village: a household with a
        visit, a patrol, and now and then a water-source find."""
        for village in self.villages:
            for _ in range(per_village):
                household = self.household(village)
                yield household
                yield self.home_visit(village, household["_id"])
                yield self.patrol(village)
                if self.rng.random() < 0.2:
                    yield self.water_source(village)


def recorded_by(
    docs: Iterable[dict], username: str, *, taking_part: list[str] | None = None
) -> list[dict]:
    """`docs` as `username` recorded them: the author, and the only one taking part (and
    assigned the follow-ups) unless `taking_part` (usernames) says who did."""
    me = f"user:{username}"
    people = [f"user:{name}" for name in taking_part] if taking_part else [me]
    out = []
    for doc in docs:
        doc = {**doc, "author": me}
        for name in ("participants", "volunteers"):
            if name in doc:
                doc[name] = people
        if isinstance(doc.get("follow_up"), dict):
            doc["follow_up"] = {**doc["follow_up"], "assignee": me}
        out.append(doc)
    return out


def home_visits(count: int, seed: int = 0) -> Iterator[dict]:
    """`count` home visits spread over the county (for benchmarks)."""
    county = DemoCounty(seed)
    for n in range(count):
        village = county.villages[n % len(county.villages)]
        yield county.home_visit(village, county._id("household"))
