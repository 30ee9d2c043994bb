"""Celery settings shared by the publisher (web, CLI) and the workers: reliability options, queues and routes."""

from __future__ import annotations

from typing import Any

from config.settings import Settings

QUEUES = ("outbox", "screening", "assessment", "documents", "notifications", "sweeps")
TASK_PREFIX = "specgoods."
# Outbox task name -> queue: each kind of work can get its own workers (see docker-compose.yml).
ROUTES = {
    "screen_application": "screening",
    "relay_outbox": "outbox",
    "seal_audit_chains": "outbox",
    "expire_certificates": "sweeps",
    "exhaust_used_up": "sweeps",
    "remind_panels": "sweeps",
    "sweep_clocks": "sweeps",
    "deem_acceptances": "sweeps",
    "flag_overdue_follow_ups": "sweeps",
    "apply_credit_restorations": "sweeps",
    "flag_lapsed_laboratories": "sweeps",
    "checkpoint_audit_chains": "sweeps",
    "publish_draw_commitments": "sweeps",
    "fold_district_counts": "sweeps",
    "send_email": "notifications",
    "notify_officers": "notifications",
    "send_reminders": "notifications",
    "render_certificate": "documents",
}


def task_name(task: str) -> str:
    return TASK_PREFIX + task


def redis_transport_options(visibility_timeout: int) -> dict[str, Any]:
    """The visibility timeout, and a sweep for abandoned messages scaled to it.

    kombu looks for messages unacknowledged past the timeout only every interval × throttle seconds (10 × 10 by
    default), so a short timeout alone would still leave a dead worker's message waiting up to 100 s more.
    """
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": max(1, min(10, visibility_timeout // 4)),
        "unacked_restore_throttle": 1,
    }


def _transport(broker_url: str) -> dict[str, Any]:
    """Redis through kombu's transport with one client per channel (config/broker_transport.py).

    Any other broker, the embedded default's in-memory one, through the transport its URL names.
    """
    if broker_url.startswith(("redis://", "rediss://")):
        return {"broker_transport": "config.broker_transport:Transport"}
    return {}


def celery_settings(settings: Settings) -> dict[str, Any]:
    """At-least-once delivery with idempotent tasks (ARCHITECTURE.md 'Background work')."""
    return {
        "broker_url": settings.broker_url,
        **_transport(settings.broker_url),
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "outbox",
        "task_routes": {task_name(task): {"queue": queue} for task, queue in ROUTES.items()},
        # Redis re-delivers unacknowledged messages after this; no task may run longer, and no timer lives in ETAs.
        "broker_transport_options": redis_transport_options(settings.broker_visibility_timeout),
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "timezone": "Asia/Shanghai",
        "enable_utc": True,
    }
