"""Log output: `text` (one readable line) or `json` (one object per line), for `chatloom serve`.

`logging_config` is handed to uvicorn, which applies it in every worker process. Records carry only what
the code put in them: nothing here adds headers, keys or bodies.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

ACCESS_FIELDS = ("method", "route", "status", "duration_ms", "request_id", "org_id")
EXTRA_FIELDS = (*ACCESS_FIELDS, "webhook_type", "host", "attempts", "reason")


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None and value != "":
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` document: everything (uvicorn's own loggers included) to stderr."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"chatloom": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "chatloom",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            "alembic": {"level": "WARNING"},
        },
    }
