"""Both ends agree: the tablet's validator (field_client/web/js/validator.js, run in
Debian's chromium) gives every document the verdict and the messages that
`schemas.validate_document` gives on the server.

The page is `field_client/web/` served from 127.0.0.1 with the export
(`schemas.export.export_json()`) at /schemas.json, as the app fetches it; one validator is
created in it and kept on `window`. Documents cross to the page in batches, once per batch,
as ASCII-only JSON. For every document, Python's errors (JSON-normalised: list indices
become string keys) must equal the browser's `bilingual(validate(doc))`: the same verdict
and the same message at every field path. The entry rules ride along: `validate(doc,
{entry: true})` must equal `schemas.check_entry` (which adds them where a record is typed).

Three sources of documents, all starting from `schemas.testing.example(type)`:
- Hypothesis (`documents()`): random values of each field's kind, then zero to three
  mutations: a field dropped, nulled, given the wrong JSON type, a value of its own kind out
  of range or at its bounds, a bad id, an unknown key, list items duplicated, nulled, emptied
  or too many, a cross-field rule broken or met at its edge, a wrong `type` or
  `schema_version`, a tombstone, CouchDB's special members, the document itself replaced by
  a non-object. About a third of them stay valid.
- Every edge value of every field's kind at every place a field has in the examples
  (`single_changes()`): the date-time grammar (tests/test_schemas_fields.py's cases among
  them), control characters, blank text and Unicode blanks Python does not count as blank
  (U+FEFF, U+200B), text needing NFC (which may shorten or lengthen it), emoji, text one
  character too long, ids broken each way, place codes, numbers at and past their bounds.
- Every rule's edges and the envelope's (`rule_edges`, `envelope_edges()`), which a random
  search meets too rarely: equal instants in two offsets, microseconds past a bound, the
  seventh fraction digit, local dates and years against UTC ones, two rules on one field.

Every document is round-tripped through JSON before Python judges it, so both ends judge
the same JSON value (a Python str holding the two halves of a surrogate pair as lone
surrogates is one emoji once serialised).

Known, unavoidable divergences, which the generators keep away from:
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
import itertools
import json
import operator
import string
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import (
    CURRENT_VERSIONS,
    DocumentInvalid,
    check_entry,
    new_doc_id,
    upgrade,
    validate_document,
)
from schemas.export import EXPORTED_TYPES, export_json, export_schemas
from schemas.messages import msg, split_message
from schemas.testing import DELETE, example, example_v1, with_value

WEB = Path(__file__).resolve().parents[1] / "field_client" / "web"
EXPORT = export_schemas()
SCHEMAS: dict[str, Any] = EXPORT["schemas"]
MAX_SAFE = 2**53 - 1
T0 = 1724549400000  # schemas.testing's 2024-08-25T09:30:00+08:00 in ms

# -- the page -----------------------------------------------------------------------------

BLANK_PAGE = b'<!doctype html><meta charset="utf-8"><title>validator parity</title>'


class _Site(SimpleHTTPRequestHandler):
    """field_client/web/ as files, and the export where the test's page fetches it."""

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
        pass  # every import and fetch is a line: quiet


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

# One call per batch: an ASCII JSON string in, a JSON string out (so a "__proto__" key
# crosses exactly as JSON has it).
_JUDGE = """(batch) => {
  const { module, validator } = window.parity;
  const verdicts = JSON.parse(batch).map((doc) => {
    try {
      return {
        errors: validator.bilingual(validator.validate(doc)),
        entry: validator.bilingual(validator.validate(doc, { entry: true })),
      };
    } catch (error) {
      if (error instanceof module.Unsupported) return { unsupported: error.message };
      return { thrown: String((error && error.stack) || error) };
    }
  });
  return JSON.stringify(verdicts);
}"""

_RENDER = """([text, entry]) => {
  const { module, validator } = window.parity;
  const errors = validator.validate(JSON.parse(text), { entry });
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


# -- holding the two ends to each other ---------------------------------------------------


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


def python_entry_errors(doc: Any, errors: dict[str, Any] | None) -> dict[str, Any] | None:
    """check_entry's errors: `errors` (validate_document's) when there are any, else
    those of the type's entry rules."""
    if errors is not None:
        return errors  # check_entry validates first
    try:
        check_entry(doc)
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
    """{"incidents.0.kind": [messages]} of an error tree."""
    if isinstance(errors, dict):
        flat: dict[str, Any] = {}
        for key, value in errors.items():
            flat.update(flatten(value, (*path, key)))
        return flat
    return {".".join(path) or "(document)": errors}


def disagreement(doc: Any, python: Any, browser: Any, entry: bool = False) -> str:
    def verdict(errors: Any) -> str:
        return "valid" if errors is None else "invalid"

    ends = "validate(doc, {entry: true}) and check_entry" if entry else "validate_document"
    lines = [
        f"validator.js and schemas.{ends} disagree "
        f"(Python: {verdict(python)}, browser: {verdict(browser)})",
        "document:",
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


class Judge:
    """Sends batches to the page and holds every verdict to Python's; counts what it saw."""

    def __init__(self, page: Any, artifacts: Path) -> None:
        self.page = page
        self.artifacts = artifacts
        self.tally: Counter[str] = Counter()
        self.distinct: set[str] = set()

    def __call__(self, docs: list[Any]) -> None:
        for doc, verdict in zip(docs, browser_verdicts(self.page, docs), strict=True):
            expected = python_errors(doc)
            if "thrown" in verdict:
                self.fail(f"validate threw {verdict['thrown']}", doc)
            elif "unsupported" in verdict:
                if not server_judges_alone(doc):
                    self.fail(f"Unsupported ({verdict['unsupported']}) where Python judges", doc)
                self.tally["not judged (Unsupported)"] += 1
            elif verdict["errors"] != expected:
                self.fail(disagreement(doc, expected, verdict["errors"]), doc)
            elif verdict["entry"] != (at_entry := python_entry_errors(doc, expected)):
                self.fail(disagreement(doc, at_entry, verdict["entry"], entry=True), doc)
            else:
                self.tally["judged"] += 1
                self.tally["valid" if expected is None else "invalid"] += 1
                self.tally["refused at entry only"] += expected is None and at_entry is not None
                self.distinct.add(json.dumps(doc, sort_keys=True))

    def all(self, docs: list[Any], size: int = 500) -> None:
        for start in range(0, len(docs), size):
            self(docs[start : start + size])

    def fail(self, problem: str, doc: Any) -> NoReturn:
        # Hypothesis runs the smallest failing example last, so this file holds that one.
        report = f"{problem}\ndocument on one line: {json.dumps(doc, ensure_ascii=True)}"
        (self.artifacts / "disagreement.txt").write_text(report, encoding="utf-8")
        raise AssertionError(report)

    def summary(self) -> dict[str, int]:
        counts = {**self.tally, "distinct judged": len(self.distinct)}
        (self.artifacts / "tally.json").write_text(json.dumps(counts, indent=1), encoding="utf-8")
        print(f"\n{self.artifacts.name}: {counts}")
        return counts


# -- values of each field kind ------------------------------------------------------------

Draw = Callable[[st.SearchStrategy[Any]], Any]


def ulid_id(doc_type: str, seed: int) -> str:
    return new_doc_id(doc_type, T0 + seed, bytes([seed % 256]) * 10)


ULID = ulid_id("patrol", 7).partition(":")[2]

# Any field may meet these: one of each JSON type (no integral float: see the docstring).
WRONG_TYPES = [0, 7, -1, 1.5, -0.25, "12", "", "x", True, False, [], ["x"], {}, {"a": 1}]

# fmt: off
TEXT_VALUES = [
    "第三网格",
    "Cafe\u0301 第三网格",  # NFC composes é
    "\u212b\u2126 单位",  # singletons: Angstrom and Ohm signs become Å and Ω
    "\u1100\u1161\u11a8",  # conjoining jamo: one Hangul syllable after NFC
    "q\u0307\u0323",  # combining marks NFC reorders but cannot compose
    "\ufb2c \u0958",  # composition exclusions: NFC is longer (3 and 2 code points)
    "雨天 \U0001f327\ufe0f 👨\u200d👩\u200d👧 \U0001f1e8\U0001f1f3",
    "第一段\n第二段\t完",
    "\ufeff",  # a BOM: not blank to Python (JavaScript's trim() says it is)
    "\u200b",  # zero-width space: not blank either
    "\u180e",  # Mongolian vowel separator: Cf since Unicode 6.3, not blank
    "\u3000", "\u3000\u3000", "\u00a0", "\u2028\u2029", "\u1680\u205f\u202f", " \u3000\t\n",
    "\u2000\u2001",  # NFC turns these into other spaces
    "", "   ", "\n\t",
    "a\x00b", "a\rb", "a\x1bb", "a\x7fb", "a\x85b", "a\x9fb", "\x0b", "\x0c\x1f",
    "\x1c",  # a control character Python's isspace() also counts as blank
    "\ud800", "abc\udfff", "\ud83d",  # lone surrogates
    "\uffff\U0010ffff\U000e0001",  # noncharacters and a tag: assigned or not, not Cn here
]
DATE_VALUES = [
    "2024-08-25", "2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31",
    "2023-02-29", "1900-02-29", "2024-02-30", "2024-04-31", "2024-13-01", "2024-00-10",
    "2024-08-00", "0000-01-01", "2024-8-25", "20240825", "2024-08-25T00:00:00+08:00",
    "2024-08-25 ", "\uff12\uff10\uff12\uff14-08-25", "2024/08/25", "",
]
DATETIME_VALUES = [
    # In the shared grammar (tests/test_schemas_fields.py's cases first), and its edges.
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
    # Outside it.
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
    "\uff12024-08-25T09:30:00+08:00",
    # Naive: in the grammar but with no offset.
    "2024-08-25T09:30:00",
    "2024-08-25T09:30",
    "2024-08-25 09:30:00.5",
    "2024-02-30T09:30:00",  # no such day, and naive: invalid comes first
]
PLACE_VALUES = [
    "422827100201", "422827100201003", "422827", "422827100", "42282710020",
    "4228271002010031", "422827100201003001", "", "\uff14\uff12\uff12\uff18\uff12\uff17100201",
    " 422827100201", "422827100201\n", "42282a100201", 422827100201,
]
TOKEN_VALUES = {
    "device_invalid": [
        "tablet-xf-07", "a" * 64, "a" * 65, "tablet xf", "设备07", "tab:x.Y_9", "\uff54ab",
    ],
    "phone_invalid": [
        "13800000000", "12345", "1234", "1" * 20, "1" * 21, "+8613800000000",
        "138 0000 0000", "\uff11\uff13\uff18\uff10\uff10\uff10", "13800\u0660",
    ],
    "token_invalid": [
        "need-1", "n", "N.2:x_y", "a" * 64, "a" * 65, "need 1", "需求1", "need/1",
    ],
    "blood_pressure_invalid": [
        "120/80", "80/120", "120/120", "1200/80", "120-80", "120/80/60", "100/99", "99/100",
        "300/299", "12/11", "1/1", "080/060", "\uff11\uff12\uff10/80", " 120/80",
    ],
}
OTHER_CHOICES = ["Fraud", " fraud", "fraud ", "police", "in_use", "haircut", "urgent", "other"]
# fmt: on


def id_values(doc_type: str | None) -> list[Any]:
    """Ids a field expecting `doc_type` (None: any, as `_id`) may meet: each check of
    ids.py failing alone, and several failing at once (the first one speaks)."""
    own = doc_type or "patrol"
    # fmt: off
    return [
        ulid_id(own, 11), ulid_id("household", 12), ulid_id("patrol", 13),
        "user:zhangsan", "user:zhang.san_2-b", "station:xiangfeng-01",
        "team:zhangfuqing-xiangfeng", "place:422827100201",
        "user:" + "a" * 200, "user:" + "a" * 201,
        "user:" + "a" * 507,  # 512 bytes, too long a slug
        "user:" + "a" * 508,  # 513 bytes
        "user:" + "区" * 169,  # 512 bytes of UTF-8
        "user:" + "区" * 170,
        "user:张三", "user:zhang san", "user:",
        f"{own}:", f"{own}:{ULID.lower()}", f"{own}:{ULID[:-1]}", f"{own}:{ULID}0",
        f"{own}:8{ULID[1:]}", f"{own}:{ULID[:-1]}I", f"{own}:{ULID[:-1]}L",
        f"{own}:{ULID[:-1]}O", f"{own}:{ULID[:-1]}U", f"{own}:slug-like",
        f"{own}{ULID}", f"{own}:{ULID}/x", f"foo:{ULID}", f"Patrol:{ULID}", f":{ULID}",
        "", "_design/x", "_local",
        f"{own}:{ULID}\x00", f"{own}:{ULID}\x7f", f"{own}:{ULID}\x9f", f"{own}:{ULID}\t",
        f"{own}:{ULID}\n", f"{own}:{ULID}\ud800", f"{own}:{ULID}\u3000",
        # Several problems: the order of ids.py's checks decides the message.
        "_\ud800", "\x00" * 600, "_" + "a" * 600, "_a\x00", "_a/b", "a/b\x00", "foo/bar",
        "foo/bar:x", "foo:bar/x", f"household:{ULID}/", "household:abc",
    ]
    # fmt: on


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
            "\ufb2c" * (top // 3),  # 3 code points each once normalised: just fits
            "\ufb2c" * (top // 3 + 1),  # fits as sent, too long once normalised
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
        if kind == "number":  # a Number keeps floats as given: integral ones are fine
            found += [-0.0, 3.0, 1e308, -1e308, 5e-324, 1e16, 12.5]
        return found
    if kind == "list":
        return [[], [None], "a, b", {"0": "x"}]
    if kind == "object":
        return [[], [{}], "x", 1, True, {}]
    raise AssertionError(f"no values for the field kind {kind}")


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ulids = st.builds(
    operator.add, st.sampled_from("01234567"), st.text(CROCKFORD, min_size=25, max_size=25)
)
slugs = st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=24)
assigned = st.characters(exclude_categories=("Cn", "Cs"))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE, MAX_SAFE)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer())
    | st.text(assigned, max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text("abcxyz_", min_size=1, max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def ids_of(doc_type: str) -> st.SearchStrategy[str]:
    rests = ulids | slugs if doc_type in EXPORT["ids"]["slug_types"] else ulids
    return rests.map(lambda rest: f"{doc_type}:{rest}")


@st.composite
def datetime_texts(draw: Draw, offset: bool = True) -> str:
    """A time in the shared grammar: any year, any offset, every spelling of each part."""
    moment = draw(st.datetimes())
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    text += draw(st.sampled_from("T ")) + f"{moment.hour:02d}:{moment.minute:02d}"
    if draw(st.booleans()):
        text += f":{moment.second:02d}"
        if draw(st.booleans()):
            fraction = draw(st.text("0123456789", min_size=1, max_size=9))
            text += draw(st.sampled_from(".,")) + fraction
    if not offset:
        return text
    if draw(st.integers(0, 4)) == 0:
        return text + "Z"
    hours = f"{draw(st.integers(0, 23)):02d}"
    minutes = f"{draw(st.integers(0, 59)):02d}"
    text += draw(st.sampled_from("+-")) + hours
    return text + draw(st.sampled_from([f":{minutes}", minutes, ""]))


def likely_valid(field: dict[str, Any]) -> st.SearchStrategy[Any] | None:
    """Random values of the field's kind inside its bounds: most pass (a rule may not)."""
    kind = field["kind"]
    limits = bounds(field, "range") or {"min": None, "max": None, "min_exclusive": False}
    low = -MAX_SAFE if limits["min"] is None else limits["min"]
    high = MAX_SAFE if limits["max"] is None else limits["max"]
    strategies: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
        "text": lambda: st.text(
            st.characters(exclude_categories=("Cn", "Cs", "Cc")),
            min_size=1,
            max_size=min(field["max_length"], 24),
        ),
        "token": lambda: st.sampled_from(TOKEN_VALUES[field["message"]]),
        "choice": lambda: st.sampled_from([choice["value"] for choice in field["choices"]]),
        "bool": st.booleans,
        "date": lambda: st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"),
        "datetime": datetime_texts,
        "place_code": lambda: st.sampled_from([12, 15]).flatmap(
            lambda size: st.text("0123456789", min_size=size, max_size=size)
        ),
        "int": lambda: st.integers(low, high),
        "number": lambda: (
            st.integers(low + limits["min_exclusive"], high)
            | st.floats(low, high, exclude_min=limits["min_exclusive"])
        ),
    }
    if kind == "doc_id" and field["doc_type"]:
        return ids_of(field["doc_type"])
    return strategies[kind]() if kind in strategies else None  # lists, objects: by items


def has_random(field: dict[str, Any]) -> bool:
    """Whether `likely_valid` has values for the field (cheaper than asking it)."""
    if field["kind"] == "doc_id":
        return field["doc_type"] is not None
    return field["kind"] not in ("list", "object")


# -- where the fields of a document are ---------------------------------------------------


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


def field_slots(doc: Any, doc_type: str, want: Callable[[Slot], bool]) -> list[Slot]:
    if not isinstance(doc, dict):
        return []
    return [slot for slot in slots(EXPORT["types"][doc_type]["schema"], doc) if want(slot)]


def at(doc: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def put(doc: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """`doc` with `value` at `path` (DELETE removes it), changed in place."""
    container = at(doc, path[:-1])
    if value is DELETE and isinstance(container, dict):
        container.pop(path[-1], None)
    elif value is DELETE:
        del container[path[-1]]
    else:
        container[path[-1]] = value
    return doc


Change = tuple[tuple[str | int, ...], Any]


def changed(doc: Any, changes: list[Change]) -> Any:
    """`doc` with each change whose place still exists (earlier mutations may have
    replaced a list or an object)."""
    for path, value in changes:
        try:
            put(doc, path, value if value is DELETE else copy.deepcopy(value))
        except (KeyError, IndexError, TypeError):
            pass
    return doc


# -- every rule's edges -------------------------------------------------------------------

STARTED = "2024-08-25T14:00:00+08:00"  # the patrol's started_at
# fmt: off
UPDATED_EDGES = [
    "2024-08-25T09:29:59+08:00", "2024-08-25T09:29:59.999999+08:00",
    "2024-08-25T09:30:00.000001+08:00",
    "2024-08-25T01:30:00Z",  # the same instant: not earlier
    "2024-08-25T01:29:59.9999999Z",  # the 7th digit is dropped: still earlier
    "2024-08-24T21:30:00-04:00", "2024-08-24T21:29:59-04:00",
]
ENDED_EDGES = [
    "2024-08-25T13:59:59+08:00",  # ended before started
    "2024-08-25T05:59:59.999999Z", "2024-08-25T06:00:00Z",  # the same instant
    "2024-08-26T14:00:00+08:00",  # exactly 24 h
    "2024-08-26T06:00:00Z", "2024-08-26T00:00:00-06:00",
    "2024-08-26T14:00:01+08:00", "2024-08-26T14:00:00.000001+08:00",
    "2024-08-26T14:00:00.0000009+08:00",  # past the 6th digit: exactly 24 h
    "2024-09-25T14:00:00+08:00",
]
# fmt: on
RESPONSE_TIMES = ["reported_at", "contact_known_at", "reached_at", "on_site_at"]


def _review_edges() -> list[list[Change]]:
    values = {"by": "user:lisi", "at": "2024-08-26T10:00:00+08:00", "comment": "请补充"}
    edges = []
    for state in ("pending", "approved", "returned"):
        for given_parts in itertools.product([DELETE, None, True], repeat=3):
            review: dict[str, Any] = {"state": state}
            for (name, value), part in zip(values.items(), given_parts, strict=True):
                if part is not DELETE:
                    review[name] = value if part else None
            edges.append([(("review",), review)])
    return edges


def _patrol_edges() -> dict[str, list[list[Change]]]:
    times = [f"2024-08-25T15:0{minute}:00+08:00" for minute in range(4)]
    orders = [
        [(("incidents", 0, name), value) for name, value in zip(RESPONSE_TIMES, order, strict=True)]
        for order in itertools.permutations(times)
    ]
    for kept in itertools.product([True, False], repeat=4):  # partly recorded, backwards
        orders.append(
            [
                (("incidents", 0, name), value if keep else DELETE)
                for name, value, keep in zip(RESPONSE_TIMES, reversed(times), kept, strict=True)
            ]
        )
    same_instant = ["2024-08-25T07:02:00Z", "2024-08-25T15:02:00+08:00", "2024-08-25T03:02-04"]
    orders.append(
        [(("incidents", 0, n), v) for n, v in zip(RESPONSE_TIMES[1:], same_instant, strict=True)]
    )
    return {
        "ended_at": [[(("started_at",), STARTED), (("ended_at",), end)] for end in ENDED_EDGES]
        + [
            # 24 h and 1 us, which a fraction cut at 5 digits would miss.
            [
                (("started_at",), "2024-08-25T14:00:00.000005+08:00"),
                (("ended_at",), "2024-08-26T14:00:00.000006+08:00"),
            ]
        ],
        "response_times": orders,
        "entry": [  # not after updated_at, 2024-08-25T18:05:00+08:00
            [(("ended_at",), "2024-08-25T18:05:00+08:00")],
            [(("ended_at",), "2024-08-25T18:05:00.000001+08:00")],
            [(("ended_at",), "2024-08-25T10:05:00.0000009Z")],  # the 7th digit: the same
            [(("ended_at",), "2024-08-25T10:05:01Z")],
            [(("started_at",), "2024-08-25T18:06:00+08:00"), (("ended_at",), "2024-08-26T01:00Z")],
            [(("started_at",), "2099-01-01T09:00+08:00"), (("ended_at",), "2099-01-01T10:00+08")],
        ],
    }


def _water_source_edges() -> dict[str, list[list[Change]]]:
    households = [DELETE, None, 0, 20, 101]
    people = [DELETE, None, 0, 19, 20, 100]
    statuses = ["found", "assessed", "piped", "in_use", "dry", "abandoned"]
    return {
        "served": [
            [(("households_served",), h), (("people_served",), p)]
            for h, p in itertools.product(households, people)
        ],
        "piped": [
            [(("status",), status), (("pipe_length_m",), pipe)]
            for status, pipe in itertools.product(statuses, [DELETE, None, 0, 320])
        ],
        "entry": [  # found_on not after the local date of updated_at
            [(("updated_at",), updated), (("found_on",), found)]
            for updated, found in itertools.product(
                [
                    "2024-08-25T18:05:00+08:00",
                    "2024-08-25T23:30:00-05:00",  # 2024-08-26 in UTC
                    "2024-08-26T00:30:00+08:00",  # 2024-08-25 in UTC
                ],
                ["2024-08-24", "2024-08-25", "2024-08-26", "2024-08-27"],
            )
        ],
    }


def _home_visit_edges() -> dict[str, list[list[Change]]]:
    visits = [
        "2024-08-25T09:30:00+08:00",
        "2024-08-26T00:30:00+08:00",  # 2024-08-25 in UTC
        "2024-08-25T23:30:00-05:00",  # 2024-08-26 in UTC
    ]
    need = example("home_visit")["needs"][0]
    needs_lists: list[Any] = [DELETE, None, [], [need]]
    return {
        "follow_up": [
            [(("visited_at",), visit), (("follow_up", "due_on"), due)]
            for visit, due in itertools.product(visits, ["2024-08-24", "2024-08-25", "2024-08-26"])
        ]
        + [[(("follow_up",), DELETE)], [(("follow_up",), None)]],
        "services_or_needs": [
            [(("services",), services), (("needs",), needs)]
            for services, needs in itertools.product([DELETE, None, [], ["haircut"]], needs_lists)
        ],
        "blood_pressure": [
            [(("health",), {"blood_pressure": value})]
            for value in TOKEN_VALUES["blood_pressure_invalid"]
        ],
        "entry": [  # visited_at not after updated_at, 2024-08-25T18:05:00+08:00
            [(("visited_at",), visit)]
            for visit in [
                "2024-08-25T18:05:00+08:00",
                "2024-08-25T18:05:00.000001+08:00",
                "2024-08-25T10:05:00Z",
                "2024-08-25T10:05:01Z",
                "2024-08-25T05:05:01-05:00",
            ]
        ],
        "unique": [
            [(("needs",), [need, need])],
            [(("needs",), [need, {**need, "category": "其他"}])],
            [(("needs",), [need, {**need, "need_id": "need-2"}])],
            [(("services",), ["haircut", "cleaning", "haircut"])],
            [(("volunteers",), ["user:zhangsan", "user:zhangsan"])],
            [(("vulnerability",), ["disabled", "disabled"])],
        ],
    }


def _household_edges() -> dict[str, list[list[Change]]]:
    creations = [
        ("2024-08-25T09:30:00+08:00", "2024-08-25T18:05:00+08:00"),
        ("2025-01-01T00:30:00+08:00", "2025-01-01T01:00:00+08:00"),  # 2024 in UTC
        ("2024-12-31T23:30:00-05:00", "2024-12-31T23:45:00-05:00"),  # 2025 in UTC
    ]
    years = [[2025], [1948, 2025], [2025, 2026], [2024], [None], [2024, None, 2025]]
    born = [
        [
            (("created_at",), created),
            (("updated_at",), updated),
            (("size",), size),
            (("members",), [{"name": f"成员{i}", "birth_year": y} for i, y in enumerate(ys)]),
        ]
        for (created, updated), ys, size in itertools.product(creations, years, [3, 1])
    ]  # size 1 with late births: two rules on `members`, the first one speaks
    return {
        "members": [
            [(("size",), size), (("members",), [{"name": f"成员{i}"} for i in range(count)])]
            for size, count in itertools.product([1, 2, 3], range(5))
        ]
        + [[(("size",), 1), (("members",), None)], [(("size",), 1), (("members",), DELETE)]],
        "birth_years": born,
        "unique": [[(("vulnerability",), ["disabled", "low_income", "disabled"])]],
    }


def rule_edges(doc_type: str) -> dict[str, list[list[Change]]]:
    """Each rule of the type broken and met at its edges, by family: change sets to
    apply to the type's example."""
    own = {
        "patrol": _patrol_edges,
        "water_source": _water_source_edges,
        "home_visit": _home_visit_edges,
        "household": _household_edges,
    }[doc_type]()
    microseconds = [
        (("created_at",), "2024-08-25T09:30:00.000005+08:00"),
        (("updated_at",), "2024-08-25T09:30:00.000001+08:00"),
    ]
    return {
        "updated_at": [[(("updated_at",), when)] for when in UPDATED_EDGES] + [microseconds],
        "review": _review_edges(),
        **own,
    }


RULE_EDGES = {doc_type: rule_edges(doc_type) for doc_type in EXPORTED_TYPES}

# -- the envelope's edges: type, version, ids, tombstones, CouchDB's members ---------------

# fmt: off
SPECIAL = {
    "_rev": "2-6b21f266ce3a1f1809483fd450343625",
    "_attachments": {"photo.jpg": {"stub": True, "digest": "md5-x", "length": 1}},
    "_revisions": {"start": 2, "ids": ["b" * 32, "a" * 32]},
    "_conflicts": ["2-" + "c" * 32],
    "_deleted_conflicts": [],
    "_local_seq": 7,
    "_revs_info": None,
}
TYPE_VALUES = [
    DELETE, None, 1, True, "Patrol", "unknown", "", "__proto__", "toString", "place", "team",
    "station", "user", "rejection_notice", *EXPORTED_TYPES,
]
NOT_DELETED = [False, "true", 1, None, [True]]  # `_deleted` that is no tombstone
# Keys no schema has (and one each schema has under another name).
UNKNOWN_KEYS = [
    "note", "Type", "_foo", "__proto__", "constructor", "toString", "doc_id", "type ",
    "中文字段", "\x00", "", "_id_", "_deleted_", "_schema", "_id ",
]
# fmt: on


def version_values(doc_type: str) -> list[Any]:
    current = CURRENT_VERSIONS[doc_type]
    return [DELETE, None, 0, -1, "2", 1.5, True, False, [2], 1, current + 1, 99, MAX_SAFE]


def envelope_edges() -> Iterator[Any]:
    for doc_type in EXPORTED_TYPES:
        base = example(doc_type)
        for value in TYPE_VALUES:
            yield changed(example(doc_type), [(("type",), value)])
        for value in version_values(doc_type):
            yield changed(example(doc_type), [(("schema_version",), value)])
        for other in EXPORTED_TYPES:  # the _id of another type: id_prefix_mismatch
            yield changed(example(doc_type), [(("_id",), ulid_id(other, 21))])
        for name, value in [*SPECIAL.items(), *((key, 1) for key in UNKNOWN_KEYS)]:
            yield {**base, name: value}
        for value in NOT_DELETED:
            yield {**base, "_deleted": value}
        yield {**base, "_deleted": True}
        for tombstone_id in [DELETE, None, 7, *id_values(None)]:
            removed = {"_id": base["_id"], "_rev": SPECIAL["_rev"], "_deleted": True}
            yield changed(removed, [(("_id",), tombstone_id)])
        yield [base]
    yield from [None, [], "patrol", 7, True, {}]


# -- generated documents ------------------------------------------------------------------

# The fields that choose the schema: changed by their own mutations only.
HEADER = {("type",), ("schema_version",), ("_id",)}


def draw_slot(draw: Draw, doc: Any, doc_type: str, want: Callable[[Slot], bool]) -> Slot | None:
    found = field_slots(doc, doc_type, want)
    return draw(st.sampled_from(found)) if found else None


def benign(draw: Draw, doc: Any, doc_type: str) -> Any:
    """A change the schema should mostly accept: an optional field left out or null,
    a CouchDB member, a random value of a field's kind within its bounds."""
    action = draw(st.sampled_from(["value", "optional", "special", "value", "value"]))
    if action == "special" and isinstance(doc, dict):
        name = draw(st.sampled_from(sorted(SPECIAL)))
        doc[name] = copy.deepcopy(SPECIAL[name])
        return doc
    if action == "optional":
        slot = draw_slot(draw, doc, doc_type, lambda s: s.present and s.field["allow_none"])
        return doc if slot is None else put(doc, slot.path, draw(st.sampled_from([None, DELETE])))
    slot = draw_slot(draw, doc, doc_type, lambda s: s.path not in HEADER and has_random(s.field))
    return doc if slot is None else put(doc, slot.path, draw(likely_valid(slot.field)))


# Each mutation: (draw, doc, its type) -> the mutated doc (changed in place, or new).


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
    if slot.field["kind"] == "datetime" and draw(st.booleans()):
        return put(doc, slot.path, draw(datetime_texts(offset=draw(st.booleans()))))
    return put(doc, slot.path, copy.deepcopy(draw(st.sampled_from(kind_values(slot.field)))))


def random_value(draw: Draw, doc: Any, doc_type: str) -> Any:
    slot = draw_slot(draw, doc, doc_type, lambda s: True)
    if slot is None:
        return doc
    if slot.field["kind"] in ("text", "token"):
        return put(doc, slot.path, draw(st.text(assigned, min_size=1, max_size=16)))
    return put(doc, slot.path, draw(json_values))


def bad_id(draw: Draw, doc: Any, doc_type: str) -> Any:
    """An id of every kind: the record's own, its references, list items, the review's."""
    slot = draw_slot(draw, doc, doc_type, lambda s: s.field["kind"] == "doc_id")
    if slot is None:
        return doc
    return put(doc, slot.path, draw(st.sampled_from(id_values(slot.field["doc_type"]))))


def unknown_key(draw: Draw, doc: Any, doc_type: str) -> Any:
    if not isinstance(doc, dict):
        return doc
    objects = [()] + [
        s.path
        for s in field_slots(doc, doc_type, lambda s: s.field["kind"] == "object" and s.present)
        if isinstance(at(doc, s.path), dict)
    ]
    at(doc, draw(st.sampled_from(objects)))[draw(st.sampled_from(UNKNOWN_KEYS))] = draw(json_values)
    return doc


def list_items(draw: Draw, doc: Any, doc_type: str) -> Any:
    """A list field's items: duplicated, nulled, emptied, dropped, reversed, too many."""
    slot = draw_slot(draw, doc, doc_type, lambda s: s.field["kind"] == "list" and s.present)
    if slot is None or not isinstance(at(doc, slot.path), list):
        return doc
    items: list[Any] = at(doc, slot.path)
    action = draw(st.sampled_from(["duplicate", "null", "empty", "too_many", "drop", "reverse"]))
    if action == "duplicate" and items:
        items.insert(draw(st.integers(0, len(items))), copy.deepcopy(draw(st.sampled_from(items))))
    elif action == "null":
        items.insert(draw(st.integers(0, len(items))), None)
    elif action == "empty":
        items.clear()
    elif action == "drop" and items:
        del items[draw(st.integers(0, len(items) - 1))]
    elif action == "reverse":
        items.reverse()
    elif action == "too_many":
        length = bounds(slot.field, "length")
        most = 60 if length is None or length["max"] is None else length["max"]
        if most <= 250:  # not the track's 20000 points
            count = most + draw(st.integers(0, 1))
            put(doc, slot.path, many_items(slot.field["item"], items, count))
    return doc


def many_items(item: dict[str, Any], items: list[Any], count: int) -> list[Any]:
    """`count` items like `items`, distinct where a list wants them unique."""
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


def cross_field(draw: Draw, doc: Any, doc_type: str) -> Any:
    family = draw(st.sampled_from(sorted(RULE_EDGES[doc_type])))
    return changed(doc, draw(st.sampled_from(RULE_EDGES[doc_type][family])))


def doc_type_value(draw: Draw, doc: Any, doc_type: str) -> Any:
    return changed(doc, [(("type",), draw(st.sampled_from(TYPE_VALUES)))])


def version_value(draw: Draw, doc: Any, doc_type: str) -> Any:
    return changed(doc, [(("schema_version",), draw(st.sampled_from(version_values(doc_type))))])


def tombstone(draw: Draw, doc: Any, doc_type: str) -> Any:
    if not isinstance(doc, dict):
        return doc
    shape = draw(st.sampled_from(["whole", "minimal", "not_true"]))
    if shape == "not_true":
        doc["_deleted"] = draw(st.sampled_from(NOT_DELETED))
        return doc
    if shape == "minimal":
        doc = {key: doc[key] for key in ("_id", "_rev") if key in doc}
    doc["_deleted"] = True
    if draw(st.booleans()):
        changed(doc, [(("_id",), draw(st.sampled_from([DELETE, None, 7, *id_values(None)])))])
    return doc


def member(draw: Draw, doc: Any, doc_type: str) -> Any:
    if isinstance(doc, dict):
        name = draw(st.sampled_from(sorted(SPECIAL)))
        doc[name] = draw(st.just(copy.deepcopy(SPECIAL[name])) | json_values)
    return doc


# Weights: rules speak only once every field passes, so they get many draws.
BREAKING: list[tuple[int, Callable[[Draw, Any, str], Any]]] = [
    (2, drop_field),
    (2, null_field),
    (2, wrong_type),
    (6, own_kind_value),
    (2, random_value),
    (2, bad_id),
    (2, unknown_key),
    (3, list_items),
    (10, cross_field),
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
    for _ in range(draw(st.integers(1, 3))):
        doc = benign(draw, doc, doc_type)
    count = draw(st.integers(0, 3)) or draw(st.integers(0, 1))  # a third or so stay valid
    for _ in range(count):
        doc = draw(st.sampled_from(MUTATIONS))(draw, doc, doc_type)
    if count and draw(st.integers(0, 60)) == 0:
        doc = draw(st.sampled_from([None, [], [doc], "patrol", 7, True]))
    return as_json(doc)


# -- the tests ----------------------------------------------------------------------------


def test_both_ends_agree_on_generated_documents(page: Any, artifacts: Path) -> None:
    judge = Judge(page, artifacts)

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(documents(), min_size=10, max_size=20))
    def batches(docs: list[Any]) -> None:
        judge(docs)

    batches()
    counts = judge.summary()
    assert counts["judged"] >= 500, counts
    assert counts["valid"] >= 100, counts
    assert counts["invalid"] >= 100, counts
    assert counts["distinct judged"] >= 250, counts  # the generator still varies


def first_item(slot: Slot) -> bool:
    return not any(isinstance(part, int) and part > 0 for part in slot.path)


def single_changes() -> Iterator[Any]:
    """Every example with one field given each value its kind's list holds, a value of
    each JSON type, null, or left out: every edge at every place, on every run (a list's
    first item stands for the others)."""
    for doc_type in EXPORTED_TYPES:
        base = example(doc_type)
        for slot in field_slots(base, doc_type, first_item):
            for value in [*kind_values(slot.field), *WRONG_TYPES, None, DELETE]:
                yield as_json(changed(copy.deepcopy(base), [(slot.path, value)]))


def test_every_edge_value_in_every_field_gets_the_same_verdict(page: Any, artifacts: Path) -> None:
    judge = Judge(page, artifacts)
    docs = list(single_changes())
    judge.all(docs)
    counts = judge.summary()
    assert counts["judged"] + counts["not judged (Unsupported)"] == len(docs), counts
    assert counts["judged"] > 4000, counts


def test_every_rule_and_envelope_edge_gets_the_same_verdict(page: Any, artifacts: Path) -> None:
    docs = [
        as_json(changed(example(doc_type), changes))
        for doc_type, families in RULE_EDGES.items()
        for edges in families.values()
        for changes in edges
    ]
    docs += [as_json(doc) for doc in envelope_edges()]
    judge = Judge(page, artifacts)
    judge.all(docs)
    counts = judge.summary()
    assert counts["judged"] + counts["not judged (Unsupported)"] == len(docs), counts
    assert counts["valid"] >= 100 and counts["invalid"] >= 500, counts


@pytest.mark.parametrize("doc_type", EXPORTED_TYPES)
def test_every_example_is_valid_in_the_browser(page: Any, doc_type: str) -> None:
    doc = example(doc_type)
    stored = {**doc, "_rev": SPECIAL["_rev"], "_attachments": SPECIAL["_attachments"]}
    assert python_errors(doc) is None
    valid = {"errors": None, "entry": None}
    assert browser_verdicts(page, [doc, stored]) == [valid, valid]


def test_what_the_browser_leaves_to_the_server_is_unsupported(page: Any) -> None:
    docs = [example_v1("patrol"), example_v1("home_visit"), example("place"), example("user")]
    for doc, verdict in zip(docs, browser_verdicts(page, docs), strict=True):
        assert python_errors(doc) is None
        assert server_judges_alone(doc)
        assert "unsupported" in verdict, verdict


# One hand-written document per rule kind: its type, changes, the path and message key.
RULE_CASES: dict[str, tuple[str, list[Change], tuple[str, ...], str]] = {
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
    # An entry rule: checked where the record is typed (validate(doc, {entry: true}) and
    # check_entry), not on arrival.
    "not_after": (
        "home_visit",
        [(("visited_at",), "2024-08-25T18:05:01+08:00")],
        ("visited_at",),
        "in_the_future",
    ),
}
ENTRY_RULE_KINDS = {"not_after"}
# The in_order message names the two fields it compared.
RULE_PARAMS = {"in_order": {"field": "reached_at", "previous": "contact_known_at"}}


def _declared(which: str) -> set[tuple[str, str]]:
    return {
        (rule["rule"], rule["message"])
        for schema in SCHEMAS.values()
        for rule in schema.get(which, ())
    }


def test_every_rule_kind_has_a_hand_written_case() -> None:
    rules, entry_rules = _declared("rules"), _declared("entry_rules")
    assert {kind for kind, _ in rules | entry_rules} == set(RULE_CASES)
    assert {kind for kind, _ in entry_rules} == ENTRY_RULE_KINDS
    for kind, (_, _, _, key) in RULE_CASES.items():
        assert (kind, key) in (entry_rules if kind in ENTRY_RULE_KINDS else rules)


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
    entry = kind in ENTRY_RULE_KINDS
    errors = python_errors(doc)
    assert python_entry_errors(doc, errors) == _nest(path, [message])
    assert errors == (None if entry else _nest(path, [message]))  # no entry rule on arrival
    found = json.loads(page.evaluate(_RENDER, [json.dumps(doc, ensure_ascii=True), entry]))
    halves = split_message(message)
    assert found["keys"] == _nest(path, [key])
    assert found["zh"] == _nest(path, [halves["zh"]])
    assert found["en"] == _nest(path, [halves["en"]])
