"""The bilingual message catalogue.

Every message a user can see is one string "中文。 / English." so a tablet can
show it whole, and a client that wants one language calls `split_message`.
Messages never echo the rejected value: it may be mojibake or personal data.
"""

from __future__ import annotations

SEPARATOR = " / "
# The Chinese half always ends with "。", so this marks the split unambiguously
# even when the English half itself contains " / ".
_SPLIT_AT = "。" + SEPARATOR

MESSAGES: dict[str, tuple[str, str]] = {
    # Generic field and schema messages (replace marshmallow's English defaults).
    "required": ("缺少必填字段。", "Missing data for required field."),
    "null": ("此字段不能为 null。", "Field may not be null."),
    "unknown": ("未知字段。", "Unknown field."),
    "not_object": ("必须是 JSON 对象。", "Invalid input type: must be a JSON object."),
    "not_list": ("必须是列表。", "Not a valid list."),
    "not_string": ("必须是字符串。", "Not a valid string."),
    "not_integer": ("必须是整数。", "Not a valid integer."),
    "not_number": ("必须是数字。", "Not a valid number."),
    "not_finite": ("不允许 NaN 或无穷大。", "NaN and infinity are not permitted."),
    "too_large": ("数字过大。", "Number too large."),
    "not_boolean": ("必须是 true 或 false。", "Not a valid boolean: use true or false."),
    "invalid_value": ("值无效。", "Invalid value."),
    "invalid_choice": ("取值无效，可选值：{choices_zh}。", "Must be one of: {choices}."),
    "invalid_date": (
        "日期无效，应为 YYYY-MM-DD 格式。",
        "Not a valid date: expected YYYY-MM-DD.",
    ),
    "invalid_datetime": (
        "时间无效，应为带时区的 ISO 8601 格式，如 2024-08-25T09:30:00+08:00。",
        "Not a valid ISO 8601 date-time, e.g. 2024-08-25T09:30:00+08:00.",
    ),
    "naive_datetime": (
        "缺少时区：时间必须带 UTC 偏移，如 +08:00。",
        "Time zone missing: the time must carry a UTC offset such as +08:00.",
    ),
    # Text.
    "text_control": (
        "文本含有控制字符（只允许换行和制表符）。",
        "Text contains control characters (only newline and tab are allowed).",
    ),
    "text_surrogate": (
        "文本含有无效的 Unicode 代理字符（编码已损坏）。",
        "Text contains unpaired Unicode surrogates (broken encoding).",
    ),
    "text_blank": ("不能为空白。", "Must not be blank."),
    "text_too_long": ("不能超过 {max} 个字符。", "Must be at most {max} characters long."),
    "device_invalid": (
        "设备编号须为 1-64 个字母、数字或 _ . : - 字符。",
        "Device id must be 1-64 characters from A-Z a-z 0-9 _ . : -.",
    ),
    "username_invalid": (
        "用户名须为 2-64 个小写字母、数字或 _ . - 字符。",
        "Username must be 2-64 characters from a-z 0-9 _ . -.",
    ),
    "phone_invalid": ("电话号码须为 5-20 位数字。", "Phone number must be 5-20 digits."),
    "token_invalid": (
        "编号须为 1-64 个字母、数字或 _ . : - 字符。",
        "Identifier must be 1-64 characters from A-Z a-z 0-9 _ . : -.",
    ),
    # Numbers and lists.
    "number_min": ("不能小于 {min}。", "Must be greater than or equal to {min}."),
    "number_above": ("必须大于 {min}。", "Must be greater than {min}."),
    "number_max": ("不能大于 {max}。", "Must be less than or equal to {max}."),
    "list_min": ("至少需要 {min} 项。", "At least {min} item(s) required."),
    "list_max": ("最多允许 {max} 项。", "At most {max} item(s) allowed."),
    "list_unique": ("列表中有重复项。", "Items must be unique."),
    # Document ids.
    "id_empty": ("文档编号不能为空。", "Document id must not be empty."),
    "id_too_long": (
        "文档编号不能超过 512 字节（UTF-8）。",
        "Document id must be at most 512 bytes of UTF-8.",
    ),
    "id_slash": ("文档编号不能含有“/”。", "Document id must not contain '/'."),
    "id_control": (
        "文档编号不能含有控制字符。",
        "Document id must not contain control characters.",
    ),
    "id_underscore": ("文档编号不能以“_”开头。", "Document id must not start with '_'."),
    "id_format": (
        "文档编号须为“类型:ULID”格式，如 patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D。",
        "Document id must be 'type:ULID', e.g. patrol:01J6Z3M4Q8XK2V7N5R0T9B1C3D.",
    ),
    "id_format_reference": (
        "文档编号须为“类型:ULID”或“类型:简称”（1-200 个字母、数字或 _ . -）。",
        "Document id must be 'type:ULID' or 'type:slug' (1-200 of A-Z a-z 0-9 _ . -).",
    ),
    "id_unknown_type": (
        "文档编号的类型前缀未知；已知类型：{types}。",
        "Unknown type prefix in document id; known types: {types}.",
    ),
    "id_wrong_type": ("此处须为 {expected} 类型的文档编号。", "Must be a {expected} document id."),
    "id_prefix_mismatch": (
        "_id 的类型前缀必须与 type 一致。",
        "The type prefix of _id must match type.",
    ),
    "id_bad_args": (
        "生成编号需要已知类型、0 至 2^48-1 的毫秒时间和 10 个随机字节。",
        "A new id needs a known type, a time of 0 to 2^48-1 ms and 10 random bytes.",
    ),
    # Places.
    "place_code_invalid": (
        "地区编码须为 6、9、12 或 15 位数字。",
        "Place code must be 6, 9, 12 or 15 digits.",
    ),
    "place_level_not_allowed": (
        "地区编码须为{levels_zh}级。",
        "Place code must be at {levels} level.",
    ),
    "place_parent_mismatch": (
        "上级编码必须是本编码去掉末三位。",
        "Parent must be the code without its last three digits.",
    ),
    "place_parent_forbidden": ("县级地区没有上级编码。", "A county has no parent code."),
    "place_level_mismatch": ("级别与地区编码位数不符。", "Level does not match the code's length."),
    "place_must_equal_code": (
        "地区记录的 place 必须等于 code。",
        "A place record's place must equal its code.",
    ),
    "grid_outside": ("网格不在本站点的地区范围内。", "Grid is outside the station's place."),
    # Envelope.
    "type_mismatch": ("type 必须是 {expected}。", "type must be {expected}."),
    "version_mismatch": (
        "schema_version 必须是 {expected}。",
        "schema_version must be {expected}.",
    ),
    "updated_before_created": (
        "updated_at 不能早于 created_at。",
        "updated_at must not be earlier than created_at.",
    ),
    "review_needs_reviewer": (
        "已批准或已退回的审核必须填写审核人（by）和时间（at）。",
        "An approved or returned review needs a reviewer (by) and a time (at).",
    ),
    "review_needs_comment": (
        "退回记录时必须写明原因，以便志愿者修改。",
        "A returned review needs a comment so the volunteer knows what to fix.",
    ),
    # Patrol.
    "ended_before_started": (
        "结束时间不能早于开始时间。",
        "ended_at must not be earlier than started_at.",
    ),
    "patrol_too_long": ("一次巡逻不能超过 24 小时。", "A patrol must not last more than 24 hours."),
    "time_order": ("{field} 不能早于 {previous}。", "{field} must not be earlier than {previous}."),
    "in_the_future": (
        "不能晚于保存记录的时间（不能填写将来的时间）。",
        "Must not be later than the moment the record is saved (no future times).",
    ),
    # Water source.
    "people_below_households": (
        "受益人数不能少于受益户数。",
        "people_served must not be less than households_served.",
    ),
    "pipe_length_required": (
        "状态为已通管（piped）或使用中（in_use）时必须填写管道长度。",
        "pipe_length_m is required when status is piped or in_use.",
    ),
    # Home visit and household.
    "services_or_needs": (
        "至少记录一项服务，或报告至少一项需求。",
        "At least one service is required unless needs are reported.",
    ),
    "follow_up_before_visit": (
        "回访日期不能早于走访日期。",
        "due_on must not be before the date of visited_at.",
    ),
    "duplicate_need_id": ("需求编号重复。", "Duplicate need_id."),
    "blood_pressure_invalid": (
        "血压须为“收缩压/舒张压”，如 120/80，收缩压须高于舒张压。",
        "Blood pressure must be 'systolic/diastolic', e.g. 120/80, systolic above diastolic.",
    ),
    "members_exceed_size": (
        "登记的成员人数超过了家庭人口数。",
        "More members are listed than the household size.",
    ),
    "birth_year_future": (
        "出生年份不能晚于记录创建年份。",
        "birth_year must not be after the year the record was created.",
    ),
    # Team and user.
    "team_level_mismatch": (
        "队伍级别必须与其所在地区（place）的级别一致。",
        "Team level must match the level of its place.",
    ),
    # Refusals on arrival at a server (server/policy.py).
    "push_type_forbidden": (
        "角色 {role} 不能提交 {type} 类型的记录。",
        "The role {role} may not write {type} documents.",
    ),
    "push_out_of_scope": (
        "地点 {place} 不在你的负责范围内。",
        "Place {place} is outside your scope.",
    ),
    "push_server_owned": (
        "字段 {field} 由服务器维护，不能在设备上修改。",
        "Field {field} is kept by the server and may not be changed on a device.",
    ),
    "push_no_roster": (
        "你的账号在名册中没有用户记录（{user}），请联系县级信息管理员。",
        "Your account has no user record on the roster ({user}); ask county IT.",
    ),
    "push_author_not_caller": (
        "新记录的作者（author）必须是你本人：{expected}。",
        "The author of a new record must be you: {expected}.",
    ),
    "push_author_not_station": (
        "站长只能提交本站（本队）志愿者的记录，{author} 不是。",
        "A station lead may push only records of their station's volunteers; {author} is not one.",
    ),
    "push_author_changed": (
        "记录的作者（author）不能更改。",
        "A record's author may not be changed.",
    ),
    "push_not_yours": (
        "只有记录的作者、参与者、所在地的站长或县级工作人员可以修改或删除这条记录。",
        "Only the record's author, its participants, or the station lead or county staff "
        "of its place may change or delete it.",
    ),
    "push_not_member": (
        "{field} 中的 {user} 不是本记录所属队伍或服务站的成员。",
        "{user} in {field} is not a member of the record's team or station.",
    ),
    "push_approved": (
        "这条记录已由县级审核通过，不能再在现场修改或删除；如需更正，请县级工作人员退回。",
        "This record was approved by county staff and can no longer be changed or deleted "
        "from the field; ask county staff to return it for correction.",
    ),
    "push_reference_type": (
        "{field} 引用的 {ref} 不是 {expected} 类型的记录。",
        "{field} refers to {ref}, which is not a {expected} record.",
    ),
    "push_reference_out_of_scope": (
        "{field} 引用的 {ref} 不在你的负责范围内。",
        "{field} refers to {ref}, which is outside your scope.",
    ),
    "push_too_many_docs": (
        "一次提交了 {count} 条记录，最多 {limit} 条；请分批同步。",
        "{count} documents in one request; at most {limit}: sync in smaller batches.",
    ),
    "push_too_many_refused": (
        "这批记录中有 {count} 条会被拒收（每批最多 {limit} 条），整批未保存；"
        "请分小批同步，或联系站长检查应用版本。",
        "{count} documents of this batch would be refused (at most {limit} a batch), so "
        "none was saved; sync in smaller batches, or ask the station lead to check the app.",
    ),
    "push_refusal_budget": (
        "这台设备一小时内被拒收的记录已超过 {limit} 条，整批未保存；"
        "请约 {minutes} 分钟后再同步，并联系站长。记录仍安全地保存在设备上。",
        "This device had more than {limit} records refused within an hour, so this batch "
        "was not saved; sync again in about {minutes} minutes and tell the station lead. "
        "The records are still safe on the device.",
    ),
    "notices_overflow": (
        "另有 {count} 条被拒收的记录没有单独通知（每人最多 {limit} 条通知）；"
        "请联系站长或县级工作人员查看。",
        "{count} more refused records got no notice of their own (at most {limit} notices "
        "each); ask the station lead or county staff to look them up.",
    ),
    "password_forbidden": (
        "用户记录会被同步到各设备，不能含有密码；密码只保存在服务器。",
        "User records replicate to devices and must not hold passwords; "
        "passwords live on the server only.",
    ),
    # Registry.
    "unknown_doc_type": (
        "未知的记录类型；已知类型：{types}。",
        "Unknown document type; known types: {types}.",
    ),
    "version_invalid": (
        "schema_version 须为正整数。",
        "schema_version must be a positive integer.",
    ),
    "version_too_new": (
        "schema_version {version} 比本程序支持的最新版本 {current} 更新，请升级应用。",
        "schema_version {version} is newer than the newest supported ({current}); update the app.",
    ),
    "no_upgrade": (
        "没有从版本 {version} 升级的方法。",
        "No upgrade is known from version {version}.",
    ),
    "document_invalid": (
        "记录未通过校验（共 {count} 处错误），首个错误：{path}：{detail_zh}",
        "Document invalid ({count} error(s)); first: {path}: {detail_en}",
    ),
}


def msg(key: str, **params: object) -> str:
    """Build the bilingual message `key`, formatting both halves with `params`."""
    zh, en = MESSAGES[key]
    return f"{zh.format(**params)}{SEPARATOR}{en.format(**params)}"


def split_message(s: str) -> dict[str, str]:
    """Split a bilingual message into {"zh": ..., "en": ...}.

    A string that is not bilingual (it should never happen) is returned as both
    halves, so a client always has something to show.
    """
    zh, sep, en = s.partition(_SPLIT_AT)
    if not sep:
        return {"zh": s, "en": s}
    return {"zh": zh + "。", "en": en}


def located(path: str, message: str) -> str:
    """A bilingual `message` about the field at `path`, the path named in both halves:
    "type: 缺少必填字段。 / type: Missing data for required field."."""
    halves = split_message(message)
    return f"{path}: {halves['zh']}{SEPARATOR}{path}: {halves['en']}"
