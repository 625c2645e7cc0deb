"""Units' routine traffic kept out of the access log, so an idle system stays quiet.

A unit beats every few seconds and long-polls for work: two access-log lines every few
seconds per unit, saying nothing. Their successful heartbeats and claims are logged at
DEBUG instead (shown with LOG_LEVEL=DEBUG); failures and everything else pass as before.
"""

from __future__ import annotations

import logging
import re

ROUTINE = re.compile(r"^/api/v1/execution-units/[^/]+/(heartbeat|claim)/?(\?.*)?$")


class QuietUnitTraffic(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        # uvicorn.access: (client, method, path, http version, status)
        if (len(args) == 5 and isinstance(args[4], int) and args[4] < 400
                and ROUTINE.match(str(args[2]))):
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True
