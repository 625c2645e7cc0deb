"""The one web application: HTTP through Django's WSGI handler on a pool of threads,
WebSockets through Channels, both in each server process and so on one origin.

Why not Django's own ASGI handler for HTTP: it runs each request's synchronous code (every
view here, the ORM, DRF) on a thread of its own and hands it back at the end, so a process
gets no more real concurrency than one request at a time for its async plumbing, and
persistent database connections cannot be reused (each thread is new). Measured on this
project's machine, a minimal JSON view answered about 3 times more requests per second
through the thread pool below than through Django's ASGI handler (README, "Serving").

Here each server process keeps WEB_THREADS long-lived threads. A request runs on one of
them from start to end, as under any WSGI server: database round trips of one request
overlap with the Python work of others, and each thread keeps its database connection
(or pool slot) between requests. The event loop keeps only what it is good at: sockets,
keep-alive and the WebSocket consumers.
"""

import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskmanage.settings")
# Django must be set up before anything imports models (the consumers do).
django_wsgi_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.dashboard.routing import websocket_urlpatterns as page_sockets  # noqa: E402
from apps.execution.fastpath import HeartbeatFastPath  # noqa: E402
from apps.execution.logs import QuietUnitTraffic  # noqa: E402
from apps.execution.longpoll import LongPollClaims  # noqa: E402
from apps.ops.routing import websocket_urlpatterns as ops_sockets  # noqa: E402

# Units' heartbeats and claims every few seconds would fill the access log of an idle system.
logging.getLogger("uvicorn.access").addFilter(QuietUnitTraffic())

application = ProtocolTypeRouter(
    {
        # Units' heartbeats are answered, and their long-polling claims wait, on the event
        # loop: neither holds a request thread (apps.execution.fastpath, .longpoll).
        "http": HeartbeatFastPath(LongPollClaims(
            WSGIMiddleware(django_wsgi_app, workers=settings.WEB_THREADS))),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([*ops_sockets, *page_sockets]))
        ),
    }
)
