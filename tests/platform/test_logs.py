"""Logs: one structured line per event; a failure's traceback is plain text (no rendering of
locals, which once stalled the API for seconds while Redis was down), JSON in production."""

import json

import pytest
import structlog

from arledger.config import Settings
from arledger.logs import configure_logging


def _log_a_failure() -> None:
    secret_local = "do-not-print-me"  # noqa: F841  (a local a rich traceback would show)
    try:
        raise ConnectionError("redis is down")
    except ConnectionError:
        structlog.get_logger("t").exception("enqueue_failed", command=7)


def test_development_logs_carry_a_plain_traceback_without_locals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings(arledger_env="development"))
    _log_a_failure()
    out = capsys.readouterr().out
    assert "enqueue_failed" in out and "command=7" in out
    assert "Traceback (most recent call last)" in out
    assert "ConnectionError: redis is down" in out
    assert "do-not-print-me" not in out
    structlog.reset_defaults()


def test_production_logs_are_json_lines_with_the_exception(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings.model_construct(arledger_env="production", log_level="INFO"))
    _log_a_failure()
    line = json.loads(capsys.readouterr().out.strip())
    assert (line["event"], line["command"], line["level"]) == ("enqueue_failed", 7, "error")
    assert line["exception"][0]["exc_type"] == "ConnectionError"
    assert "do-not-print-me" not in json.dumps(line)
    structlog.reset_defaults()
