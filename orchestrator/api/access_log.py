"""The access log never holds a secret: query values that look like credentials are redacted.

Tokens are only accepted in the Authorization header (auth.py), but a client
may still put one in a URL by mistake (`?token=...`); that URL must not end
up in a log file that more people read than hold tokens.
"""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(
    r"(?i)(?P<lead>[?&;])(?P<key>[a-z_-]*(?:token|key|secret|password|passwd|auth|signature|sig|credential)[a-z_-]*)=[^&;#]*"
)


def redact(path: str) -> str:
    """`/v1/events?after=3&token=abc` -> `/v1/events?after=3&token=REDACTED`."""
    return _SECRET.sub(lambda m: f"{m['lead']}{m['key']}=REDACTED", path)


class RedactSecrets(logging.Filter):
    """A filter for uvicorn's access logger, whose third argument is the path with its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
