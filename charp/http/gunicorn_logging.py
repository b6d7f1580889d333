"""gunicorn's own error and access logs through the project's JSON formatter and redaction (see gunicorn.conf.py)."""

import logging
from logging.handlers import SysLogHandler

from gunicorn.glogging import Logger

from charp.http.logs import JsonFormatter, RedactingFilter


def _stamp_pid(record: logging.LogRecord) -> bool:
    # gunicorn's plain format printed "[pid]"; keep it, as a field, to tell the master's lines from each worker's.
    record.pid = record.process
    return True


class JsonLogger(Logger):
    """gunicorn's logger, writing JSON lines and redacting what gunicorn echoes of the requests it rejects."""

    def setup(self, cfg):
        # gunicorn builds its handlers from --error-logfile, --access-logfile, --log-level and --log-syslog (and a
        # reload rebuilds them): take them as they are, so every command-line flag keeps working, and change only
        # what they write.
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                # Every handler, an operator's --log-config ones too: gunicorn logs raw request lines and headers.
                if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                    handler.addFilter(RedactingFilter(raw=True))
                    handler.addFilter(_stamp_pid)
                # Syslog lines keep gunicorn's tag prefix, which syslog routes on.
                if getattr(handler, "_gunicorn", False) and not isinstance(handler, SysLogHandler):
                    handler.setFormatter(JsonFormatter())
