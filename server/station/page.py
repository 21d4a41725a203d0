"""`/station/`: the station lead's page at the hub, Chinese first, English selectable.

Server-rendered HTML (no script: it works on any laptop browser, also with the county
out of reach): sign in with the lead's account, then today's and this week's records,
what has not reached the county, refusals and review comments to pass on, each
tablet's last sync and the county's. `/station/summary.json` is the same for tools.
Only station leads may open it (it reads the whole station's store at each load).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, redirect, render_template, request, session
from werkzeug.wrappers import Response as BaseResponse

from schemas.labels import TYPE_LABELS

from ..accounts.auth import current_user, sign_in
from ..http_io import reply
from ..policy import RECORD_TYPES
from ..services import services
from .summary import Summary, gather

bp = Blueprint("station", __name__, url_prefix="/station", template_folder="templates")

ROLES = ("station_lead",)
TEXT: dict[str, tuple[str, str]] = {
    "title": ("站点工作台", "Station page"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "name": ("用户名", "Name"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误。", "Name or password is incorrect."),
    "blocked": ("登录失败次数过多，请稍后再试。", "Too many failed logins; try again later."),
    "not_lead": ("只有站长可以查看本页。", "Only station leads may open this page."),
    "scope": ("负责范围", "Scope"),
    "records": ("记录", "Records"),
    "today": ("今天", "Today"),
    "week": ("本周", "This week"),
    "volunteer": ("志愿者", "Volunteer"),
    "total": ("合计", "Total"),
    "no_records": ("本周还没有记录。", "No records this week."),
    "unsent": ("尚未送达县级", "Not yet at the county"),
    "all_sent": ("所有记录都已送达县级。", "Every record has reached the county."),
    "more": ("另有 {n} 条未列出。", "{n} more not listed."),
    "pass_on": ("需要转告志愿者", "To pass on to volunteers"),
    "nothing_to_pass": ("没有退回或拒收的记录。", "No returned or refused records."),
    "refused": ("被拒收", "Refused"),
    "returned": ("县级退回", "Returned by the county"),
    "tablets": ("平板最近同步", "Tablets' last sync"),
    "device": ("设备", "Device"),
    "when": ("时间", "When"),
    "no_tablets": ("还没有平板同步过。", "No tablet has synced yet."),
    "county": ("与县级同步", "Sync with the county"),
    "last_success": ("上次成功", "Last success"),
    "last_attempt": ("上次尝试", "Last attempt"),
    "never": ("从未", "never"),
    "county_error": ("县级暂时连不上，联网后会自动重试。",
                     "The county is out of reach; the hub retries by itself once online."),
    "sent_received": ("上次送出 {sent} 条，收到 {received} 条。",
                      "Last time {sent} sent, {received} received."),
    "record": ("记录", "Record"),
    "reason": ("原因", "Reason"),
    "language": ("English", "中文"),
}  # fmt: skip


def _lang() -> str:
    chosen = request.args.get("lang") or request.cookies.get("fieldsync.lang")
    return "en" if chosen == "en" else "zh"


def _texts(lang: str) -> dict[str, str]:
    index = 1 if lang == "en" else 0
    return {key: pair[index] for key, pair in TEXT.items()}


def _page(template: str, status: int = 200, **context: object) -> Response:
    lang = _lang()
    index = 1 if lang == "en" else 0
    types = {kind: label[index] for kind, label in TYPE_LABELS.items()}
    other = "zh" if lang == "en" else "en"
    body = render_template(template, t=_texts(lang), lang=lang, other=other, types=types,
                           **context)  # fmt: skip
    response = Response(body, status=status, mimetype="text/html")
    if request.args.get("lang") in ("zh", "en"):
        response.set_cookie("fieldsync.lang", lang, max_age=365 * 86400, samesite="Lax")
    response.headers["Cache-Control"] = "no-store"  # names and refusals: never cached
    return response


@bp.get("/")
def page() -> Response:
    user = current_user()
    if user is None:
        return _page("sign_in.html")
    if user.role not in ROLES:
        return _page("sign_in.html", 403, error="not_lead")
    return _page("station.html", summary=_summary(), record_types=sorted(RECORD_TYPES),
                 user=user)  # fmt: skip


@bp.post("/sign-in")
def sign_in_form() -> Response | BaseResponse:
    outcome = sign_in(request.form.get("name", ""), request.form.get("password", ""))
    if isinstance(outcome, Response):
        error = "blocked" if outcome.status_code == 429 else "bad_login"
        return _page("sign_in.html", outcome.status_code, error=error)
    return redirect("/station/", 303)


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    session.clear()
    return redirect("/station/", 303)


@bp.get("/summary.json")
def summary_json() -> Response:
    user = current_user()
    if user is None or user.role not in ROLES:
        return reply(
            {"error": "forbidden", "reason": TEXT["not_lead"][1]}, 401 if user is None else 403
        )
    found = _summary()
    return reply(
        {"scope": found.scope, "now": found.now.isoformat(timespec="seconds"),
         "by_volunteer": {who: {"today": c.today, "week": c.week}
                          for who, c in found.by_volunteer.items()},
         "names": found.names, "unsent": found.unsent, "unsent_count": found.unsent_count,
         "to_pass_on": found.to_pass_on, "tablets": found.tablets,
         "county": {k: v for k, v in found.county.items() if not k.startswith("_")}}
    )  # fmt: skip


def _summary() -> Summary:
    return gather(services(), current_user(), current_app.config["TIMEZONE"])


@bp.app_template_filter("when")
def when(epoch_or_iso: object) -> str:
    """A time as the station reads it: "2026-12-07 19:30" in the station's time zone."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    if isinstance(epoch_or_iso, int | float):
        moment = datetime.fromtimestamp(epoch_or_iso, UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(epoch_or_iso))
        except ValueError:
            return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
