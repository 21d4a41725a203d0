"""`GET /health`: is the county store reachable? For load balancers and operators."""

from __future__ import annotations

from flask import Blueprint, jsonify

from sync.errors import StoreError

from .services import services

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():  # noqa: ANN201 - a Flask view
    try:
        info = services().store.info()
    except StoreError as exc:
        return jsonify({"status": "unavailable", "reason": exc.reason}), 503
    return jsonify({"status": "ok", "update_seq": info.get("update_seq")})
