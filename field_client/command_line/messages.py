"""What the command-line field client says, Chinese first: "中文。 / English.".

The schemas own the messages about a record's fields (`schemas.messages`); these are the
client's own, about the local database, the identity and syncing. A `FieldClientError`
is a `ValueError` whose text is one bilingual line, so the `fieldsync` group prints it
as it is and exits 1.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    "not_synced": "本机还没有同步过，不知道你是谁、属于哪个服务站；请先运行 "
    "fieldsync sync URL（如 http://用户名@服务器:5984/db）。 / "
    "This device has not synced yet, so it does not know who you are or your station; "
    "run fieldsync sync URL first (e.g. http://NAME@SERVER:5984/db).",
    "no_local_db": "{path} 还不存在：请先运行 fieldsync sync URL，或用 --db 指定本机数据库。 / "
    "{path} does not exist yet: run fieldsync sync URL first, or name the local "
    "database with --db.",
    "no_profile": "服务器没有发来你的用户记录（user:{username}），无法填写服务站和队伍；"
    "请联系县级信息管理员后再同步。 / The server sent no user record of yours "
    "(user:{username}), so the station and team cannot be filled in; ask county IT, "
    "then sync again.",
    "other_user": "这个本机数据库属于 {owner}，不能用 {username} 同步；请用 --db 另建一个。 / "
    "This local database belongs to {owner} and cannot sync as {username}; use --db "
    "for another one.",
    "url_without_user": "地址中缺少用户名，应为 http://用户名@服务器:5984/db。 / "
    "The address names no user: it should be http://NAME@SERVER:5984/db.",
    "not_a_url": "同步地址须以 http:// 或 https:// 开头。 / "
    "The sync address must start with http:// or https://.",
    "no_password": "没有读到密码。 / No password was read.",
    "bad_assignment": "--set 须为 字段=值（如 location.lat=29.5），而不是 {text}。 / "
    "--set takes FIELD=VALUE (e.g. location.lat=29.5), not {text}.",
    "set_by_client": "{field} 由 fieldsync 填写，不能指定；修改已有记录请用 --edit 记录编号。 / "
    "{field} is filled in by fieldsync and may not be given; to change a record use "
    "--edit RECORD_ID.",
    "list_needs_index": "{path} 是列表，请用编号指明第几项（如 {path}.0）。 / "
    "{path} is a list: name an item by its number (e.g. {path}.0).",
    "index_gap": "{path} 只有 {count} 项，编号 {index} 须不大于 {count}。 / "
    "{path} has {count} item(s): the index {index} must be at most {count}.",
    "file_not_object": "{path} 须是一个 JSON 对象（一条记录的字段）。 / "
    "{path} must hold one JSON object (the fields of one record).",
    "file_not_json": "{path} 不是有效的 UTF-8 JSON（第 {line} 行）。 / "
    "{path} is not valid UTF-8 JSON (line {line}).",
    "no_record": "本机没有记录 {doc_id}。 / There is no record {doc_id} on this device.",
    "wrong_type": "{doc_id} 是 {actual} 记录，不是 {expected}。 / "
    "{doc_id} is a {actual} record, not a {expected} one.",
    "invalid": "记录未保存：共 {count} 处错误。 / The record was not saved: {count} problem(s).",
    "auth_failed": "用户名或密码错误，未同步；记录仍安全地保存在本机。 / "
    "The username or password is wrong, so nothing was synced; the records are still "
    "safe on this device.",
    "unreachable": "连不上服务器，未同步；记录仍安全地保存在本机，请检查网络和地址后重试。 / "
    "Cannot reach the server, so nothing was synced; the records are still safe on this "
    "device: check the network and the address, and try again.",
    "sync_failed": "同步未完成：{reason}；记录仍安全地保存在本机。 / "
    "The sync did not finish: {reason}; the records are still safe on this device.",
}


def text(key: str, **params: object) -> str:
    """The message `key`, filled in."""
    return MESSAGES[key].format(**params)


class FieldClientError(ValueError):
    """A refusal of the field client, as one bilingual line."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(text(key, **params))
