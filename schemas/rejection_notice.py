"""Rejection notice 退回通知: written by the server, never by a tablet.

When the server refuses a pushed revision it keeps the revision in its
quarantine and writes this notice in the author's place, so it replicates back
to the tablet and the volunteer learns what to correct. A corrected revision of
the same document deletes the notice. The id is derived from the refused
document's id, so a second refusal replaces the first notice instead of adding one.
"""

from __future__ import annotations

import hashlib

from .envelope import ReferenceEnvelope
from .fields import AwareDateTime, List, Text
from .validators import Length

SERVER_ONLY = True  # field roles may never write this type


def notice_id(rejected_doc_id: str) -> str:
    digest = hashlib.md5(rejected_doc_id.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"rejection_notice:{digest}"


class RejectionNotice(ReferenceEnvelope):
    doc_type = "rejection_notice"
    version = 1

    about = Text(max_length=600, required=True)  # the refused document's id, as sent
    rev = Text(max_length=100, required=True)
    reasons = List(Text(max_length=2000), required=True, validate=Length(1, 50))
    rejected_at = AwareDateTime(required=True)
    pushed_by = Text(max_length=64, required=True)
