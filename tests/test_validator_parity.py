"""Both ends agree: the tablet's validator (field_client/web/js/validator.js, run in
Debian's chromium) gives every document the verdict and the messages that
`schemas.validate_document` gives on the server.

The page is `field_client/web/` served from 127.0.0.1 with the export
(`schemas.export.export_json()`) at /schemas.json, as the app fetches it; one validator
is created in it and kept on `window`. Hypothesis generates batches of documents from
the realistic examples (`schemas.testing.example`) with zero or more mutations: fields
dropped, nulled, given the wrong JSON type or a value of their own kind that is out of
range or just inside it; the date-time grammar's edge cases; bad ids of every kind;
unknown keys; text with control characters, Unicode blanks Python does not treat as blank
(U+FEFF), combining characters needing NFC, emoji, over-long text; list item errors,
duplicates, too many items; each cross-field rule broken or met at its edge; nested
objects replaced by non-objects; tombstones, CouchDB special members, wrong types and
versions. Each batch crosses to the page once as ASCII-only JSON. For every document,
Python's errors (JSON-normalised: list indices become string keys) must equal the
browser's `bilingual(validate(doc))`, verdict and every message at every path.

Every document is round-tripped through JSON before Python judges it, so both ends judge
the same JSON value (a Python str holding the two halves of a surrogate pair as lone
surrogates is one emoji once serialised).

Known, unavoidable divergences, which the generator keeps away from:
- JSON numbers spelled as integral floats (3.0, -0.0, 1e3): Python reads a float, which an
  Int field (and `schema_version`) refuses; JavaScript has one number type and sees an
  integer. Integers beyond +-2**53 lose precision in JavaScript (1e400 even becomes
  Infinity). Integers are drawn within +-(2**53 - 1); floats for Int fields and versions
  are never integral.
- NaN and Infinity: not JSON (json.dumps writes a bare NaN that JSON.parse refuses).
- Characters unassigned in Python's Unicode database (`unicodedata.category(c) == "Cn"`,
  Unicode 14.0 for Python 3.11): Chromium's ICU is newer, and the NFC of a character one end
  does not know may differ. Assigned characters are covered by Unicode's normalisation
  stability policy, so generated text excludes only Cn.
- Documents the browser does not judge: an older `schema_version` that needs an upgrade
  (patrol 1, home_visit 1) and types that are not exported (place, team, station, user,
  rejection_notice). `validate` throws `Unsupported`; such a document is counted apart,
  and only where Python's header accepted the type and version. Anything else thrown in
  the page is a failure.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import CURRENT_VERSIONS, DocumentInvalid, new_doc_id, upgrade, validate_document
from schemas.export import EXPORTED_TYPES, export_json, export_schemas
from schemas.messages import msg, split_message
from schemas.testing import DELETE, example, example_v1, with_value

WEB = Path(__file__).resolve().parents[1] / "field_client" / "web"
EXPORT = export_schemas()
SCHEMAS: dict[str, Any] = EXPORT["schemas"]
MAX_SAFE = 2**53 - 1
T0 = 1724549400000  # schemas.testing's 2024-08-25T09:30:00+08:00 in ms

# -- the page --------------------------------------------------------------------------


BLANK_PAGE = b'<!doctype html><meta charset="utf-8"><title>validator parity</title>'


class _Site(SimpleHTTPRequestHandler):
    """field_client/web/ as files, and the export where the app fetches it."""

    extensions_map = {".js": "text/javascript", ".mjs": "text/javascript"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(WEB), **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/schemas.json":
            self._send(export_json(), "application/json; charset=utf-8")
        elif self.path == "/parity.html":  # a page of the origin that does not start the app
            self._send(BLANK_PAGE, "text/html; charset=utf-8")
        else:
            super().do_GET()

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: pytest shows stderr on failures only, and every import is a hit


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, name="parity-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


_SETUP = """async () => {
  const module = await import("/js/validator.js");
  const description = await (await fetch("/schemas.json")).json();
  window.parity = { module, validator: module.createValidator(description) };
  return description.digest;
}"""

# One call per batch: an ASCII JSON string in, a JSON string out (so a "__proto__" key or
# an undefined survive the crossing exactly as JSON has them).
_JUDGE = """(batch) => {
  const { module, validator } = window.parity;
  const verdicts = JSON.parse(batch).map((doc) => {
    try {
      return { errors: validator.bilingual(validator.validate(doc)) };
    } catch (error) {
      if (error instanceof module.Unsupported) return { unsupported: error.message };
      return { thrown: String((error && error.stack) || error) };
    }
  });
  return JSON.stringify(verdicts);
}"""

_RENDER = """(text) => {
  const { module, validator } = window.parity;
  const errors = validator.validate(JSON.parse(text));
  return JSON.stringify({
    keys: module.mapTree(errors, (found) => found.key),
    zh: module.mapTree(errors, (found) => validator.render(found, "zh")),
    en: module.mapTree(errors, (found) => validator.render(found, "en")),
  });
}"""


@pytest.fixture(scope="module")
def page(browser: Any, site: str) -> Iterator[Any]:
    # The app's service worker would answer fetches from its cache: kept out.
    context = browser.new_context(service_workers="block")
    try:
        opened = context.new_page()
        opened.goto(f"{site}/parity.html")
        assert opened.evaluate(_SETUP) == EXPORT["digest"]
        yield opened
    finally:
        context.close()


def browser_verdicts(page: Any, docs: list[Any]) -> list[dict[str, Any]]:
    return json.loads(page.evaluate(_JUDGE, json.dumps(docs, ensure_ascii=True)))


# -- Python's side -----------------------------------------------------------------------


def as_json(value: Any) -> Any:
    """`value` as JSON has it (what the page receives; int keys become strings)."""
    return json.loads(json.dumps(value, ensure_ascii=True))


def python_errors(doc: Any) -> dict[str, Any] | None:
    """validate_document's errors, JSON-normalised; None when the document is valid."""
    try:
        validate_document(doc)
    except DocumentInvalid as error:
        return as_json(error.errors)
    return None


def server_judges_alone(doc: Any) -> bool:
    """Python's header accepts the type and version, and the browser may leave the
    document to the server: an older version to upgrade, or a type not exported."""
    if not isinstance(doc, dict) or doc.get("_deleted") is True:
        return False
    try:
        upgrade(doc)
    except DocumentInvalid:
        return False
    doc_type = doc["type"]
    return doc_type not in EXPORTED_TYPES or doc["schema_version"] < CURRENT_VERSIONS[doc_type]


def flatten(errors: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """{"incidents.0.kind": [messages]} of an error tree (a leaf that is no list as is)."""
    if isinstance(errors, dict):
        flat: dict[str, Any] = {}
        for key, value in errors.items():
            flat.update(flatten(value, (*path, key)))
        return flat
    return {".".join(path) or "(document)": errors}


def disagreement(doc: Any, python: Any, browser: Any) -> str:
    def verdict(errors: Any) -> str:
        return "valid" if errors is None else "invalid"

    lines = [
        f"validator.js and schemas.validate_document disagree "
        f"(Python: {verdict(python)}, browser: {verdict(browser)})",
        "document (ASCII JSON):",
        json.dumps(doc, ensure_ascii=True, indent=1, sort_keys=True),
        "Python's errors:",
        json.dumps(python, ensure_ascii=False, indent=1, sort_keys=True),
        "the browser's errors:",
        json.dumps(browser, ensure_ascii=False, indent=1, sort_keys=True),
        "paths that differ:",
    ]
    ours, theirs = flatten(python or {}), flatten(browser or {})
    for path in sorted(set(ours) | set(theirs)):
        if ours.get(path) != theirs.get(path):
            lines.append(f"  {path}: Python {ours.get(path)!r}, browser {theirs.get(path)!r}")
    return "\n".join(lines)


# -- generated documents -----------------------------------------------------------------

Draw = Callable[[st.SearchStrategy[Any]], Any]


def ulid_id(doc_type: str, seed: int) -> str:
    return new_doc_id(doc_type, T0 + seed, bytes([seed % 256]) * 10)


ULID = ulid_id("patrol", 7).partition(":")[2]
USER = "user:zhangsan"

# Any field may meet these: one of each JSON type (no integral float: see the docstring).
WRONG_TYPES = [0, 7, -1, 1.5, -0.25, "12", "", "x", True, False, [], ["x"], {}, {"a": 1}]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE, MAX_SAFE)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer())
    | st.text(st.characters(exclude_categories=("Cn", "Cs")), max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text("abcxyz_", min_size=1, max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
random_text = st.text(st.characters(exclude_categories=("Cn", "Cs")), min_size=1, max_size=16)

TEXT_VALUES = [
    "第三网格",
    "Cafe\u0301 第三网格",  # NFC composes é
    "\u212b\u2126 单位",  # singletons: Angstrom and Ohm signs become Å and Ω
    "\u1100\u1161\u11a8",  # conjoining jamo: one Hangul syllable after NFC
    "q\u0307\u0323",  # combining marks NFC reorders but cannot compose
    "雨天 \U0001f327\ufe0f 👨\u200d👩\u200d👧",
    "第一段\n第二段\t完",
    "\ufeff",  # a BOM: not blank to Python (JavaScript's trim() says it is)
    "\u200b",  # zero-width space: not blank either
    "\u180e",  # Mongolian vowel separator: Cf since Unicode 6.3, not blank
    "\u3000",
    "\u3000\u3000",
    "\u00a0",
    "\u2028\u2029",
    "\u1680\u205f\u202f",
    " \u3000\t\n",
    "",
    "   ",
    "\n\t",
    "a\x00b",
    "a\rb",
    "a\x1bb",
    "a\x7fb",
    "a\x85b",
    "a\x9fb",
    "\x0b",
    "\x1c",  # a control character Python's isspace() also counts as blank
    "\x0c\x1f",
    "\ud800",
    "abc\udfff",
    "\ud83d",
]
DATE_VALUES = [
    "2024-08-25",
    "2024-02-29",
    "2000-02-29",
    "0001-01-01",
    "9999-12-31",
    "2023-02-29",
    "1900-02-29",
    "2024-02-30",
    "2024-04-31",
    "2024-13-01",
    "2024-00-10",
    "2024-08-00",
    "0000-01-01",
    "2024-8-25",
    "20240825",
    "2024-08-25T00:00:00+08:00",
    "2024-08-25 ",
    "\uff12\uff10\uff12\uff14-08-25",  # full-width digits
    "2024/08/25",
    "",
]
DATETIME_VALUES = [
    # The shared grammar (tests/test_schemas_fields.py) and its edges.
    "2024-08-25T09:30+08:00",
    "2024-08-25T09:30:00Z",
    "2024-08-25 09:30:00+08:00",
    "2024-08-25T09:30:00.123456789+0800",
    "2024-08-25T09:30:00,5+08",
    "2024-08-25T09:30:00-03:30",
    "2024-08-25T09:30:00-00:00",
    "2024-08-25T09:30:00+23:59",
    "2024-08-25T23:59:59.9999999+08:00",
    "2024-02-29T12:00:00+08:00",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-23:59",  # after 9999 in UTC
    "2024-08-25T09:30.5+08:00",
    "2024-08-25T09:30:00+08:75",
    "2024-08-25T09:30:00 +08:00",
    "2024-08-25T09:30:00+24:00",
    "2024-08-25T24:00:00+08:00",
    "2024-13-25T09:30:00+08:00",
    "20240825T093000+0800",
    "2024-08-25T09:30:00+08:00:00",
    "2024-08-25",
    "2024-08-25T09:30:60+08:00",
    "2024-02-30T09:30:00+08:00",
    "0000-01-01T00:00:00Z",
    "2024-08-25t09:30:00+08:00",
    "2024-08-25T09:30:00z",
    "2024-08-25T09:30:00.+08:00",
    "2024-08-25T9:30:00+08:00",
    "2024-08-25T09:30:00+8:00",
    "2024-08-25T09:30:00+08:0",
    "2024-08-25T09:30:00+2359",
    "2024-08-25T09:30:00+08:00\n",
    # Naive: in the grammar but with no offset.
    "2024-08-25T09:30:00",
    "2024-08-25T09:30",
    "2024-08-25 09:30:00.5",
    "2024-02-30T09:30:00",  # no such day, and naive: invalid comes first
]
PLACE_VALUES = [
    "422827100201",
    "422827100201003",
    "422827",
    "422827100",
    "42282710020",
    "4228271002010031",
    "422827100201003001",
    "",
    "\uff14\uff12\uff12\uff18\uff12\uff17100201",
    " 422827100201",
    "422827100201\n",
    "42282a100201",
    422827100201,
]
DEVICE_VALUES = ["tablet-xf-07", "a" * 64, "a" * 65, "tablet xf", "设备07", "tab:x.Y_9", "ｔab"]
PHONE_VALUES = ["13800000000", "12345", "1234", "1" * 20, "1" * 21, "+8613800000000"]
PHONE_VALUES += ["138 0000 0000", "\uff11\uff13\uff18\uff10\uff10\uff10\uff10\uff10", "13800\u0660"]
NEED_ID_VALUES = ["need-1", "n", "N.2:x_y", "a" * 64, "a" * 65, "need 1", "需求1", "need/1"]
PRESSURE_VALUES = ["120/80", "80/120", "120/120", "1200/80", "120-80", "120/80/60", "100/99"]
PRESSURE_VALUES += ["99/100", "300/299", "12/11", "1/1", "\uff11\uff12\uff10/80", " 120/80"]
TOKEN_VALUES = {
    "device_invalid": DEVICE_VALUES,
    "phone_invalid": PHONE_VALUES,
    "token_invalid": NEED_ID_VALUES,
    "blood_pressure_invalid": PRESSURE_VALUES,
}
OTHER_CHOICES = ["Fraud", " fraud", "fraud ", "police", "in_use", "haircut", "urgent", "other"]


def id_values(doc_type: str | None) -> list[Any]:
    """Ids a field expecting `doc_type` (None: any, as `_id`) may meet."""
    own = doc_type or "patrol"
    values = [
        ulid_id(own, 11),
        ulid_id("household", 12),
        ulid_id("patrol", 13),
        "user:zhangsan",
        "user:zhang.san_2-b",
        "station:xiangfeng-01",
        "team:zhangfuqing-xiangfeng",
        "place:422827100201",
        "user:" + "a" * 200,
        "user:" + "a" * 201,
        "user:" + "a" * 507,  # 512 bytes, too long a slug
        "user:" + "a" * 508,  # 513 bytes
        "user:" + "区" * 169,  # 512 bytes of UTF-8
        "user:" + "区" * 170,
        "user:张三",
        "user:zhang san",
        "user:",
        f"{own}:",
        f"{own}:{ULID.lower()}",
        f"{own}:{ULID[:-1]}",
        f"{own}:{ULID}0",
        f"{own}:8{ULID[1:]}",
        f"{own}:{ULID[:-1]}I",
        f"{own}:{ULID[:-1]}L",
        f"{own}:{ULID[:-1]}O",
        f"{own}:{ULID[:-1]}U",
        f"{own}:slug-like",
        f"{own}{ULID}",
        f"{own}:{ULID}/x",
        f"foo:{ULID}",
        f"Patrol:{ULID}",
        f":{ULID}",
        "",
        "_design/x",
        "_local",
        f"{own}:{ULID}\x00",
        f"{own}:{ULID}\x7f",
        f"{own}:{ULID}\x9f",
        f"{own}:{ULID}\t",
        f"{own}:{ULID}\n",
        f"{own}:{ULID}\ud800",
        f"{own}:{ULID}\u3000",
    ]
    return values


@dataclass(frozen=True)
class Slot:
    """A field's place in a document: `path` ends with its key (or list index)."""

    path: tuple[str | int, ...]
    field: dict[str, Any]
    present: bool


def slots(schema: str, data: dict[str, Any], path: tuple[str | int, ...] = ()) -> Iterator[Slot]:
    for field in SCHEMAS[schema]["fields"]:
        here = (*path, field["name"])
        present = field["name"] in data
        yield Slot(here, field, present)
        if present:
            yield from inner_slots(field, data[field["name"]], here)


def inner_slots(field: dict[str, Any], value: Any, path: tuple[str | int, ...]) -> Iterator[Slot]:
    if field["kind"] == "object" and isinstance(value, dict):
        yield from slots(field["schema"], value, path)
    elif field["kind"] == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            yield Slot((*path, index), field["item"], True)
            yield from inner_slots(field["item"], item, (*path, index))


def at(doc: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def put(doc: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """`doc` with `value` at `path` (DELETE removes it), changed in place."""
    if not path:
        return value
    container = at(doc, path[:-1])
    if value is DELETE:
        del container[path[-1]]
    else:
        container[path[-1]] = value
    return doc


def bounds(field: dict[str, Any], check: str) -> dict[str, Any] | None:
    return next((v for v in field["validators"] if v["check"] == check), None)


def kind_values(field: dict[str, Any]) -> list[Any]:
    """Values of the field's own kind, valid and invalid, at and around its bounds."""
    kind = field["kind"]
    if kind in ("text", "token"):
        top = field["max_length"]
        lengths = [
            "区" * top,
            "区" * (top + 1),
            "e\u0301" * top,  # 2 * top code points, top once composed
            "e\u0301" * (top + 1),
            "\U0001f600" * top,  # top code points, 2 * top UTF-16 units
            "\U0001f600" * (top + 1),
            "q\u0307" * (top // 2 + 1),  # nothing composes: too long
        ]
        return TEXT_VALUES + lengths + TOKEN_VALUES.get(field.get("message"), [])
    if kind == "choice":
        return [c["value"] for c in field["choices"]] + OTHER_CHOICES + [""]
    if kind == "bool":
        return [True, False, 0, 1, "true", "false"]
    if kind == "date":
        return DATE_VALUES
    if kind == "datetime":
        return DATETIME_VALUES
    if kind == "doc_id":
        return id_values(field["doc_type"])
    if kind == "place_code":
        return PLACE_VALUES
    if kind in ("int", "number"):
        found: list[Any] = [0, 1, -1, MAX_SAFE, -MAX_SAFE, 0.5, -0.5]
        limits = bounds(field, "range")
        for end in ("min", "max"):
            if limits and limits[end] is not None:
                edge = limits[end]
                found += [edge, edge - 1, edge + 1]
                if kind == "number":
                    found += [edge - 0.0001, edge + 0.0001, edge + 1e-9]
        if kind == "number":
            found += [-0.0, 3.0, 1e308, -1e308, 5e-324, 1e16, 12.5]
        return found
    if kind == "list":
        return [[], [None], "a, b", {"0": "x"}]
    if kind == "object":
        return [[], [{}], "x", 1, True, {}]
    raise AssertionError(f"no values for the field kind {kind}")


def benign_values(field: dict[str, Any]) -> list[Any]:
    """Values the field should accept (a third of the documents stay valid)."""
    kind = field["kind"]
    if kind == "text":
        return ["第三网格", "Cafe\u0301", "\ufeff", "雨 \U0001f327\ufe0f", "一\n二\t三", "\u00a0x"]
    if kind == "datetime":
        return ["2024-08-25T09:30:00+08:00", "2024-08-25T01:30:00Z", "2024-08-25 09:30+0800"]
    if kind == "number":
        limits = bounds(field, "range")
        low = 0 if limits is None or limits["min"] is None else limits["min"]
        return [low + 0.5, low + 1]
    return []


# Keys no schema has (and one each schema has under another name).
UNKNOWN_KEYS = ["note", "Type", "_foo", "__proto__", "constructor", "toString", "doc_id"]
UNKNOWN_KEYS += ["type ", "中文字段", "\x00", "", "_id_", "_deleted_"]
SPECIAL = {
    "_rev": "2-6b21f266ce3a1f1809483fd450343625",
    "_attachments": {"photo.jpg": {"stub": True, "digest": "md5-x", "length": 1}},
    "_revisions": {"start": 2, "ids": ["b" * 32, "a" * 32]},
    "_conflicts": ["2-" + "c" * 32],
    "_deleted_conflicts": [],
    "_local_seq": 7,
    "_revs_info": None,
}


def field_slots(doc: Any, doc_type: str, want: Callable[[Slot], bool]) -> list[Slot]:
    if not isinstance(doc, dict):
        return []
    return [slot for slot in slots(EXPORT["types"][doc_type]["schema"], doc) if want(slot)]


def draw_slot(draw: Draw, doc: Any, doc_type: str, want: Callable[[Slot], bool]) -> Slot | None:
    found = field_slots(doc, doc_type, want)
    return draw(st.sampled_from(found)) if found else None


# Each mutation: (draw, doc, its type) -> the mutated doc (changed in place or new).


def drop_field(draw: Draw, doc: Any, doc_type: str) -> Any:
    slot = draw_slot(draw, doc, doc_type, lambda s: s.present)
    return doc if slot is None else put(doc, slot.path, DELETE)


def null_field(draw: Draw, doc: Any, doc_type: str) -> Any:
    slot = draw_slot(draw, doc, doc_type, lambda s: True)
    return doc if slot is None else put(doc, slot.path, None)


def wrong_type(draw: Draw, doc: Any, doc_type: str) -> Any:
    slot = draw_slot(draw, doc, doc_type, lambda s: True)
    return doc if slot is None else put(doc, slot.path, draw(st.sampled_from(WRONG_TYPES)))


def own_kind_value(draw: Draw, doc: Any, doc_type: str) -> Any:
    slot = draw_slot(draw, doc, doc_type, lambda s: True)
    if slot is None:
        return doc
    return put(doc, slot.path, copy.deepcopy(draw(st.sampled_from(kind_values(slot.field)))))


def random_value(draw: Draw, doc: Any, doc_type: str) -> Any:
    slot = draw_slot(draw, doc, doc_type, lambda s: True)
    if slot is None:
        return doc
    if slot.field["kind"] in ("text", "token"):
        return put(doc, slot.path, draw(random_text))
    return put(doc, slot.path, draw(json_values))


def unknown_key(draw: Draw, doc: Any, doc_type: str) -> Any:
    objects = [()] + [
        s.path
        for s in field_slots(doc, doc_type, lambda s: s.field["kind"] == "object" and s.present)
        if isinstance(at(doc, s.path), dict)
    ]
    if not isinstance(doc, dict):
        return doc
    where = draw(st.sampled_from(objects))
    at(doc, where)[draw(st.sampled_from(UNKNOWN_KEYS))] = draw(json_values)
    return doc


def list_items(draw: Draw, doc: Any, doc_type: str) -> Any:
    """A list field's items: duplicated, nulled, emptied, too many."""
    slot = draw_slot(
        draw, doc, doc_type, lambda s: s.field["kind"] == "list" and s.present and s.path
    )
    if slot is None or not isinstance(at(doc, slot.path), list):
        return doc
    items: list[Any] = at(doc, slot.path)
    action = draw(st.sampled_from(["duplicate", "null", "empty", "too_many", "drop", "swap"]))
    if action == "duplicate" and items:
        items.insert(draw(st.integers(0, len(items))), copy.deepcopy(draw(st.sampled_from(items))))
    elif action == "null":
        items.insert(draw(st.integers(0, len(items))), None)
    elif action == "empty":
        items.clear()
    elif action == "drop" and items:
        del items[draw(st.integers(0, len(items) - 1))]
    elif action == "swap" and len(items) > 1:
        items.reverse()
    elif action == "too_many":
        length = bounds(slot.field, "length")
        most = 60 if length is None or length["max"] is None else length["max"]
        if most <= 250:
            put(
                doc,
                slot.path,
                many_items(slot.field["item"], items, most + draw(st.integers(0, 1))),
            )
    return doc


def many_items(item: dict[str, Any], items: list[Any], count: int) -> list[Any]:
    """`count` items like `items`, kept distinct where a list wants them unique."""
    if item["kind"] == "doc_id":
        return [f"user:volunteer-{index}" for index in range(count)]
    if item["kind"] == "choice":
        return [item["choices"][index % len(item["choices"])]["value"] for index in range(count)]
    template = items[0] if items and isinstance(items[0], dict) else {}
    made = []
    for index in range(count):
        one = copy.deepcopy(template)
        if "need_id" in one:
            one["need_id"] = f"need-{index}"
        made.append(one)
    return made


def benign(draw: Draw, doc: Any, doc_type: str) -> Any:
    """A change the schema should accept: optional fields left out or null, CouchDB's
    members, text needing NFC, the same instant in another offset."""
    action = draw(st.sampled_from(["optional", "special", "value", "value"]))
    if action == "special" and isinstance(doc, dict):
        name = draw(st.sampled_from(sorted(SPECIAL)))
        doc[name] = copy.deepcopy(SPECIAL[name])
        return doc
    if action == "optional":
        slot = draw_slot(draw, doc, doc_type, lambda s: not s.field["required"] and s.present)
        if slot is not None and slot.field.get("allow_none", True):
            return put(doc, slot.path, draw(st.sampled_from([None, DELETE])))
        return doc
    slot = draw_slot(draw, doc, doc_type, lambda s: bool(benign_values(s.field)))
    if slot is None:
        return doc
    return put(doc, slot.path, draw(st.sampled_from(benign_values(slot.field))))


# -- cross-field rules, broken and met at their edges -----------------------------------


def updated_before_created(draw: Draw, doc: Any) -> None:
    doc["updated_at"] = draw(
        st.sampled_from(
            [
                "2024-08-25T09:29:59+08:00",
                "2024-08-25T09:29:59.999999+08:00",
                "2024-08-25T01:30:00Z",  # the same instant: not earlier
                "2024-08-25T01:29:59.9999999Z",  # the 7th digit is dropped: still earlier
                "2024-08-24T21:30:00-04:00",
            ]
        )
    )


def patrol_times(draw: Draw, doc: Any) -> None:
    start = "2024-08-25T14:00:00+08:00"
    doc["started_at"] = start
    doc["ended_at"] = draw(
        st.sampled_from(
            [
                "2024-08-25T13:59:59+08:00",  # ended before started
                "2024-08-25T05:59:59Z",
                "2024-08-25T06:00:00Z",  # the same instant
                "2024-08-26T14:00:00+08:00",  # exactly 24 h
                "2024-08-26T06:00:00Z",
                "2024-08-26T14:00:01+08:00",
                "2024-08-26T14:00:00.000001+08:00",
                "2024-08-26T14:00:00.0000009+08:00",  # past the 6th digit: not longer
                "2024-09-25T14:00:00+08:00",
            ]
        )
    )


def response_times(draw: Draw, doc: Any) -> None:
    incidents = doc.get("incidents")
    if not isinstance(incidents, list) or not incidents or not isinstance(incidents[0], dict):
        return
    names = ["reported_at", "contact_known_at", "reached_at", "on_site_at"]
    times = [f"2024-08-25T15:0{minute}:00+08:00" for minute in range(4)]
    chosen = draw(st.permutations(times))
    for name, value in zip(names, chosen, strict=True):
        if draw(st.booleans()):
            incidents[0][name] = value
        else:
            incidents[0].pop(name, None)


def served(draw: Draw, doc: Any) -> None:
    doc["households_served"] = draw(st.sampled_from([20, 0, None, 101]))
    doc["people_served"] = draw(st.sampled_from([100, 19, 20, 0, None]))


def piped(draw: Draw, doc: Any) -> None:
    doc["status"] = draw(st.sampled_from(["piped", "in_use", "found", "dry"]))
    put(doc, ("pipe_length_m",), draw(st.sampled_from([DELETE, None, 0, 320])))


def follow_up(draw: Draw, doc: Any) -> None:
    doc["visited_at"] = draw(
        st.sampled_from(
            [
                "2024-08-25T09:30:00+08:00",
                "2024-08-26T00:30:00+08:00",  # 2024-08-25 in UTC
                "2024-08-25T23:30:00-05:00",  # 2024-08-26 in UTC
            ]
        )
    )
    if not isinstance(doc.get("follow_up"), dict):
        doc["follow_up"] = {"due_on": "2024-09-25", "assignee": USER}
    doc["follow_up"]["due_on"] = draw(st.sampled_from(["2024-08-24", "2024-08-25", "2024-08-26"]))


def services_or_needs(draw: Draw, doc: Any) -> None:
    put(doc, ("services",), draw(st.sampled_from([DELETE, None, [], ["haircut"]])))
    put(doc, ("needs",), draw(st.sampled_from([DELETE, None, []])))


def blood_pressure(draw: Draw, doc: Any) -> None:
    doc["health"] = {"blood_pressure": draw(st.sampled_from(PRESSURE_VALUES))}


def members_and_size(draw: Draw, doc: Any) -> None:
    doc["size"] = draw(st.sampled_from([1, 2, 3]))
    if draw(st.booleans()):
        doc["members"] = [{"name": f"成员{index}"} for index in range(draw(st.integers(0, 4)))]


def birth_years(draw: Draw, doc: Any) -> None:
    doc["created_at"], doc["updated_at"] = draw(
        st.sampled_from(
            [
                ("2024-08-25T09:30:00+08:00", "2024-08-25T18:05:00+08:00"),
                ("2025-01-01T00:30:00+08:00", "2025-01-01T01:00:00+08:00"),  # 2024 in UTC
                ("2024-12-31T23:30:00-05:00", "2024-12-31T23:45:00-05:00"),  # 2025 in UTC
            ]
        )
    )
    doc["size"] = 4
    years = st.sampled_from([1948, 2024, 2025, 2026, None])
    doc["members"] = [
        {"name": f"成员{index}", "birth_year": draw(years)}
        for index in range(draw(st.integers(1, 3)))
    ]


def review(draw: Draw, doc: Any) -> None:
    state = draw(st.sampled_from(["pending", "approved", "returned", "lost"]))
    given_review: dict[str, Any] = {"state": state}
    for name, value in (
        ("by", "user:lisi"),
        ("at", "2024-08-26T10:00:00+08:00"),
        ("comment", "请补充"),
    ):
        if draw(st.booleans()):
            given_review[name] = draw(st.sampled_from([value, None]))
    doc["review"] = given_review


RULES: dict[str, list[Callable[[Draw, Any], None]]] = {
    "patrol": [updated_before_created, patrol_times, response_times, review],
    "water_source": [updated_before_created, served, piped, review],
    "home_visit": [updated_before_created, follow_up, services_or_needs, blood_pressure, review],
    "household": [updated_before_created, members_and_size, birth_years, review],
}


def cross_field(draw: Draw, doc: Any, doc_type: str) -> Any:
    if isinstance(doc, dict):
        draw(st.sampled_from(RULES[doc_type]))(draw, doc)
    return doc


# -- the envelope: type, version, ids, tombstones, CouchDB's members ---------------------


def doc_type_value(draw: Draw, doc: Any, doc_type: str) -> Any:
    if not isinstance(doc, dict):
        return doc
    others = ["place", "team", "station", "user", "rejection_notice", *EXPORTED_TYPES]
    values = [DELETE, None, 1, True, "Patrol", "unknown", "", "__proto__", "toString", *others]
    return put(doc, ("type",), draw(st.sampled_from(values)))


def version_value(draw: Draw, doc: Any, doc_type: str) -> Any:
    if not isinstance(doc, dict):
        return doc
    current = CURRENT_VERSIONS[doc_type]
    values = [DELETE, None, 0, -1, "2", 1.5, True, False, [2], 1, current + 1, 99, MAX_SAFE]
    return put(doc, ("schema_version",), draw(st.sampled_from(values)))


def tombstone(draw: Draw, doc: Any, doc_type: str) -> Any:
    if not isinstance(doc, dict):
        return doc
    shape = draw(st.sampled_from(["whole", "minimal", "not_true"]))
    if shape == "not_true":
        doc["_deleted"] = draw(st.sampled_from([False, "true", 1, None, [True]]))
        return doc
    if shape == "minimal":
        doc = {key: doc[key] for key in ("_id", "_rev") if key in doc}
    doc["_deleted"] = True
    if draw(st.booleans()):
        put(doc, ("_id",), draw(st.sampled_from([DELETE, None, 7, *id_values(None)])))
    return doc


def member(draw: Draw, doc: Any, doc_type: str) -> Any:
    if isinstance(doc, dict):
        name = draw(st.sampled_from([*sorted(SPECIAL), "_foo", "_id "]))
        doc[name] = draw(st.one_of(st.just(copy.deepcopy(SPECIAL.get(name))), json_values))
    return doc


def not_an_object(draw: Draw, doc: Any, doc_type: str) -> Any:
    return draw(st.sampled_from([None, [], [doc], "patrol", 7, True]))


BREAKING: list[tuple[int, Callable[[Draw, Any, str], Any]]] = [
    (3, drop_field),
    (2, null_field),
    (3, wrong_type),
    (8, own_kind_value),
    (2, random_value),
    (2, unknown_key),
    (3, list_items),
    (6, cross_field),
    (1, doc_type_value),
    (1, version_value),
    (1, tombstone),
    (1, member),
]
MUTATIONS = [mutation for weight, mutation in BREAKING for _ in range(weight)]


@st.composite
def documents(draw: Draw) -> Any:
    doc_type = draw(st.sampled_from(EXPORTED_TYPES))
    doc: Any = example(doc_type)
    for _ in range(draw(st.integers(0, 2))):
        doc = benign(draw, doc, doc_type)
    count = draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))
    for _ in range(count):
        doc = draw(st.sampled_from(MUTATIONS))(draw, doc, doc_type)
    if count and draw(st.integers(0, 60)) == 0:
        doc = not_an_object(draw, doc, doc_type)
    return as_json(doc)


# -- the tests ---------------------------------------------------------------------------


DEBUG = []


def test_both_ends_agree_on_generated_documents(page: Any, artifacts: Path) -> None:
    tally: Counter[str] = Counter()
    seen: set[str] = set()

    @settings(
        max_examples=70,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(documents(), min_size=10, max_size=20))
    def judge(docs: list[Any]) -> None:
        for doc, verdict in zip(docs, browser_verdicts(page, docs), strict=True):
            expected = python_errors(doc)
            if "thrown" in verdict:
                problem = f"validate threw {verdict['thrown']}"
            elif "unsupported" in verdict:
                if server_judges_alone(doc):
                    tally["not judged (Unsupported)"] += 1
                    continue
                problem = f"Unsupported ({verdict['unsupported']}) where Python judges"
            elif verdict["errors"] == expected:
                tally["judged"] += 1
                tally["valid" if expected is None else "invalid"] += 1
                seen.add(json.dumps(doc, sort_keys=True))
                DEBUG.append((doc, expected))
                continue
            else:
                problem = disagreement(doc, expected, verdict["errors"])
            report = f"{problem}\nPython's errors: {json.dumps(expected, ensure_ascii=False)}"
            report += f"\ndocument: {json.dumps(doc, ensure_ascii=True)}"
            (artifacts / "disagreement.txt").write_text(report, encoding="utf-8")
            raise AssertionError(report)

    judge()
    (artifacts / "debug.json").write_text(json.dumps(DEBUG, ensure_ascii=True))
    tally["distinct judged"] = len(seen)
    (artifacts / "tally.json").write_text(json.dumps(tally, indent=1), encoding="utf-8")
    print(f"parity: {dict(tally)}")
    assert tally["judged"] >= 500, tally
    assert tally["valid"] >= 100, tally
    assert tally["invalid"] >= 100, tally


@pytest.mark.parametrize("doc_type", EXPORTED_TYPES)
def test_every_example_is_valid_in_the_browser(page: Any, doc_type: str) -> None:
    doc = example(doc_type)
    stored = {**doc, "_rev": SPECIAL["_rev"], "_attachments": SPECIAL["_attachments"]}
    assert python_errors(doc) is None
    assert browser_verdicts(page, [doc, stored]) == [{"errors": None}, {"errors": None}]


def test_what_the_browser_leaves_to_the_server_is_unsupported(page: Any) -> None:
    docs = [example_v1("patrol"), example_v1("home_visit"), example("place"), example("user")]
    for doc, verdict in zip(docs, browser_verdicts(page, docs), strict=True):
        assert python_errors(doc) is None
        assert server_judges_alone(doc)
        assert "unsupported" in verdict, verdict


# One hand-written document per rule kind: its type, changes, the path and message key.
RULE_CASES: dict[str, tuple[str, list[tuple[tuple[Any, ...], Any]], tuple[str, ...], str]] = {
    "at_least": (
        "patrol",
        [(("ended_at",), "2024-08-25T13:59:59+08:00")],
        ("ended_at",),
        "ended_before_started",
    ),
    "within": (
        "patrol",
        [(("ended_at",), "2024-08-26T14:00:01+08:00")],
        ("ended_at",),
        "patrol_too_long",
    ),
    "in_order": (
        "patrol",
        [(("incidents", 0, "reached_at"), "2024-08-25T15:02:30+08:00")],
        ("incidents", "0", "reached_at"),
        "time_order",
    ),
    "required_when": (
        "water_source",
        [(("pipe_length_m",), None)],
        ("pipe_length_m",),
        "pipe_length_required",
    ),
    "any_of": (
        "home_visit",
        [(("services",), []), (("needs",), DELETE)],
        ("services",),
        "services_or_needs",
    ),
    "count_at_most": ("household", [(("size",), 1)], ("members",), "members_exceed_size"),
    "each_at_most": (
        "household",
        [(("members", 1, "birth_year"), 2025)],
        ("members", "1", "birth_year"),
        "birth_year_future",
    ),
    "parts_decreasing": (
        "home_visit",
        [(("health", "blood_pressure"), "80/120")],
        ("health", "blood_pressure"),
        "blood_pressure_invalid",
    ),
}
# The in_order message names the two fields it compared.
RULE_PARAMS = {"in_order": {"field": "reached_at", "previous": "contact_known_at"}}


def test_every_rule_kind_has_a_hand_written_case() -> None:
    declared = {
        (rule["rule"], rule["message"])
        for schema in SCHEMAS.values()
        for rule in schema.get("rules", ())
    }
    assert {kind for kind, _ in declared} == set(RULE_CASES)
    for kind, (_, _, _, key) in RULE_CASES.items():
        assert (kind, key) in declared


def _nest(path: tuple[str, ...], leaf: Any) -> dict[str, Any]:
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


@pytest.mark.parametrize("kind", sorted(RULE_CASES))
def test_a_broken_rule_reads_the_same_in_chinese_and_english(page: Any, kind: str) -> None:
    doc_type, changes, path, key = RULE_CASES[kind]
    doc = example(doc_type)
    for where, value in changes:
        doc = with_value(doc, where, value)
    message = msg(key, **RULE_PARAMS.get(kind, {}))
    assert python_errors(doc) == _nest(path, [message])
    found = json.loads(page.evaluate(_RENDER, json.dumps(doc, ensure_ascii=True)))
    halves = split_message(message)
    assert found["keys"] == _nest(path, [key])
    assert found["zh"] == _nest(path, [halves["zh"]])
    assert found["en"] == _nest(path, [halves["en"]])
