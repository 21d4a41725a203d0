"""What people read for field names, record types and choice values: Chinese first.

Values stay English snake_case in documents (they are data, compared and counted);
these labels are what a form shows. A field name means the same thing in every record
type, so labels are keyed by name, with `Schema.field` entries where one name means
two things (a water source's `kind` is not an incident's). `schemas/export.py` refuses
to export a field or a choice that has no label here, so none reaches a tablet bare.
"""

from __future__ import annotations

Label = tuple[str, str]  # (中文, English)

TYPE_LABELS: dict[str, Label] = {
    "patrol": ("巡逻", "Patrol"),
    "water_source": ("寻找水源", "Water source"),
    "home_visit": ("入户走访", "Home visit"),
    "household": ("农户", "Household"),
}

FIELD_LABELS: dict[str, Label] = {
    # Envelope.
    "_id": ("记录编号", "Record id"),
    "type": ("记录类型", "Record type"),
    "schema_version": ("格式版本", "Format version"),
    "place": ("所在地", "Place"),
    "station": ("服务站", "Station"),
    "team": ("队伍", "Team"),
    "author": ("记录人", "Recorded by"),
    "device": ("设备", "Device"),
    "created_at": ("创建时间", "Created"),
    "updated_at": ("修改时间", "Last changed"),
    "location": ("位置", "Location"),
    "lat": ("纬度", "Latitude"),
    "lon": ("经度", "Longitude"),
    "accuracy_m": ("精度（米）", "Accuracy (m)"),
    "altitude_m": ("海拔（米）", "Altitude (m)"),
    "taken_at": ("定位时间", "Fix taken at"),
    "review": ("县级审核", "County review"),
    "state": ("审核状态", "Review state"),
    "by": ("审核人", "Reviewer"),
    "at": ("审核时间", "Reviewed at"),
    "comment": ("审核意见", "Reviewer's comment"),
    "server_received_at": ("服务器收到时间", "Received by the server"),
    # Patrol.
    "participants": ("参与人员", "Participants"),
    "zone": ("责任区", "Zone"),
    "started_at": ("开始时间", "Started"),
    "ended_at": ("结束时间", "Ended"),
    "track": ("巡逻轨迹", "Track"),
    "incidents": ("发现的情况", "Incidents found"),
    "Incident.kind": ("情况类别", "Kind of incident"),
    "description": ("描述", "Description"),
    "action_taken": ("采取的措施", "Action taken"),
    "referred_to": ("移交单位", "Referred to"),
    "resolved": ("已解决", "Resolved"),
    "reported_at": ("接报时间", "Reported at"),
    "contact_known_at": ("联系上时间", "Contact known at"),
    "reached_at": ("到达时间", "Reached at"),
    "on_site_at": ("到场处置时间", "On site at"),
    # Water source.
    "WaterSource.kind": ("水源类型", "Kind of source"),
    "estimated_flow_l_min": ("估计流量（升/分钟）", "Estimated flow (L/min)"),
    "distance_km": ("距村距离（公里）", "Distance from the village (km)"),
    "terrain": ("地形", "Terrain"),
    "quality": ("水质", "Water quality"),
    "observations": ("观察记录", "Observations"),
    "tests": ("检测结果", "Test results"),
    "parameter": ("检测项目", "Parameter"),
    "value": ("数值", "Value"),
    "unit": ("单位", "Unit"),
    "tested_at": ("检测时间", "Tested at"),
    "households_served": ("可受益户数", "Households it can serve"),
    "people_served": ("可受益人数", "People it can serve"),
    "WaterSource.status": ("水源状态", "Status of the source"),
    "pipe_length_m": ("管道长度（米）", "Pipe length (m)"),
    "found_on": ("发现日期", "Found on"),
    # Home visit.
    "household": ("走访农户", "Household visited"),
    "visited_at": ("走访时间", "Visited at"),
    "duration_min": ("服务时长（分钟）", "Duration (minutes)"),
    "volunteers": ("在场志愿者", "Volunteers present"),
    "vulnerability": ("困难类别", "Vulnerability"),
    "services": ("提供的服务", "Services given"),
    "health": ("健康情况", "Health"),
    "temperature_c": ("体温（℃）", "Temperature (°C)"),
    "blood_pressure": ("血压", "Blood pressure"),
    "needs": ("需求清单（微心愿）", "Needs (micro-wishes)"),
    "need_id": ("需求编号", "Need id"),
    "category": ("需求类别", "Category"),
    "urgency": ("紧急程度", "Urgency"),
    "Need.status": ("办理状态", "Status"),
    "follow_up": ("回访", "Follow-up"),
    "due_on": ("回访日期", "Due on"),
    "assignee": ("回访负责人", "Assigned to"),
    "note": ("备注", "Note"),
    # Household.
    "household_no": ("户编号", "Household number"),
    "head_of_household": ("户主", "Head of household"),
    "address": ("地址", "Address"),
    "size": ("家庭人口", "Household size"),
    "members": ("家庭成员", "Members"),
    "name": ("姓名", "Name"),
    "relation": ("与户主关系", "Relation to the head"),
    "birth_year": ("出生年份", "Year of birth"),
    "phone": ("联系电话", "Phone"),
}

CHOICE_LABELS: dict[str, Label] = {
    # Record types (the envelope's `type`).
    **TYPE_LABELS,
    "place": ("地区", "Place"),
    "team": ("队伍", "Team"),
    "station": ("服务站", "Station"),
    "user": ("用户", "User"),
    "rejection_notice": ("拒收通知", "Rejection notice"),
    # Review states.
    "pending": ("待审核", "Pending"),
    "approved": ("已通过", "Approved"),
    "returned": ("已退回", "Returned"),
    # Incident kinds.
    "safety_hazard": ("安全隐患", "Safety hazard"),
    "fraud": ("诈骗", "Fraud"),
    "dispute": ("矛盾纠纷", "Dispute"),
    "fire": ("火情", "Fire"),
    "flood": ("汛情", "Flood"),
    "sanitation": ("环境卫生", "Sanitation"),
    "traffic": ("交通", "Traffic"),
    "other": ("其他", "Other"),
    # Referrals.
    "police": ("派出所", "Police"),
    "township": ("乡镇政府", "Township"),
    "clinic": ("卫生院", "Clinic"),
    "fire_brigade": ("消防队", "Fire brigade"),
    # Water kinds and statuses.
    "spring": ("泉水", "Spring"),
    "well": ("水井", "Well"),
    "stream": ("溪流", "Stream"),
    "pond": ("池塘", "Pond"),
    "reservoir": ("水库", "Reservoir"),
    "found": ("已发现", "Found"),
    "assessed": ("已评估", "Assessed"),
    "piped": ("已通管", "Piped"),
    "in_use": ("使用中", "In use"),
    "dry": ("已干涸", "Dry"),
    "abandoned": ("已废弃", "Abandoned"),
    # Vulnerabilities.
    "elderly_alone": ("独居老人", "Elderly living alone"),
    "disabled": ("残疾人", "Disabled"),
    "left_behind_child": ("留守儿童", "Left-behind child"),
    "low_income": ("低收入", "Low income"),
    "sick": ("患病", "Sick"),
    # Services.
    "haircut": ("理发", "Haircut"),
    "cleaning": ("打扫卫生", "Cleaning"),
    "medicine": ("送药", "Medicine"),
    "health_check": ("健康检查", "Health check"),
    "temperature": ("测体温", "Temperature"),
    "policy_explanation": ("政策宣讲", "Policy explanation"),
    "legal_aid": ("法律援助", "Legal aid"),
    "paperwork": ("代办手续", "Paperwork help"),
    # Urgencies and need statuses.
    "low": ("不急", "Low"),
    "normal": ("一般", "Normal"),
    "high": ("较急", "High"),
    "urgent": ("紧急", "Urgent"),
    "open": ("待办", "Open"),
    "in_progress": ("办理中", "In progress"),
    "met": ("已满足", "Met"),
    "closed": ("已关闭", "Closed"),
}


def field_label(schema_name: str, field: str) -> Label | None:
    """The label of `field` in the schema named `schema_name`, if there is one."""
    return FIELD_LABELS.get(f"{schema_name}.{field}") or FIELD_LABELS.get(field)
