"""fieldsync document schemas: validation, ids, place codes and versions.

Pure: no I/O, no database, no clock inside validation. Imports nothing from
sync/, server/ or field_client/.
"""

from .envelope import COUCHDB_SPECIAL_MEMBERS
from .ids import (
    DOC_TYPES,
    REFERENCE_TYPES,
    doc_id_error,
    generate_doc_id,
    new_doc_id,
    split_doc_id,
    ulid_time_ms,
)
from .messages import located, msg, split_message
from .places import (
    PLACE_LEVELS,
    is_place_code,
    place_level,
    place_parent,
    place_path,
    place_within,
)
from .registry import (
    CURRENT_VERSIONS,
    SERVER_ONLY_TYPES,
    DocumentInvalid,
    check_entry,
    error_messages,
    load_document,
    personal_fields,
    schema_for,
    server_owned_fields,
    upgrade,
    validate_document,
)

__all__ = [
    "COUCHDB_SPECIAL_MEMBERS",
    "CURRENT_VERSIONS",
    "DOC_TYPES",
    "REFERENCE_TYPES",
    "SERVER_ONLY_TYPES",
    "DocumentInvalid",
    "check_entry",
    "doc_id_error",
    "error_messages",
    "generate_doc_id",
    "is_place_code",
    "located",
    "msg",
    "new_doc_id",
    "personal_fields",
    "PLACE_LEVELS",
    "place_level",
    "place_path",
    "place_parent",
    "place_within",
    "schema_for",
    "server_owned_fields",
    "split_doc_id",
    "split_message",
    "ulid_time_ms",
    "upgrade",
    "load_document",
    "validate_document",
]
