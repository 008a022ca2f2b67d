"""The Celery application: Redis broker, late acks, no ETA tasks, the sweeper on beat."""

from celery import Celery

from arledger.config import get_settings


def make_celery() -> Celery:
    """Configure Celery for money: a task is acknowledged only after it ran."""
    settings = get_settings()
    app = Celery("arledger", broker=settings.redis_url, include=["workers.tasks"])
    app.conf.update(
        task_default_queue=settings.celery_queue,
        task_routes={"arledger.apply_bulk": {"queue": settings.bulk_queue_name}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=8,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            "unacked_restore_interval": 2,
            "unacked_restore_throttle": 1,
        },
        beat_schedule={
            "sweep-pending-commands": {
                "task": "arledger.sweep_pending",
                "schedule": settings.sweep_interval_seconds,
                "options": {"expires": settings.sweep_interval_seconds * 2},
            }
        },
    )
    return app


app = make_celery()
