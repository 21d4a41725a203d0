"""Writer process for tests/test_crash_safety.py: write until SIGKILLed.

Usage: python tests/support/crash_writer.py DB_PATH SEED TAG

Opens a SqliteStore on DB_PATH and alternates single `put`s (a new document,
or an edit of an existing one) with `bulk_docs` batches of 1-200 new
documents. Around every call it prints one JSON line to stdout and flushes,
so the parent knows exactly what was asked and what was acknowledged:

    {"ready": <documents already stored>}
    {"begin": "put"|"bulk", "docs": [[id, sum], ...]}        before the call
    {"ack": "put"|"bulk", "docs": [[id, rev, sum], ...]}     after it returned

`sum` is the SHA-256 of the document body (every member except `_id`, `_rev`
and `sum` itself, canonical JSON); each document also carries its own `sum`,
so any stored document can be checked for a torn body even if its write was
never acknowledged. Bulk documents share `batch` and `batch_size` so a reader
can tell a half-written batch without knowing the writer's history.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from pathlib import Path

# Runnable as a plain script from any directory: the repository root holds `sync`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sync.sqlite_store import SqliteStore  # noqa: E402

MAX_SECONDS = 30.0  # the parent kills us long before; this only stops orphans

_NAMES = ["田德福", "向秀英", "彭桂兰", "张长清", "覃玉梅", "冉光明", "姚国强", "滕春花"]
_PLACES = ["翔凤镇白岩村", "百福司镇舍米湖村", "大河镇五台村", "绿水镇老寨村", "漫水乡鱼塘村"]
_SENTENCES = [
    "为瘫痪在床的老人上门理发,每月一次。",
    "打扫房前屋后卫生,清理灶台和水缸。",
    "测量血压 150/95,建议到镇卫生院复查。",
    "微心愿:需要一台电暖器过冬。",
    "宣讲城乡居民医保缴费政策,提醒防范电信诈骗。",
    "孩子由奶奶照看,需要课外辅导数学。",
    # Text that must survive byte for byte: mojibake from a mis-decoded form,
    # traditional characters, a character outside the BMP, an emoji.
    "備註:耙鎲ⅰ 開發(fā)區(qū)。",
    "姓氏𠀾(扩展B区),老人很满意👍。",
]


def body_sum(doc: dict) -> str:
    """Checksum of what the writer meant to store, independent of `_` members."""
    body = {k: v for k, v in doc.items() if not k.startswith("_") and k != "sum"}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _emit(record: dict) -> None:
    # One line per event, flushed at once: the parent may kill us right after.
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _notes(rng: random.Random) -> str:
    return "".join(rng.choice(_SENTENCES) for _ in range(rng.randint(1, 6)))


def _new_doc(rng: random.Random, doc_id: str, batch: str, batch_size: int) -> dict:
    doc = {
        "_id": doc_id,
        "type": "home_visit",
        "batch": batch,
        "batch_size": batch_size,
        "edit": 0,
        "household": {"head": rng.choice(_NAMES), "address": rng.choice(_PLACES)},
        "duration_min": rng.choice([20, 30, 45, 60]),
        "notes": _notes(rng),
    }
    doc["sum"] = body_sum(doc)
    return doc


def main(db_path: str, seed: int, tag: str) -> None:
    rng = random.Random(seed)
    deadline = time.monotonic() + MAX_SECONDS
    store = SqliteStore(db_path)
    # Earlier runs' documents are edit candidates: later runs write on top of them.
    existing = [row["id"] for row in store.all_docs()]
    _emit({"ready": len(existing)})
    counter = 0
    for step in range(1_000_000):
        if time.monotonic() > deadline:
            break
        if step % 2 == 0:  # single put: edit an existing document or create one
            if existing and rng.random() < 0.5:
                doc = store.get(rng.choice(existing))
                doc["edit"] += 1
                doc["notes"] = _notes(rng)
                doc["sum"] = body_sum(doc)
            else:
                counter += 1
                doc = _new_doc(rng, f"crash:{tag}-{counter:05d}", f"{tag}-p{step:05d}", 1)
                existing.append(doc["_id"])
            _emit({"begin": "put", "docs": [[doc["_id"], doc["sum"]]]})
            rev = store.put(doc)
            _emit({"ack": "put", "docs": [[doc["_id"], rev, doc["sum"]]]})
        else:
            size = rng.randint(1, 200)
            docs = []
            for _ in range(size):
                counter += 1
                docs.append(_new_doc(rng, f"crash:{tag}-{counter:05d}", f"{tag}-b{step:05d}", size))
            _emit({"begin": "bulk", "docs": [[d["_id"], d["sum"]] for d in docs]})
            results = store.bulk_docs(docs)
            failed = [
                r
                for r, d in zip(results, docs, strict=False)
                if not r.get("ok") or r.get("id") != d["_id"]
            ]
            if failed or len(results) != size:
                raise SystemExit(f"bulk_docs refused new documents: {failed[:3]}")
            _emit(
                {
                    "ack": "bulk",
                    "docs": [
                        [r["id"], r["rev"], d["sum"]] for r, d in zip(results, docs, strict=True)
                    ],
                }
            )
            existing.extend(d["_id"] for d in docs)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
