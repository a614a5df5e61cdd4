"""Structured JSON logs with a correlation id, personal data masked."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

from shared.masking import mask_fields, mask_text

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def bind_correlation_id(value: str | None) -> contextvars.Token:
    return _correlation_id.set(value)


def reset_correlation_id(token: contextvars.Token) -> None:
    _correlation_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra=` fields are included, masked."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
            "correlation_id": current_correlation_id(),
        }
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        entry.update(mask_fields(extra))
        if record.exc_info:
            entry["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that log request bodies or URLs with phone numbers at DEBUG stay quiet.
    for noisy in ("twilio.http_client", "urllib3", "amqp", "kombu"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
