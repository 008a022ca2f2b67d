"""Keeps the worker alive when its Redis connection drops while it holds unacknowledged messages.

kombu 5.7 / Celery 5.7: on a lost broker connection the consumer detaches the transport from
its connection (`Connection.collect`) and closes it; the channel's QoS then builds a Redis client
from the detached connection's parameters to put the unacknowledged messages (tasks running with
late acks, prefetched ones) back, and a task that finishes afterwards acknowledges its message
the same way. Both raise an AttributeError, which Celery calls an unrecoverable error: the whole
worker exits, and nothing is applied until someone restarts it. Found by
tests/faults/test_services.py (Redis killed under load).

Here a QoS whose transport is detached forgets those messages instead of talking to Redis. That
loses nothing: Redis keeps every unacknowledged message in its `unacked` index and delivers it
again after the visibility timeout (when Redis itself survived), and the commands the messages
would wake are PENDING in PostgreSQL, where the sweeper finds them. Importing this module
installs the fix (workers.tasks does, in every worker process).
"""

from typing import Any

import structlog
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

log = structlog.get_logger(__name__)
QoS = kombu_redis.QoS
_restore_unacked, _ack, _reject = QoS.restore_unacked, QoS.ack, QoS.reject


def _detached(qos: Any) -> bool:
    transport = qos.channel.connection
    return transport is None or transport.client is None


def _restore_unacked_fixed(qos: Any, client: Any = None) -> Any:
    if client is None and _detached(qos):
        log.warning("unacked_restore_skipped", messages=len(qos._delivered))
        qos._delivered.clear()
        return None
    return _restore_unacked(qos, client)


def _ack_fixed(qos: Any, delivery_tag: Any) -> None:
    if _detached(qos):
        virtual.QoS.ack(qos, delivery_tag)  # local bookkeeping only
        return
    _ack(qos, delivery_tag)


def _reject_fixed(qos: Any, delivery_tag: Any, requeue: bool = False) -> None:
    if _detached(qos):
        virtual.QoS.ack(qos, delivery_tag)
        return
    _reject(qos, delivery_tag, requeue)


QoS.restore_unacked = _restore_unacked_fixed  # type: ignore[method-assign]
QoS.ack = _ack_fixed  # type: ignore[method-assign]
QoS.reject = _reject_fixed  # type: ignore[method-assign]
