"""TaskManage settings: one module, read from the environment (12-factor).

Development defaults need nothing installed: SQLite under var/ and the embedded Redis that
`make run` / `make test` start (taskmanage/embedded_redis.py). Production sets DATABASE_URL,
REDIS_URL, SECRET_KEY and DEBUG=0.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TASKMANAGE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Development only: a random key kept under var/ (never in git), so sessions survive
    # restarts without anyone committing or sharing a fixed key.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
PORT = env_int("PORT", 8000, minimum=1)
# Serving (taskmanage/asgi.py, `manage.py serve`): WEB_WORKERS processes, each running Django
# on WEB_THREADS threads beside the WebSocket consumers. A thread waits out its request's
# database round trips while the others work, so a few threads per core pay; more only add
# GIL contention: on 2 cores, 4 threads per process created tasks 1.3-1.4 times as fast as 8,
# with a lower tail (README, "Serving").
WEB_WORKERS = env_int("WEB_WORKERS", 2, minimum=1)
WEB_THREADS = env_int("WEB_THREADS", 4, minimum=1)
# On SIGTERM a server process stops accepting, lets the requests under way finish for up to
# this long, then exits; the process manager's own grace period must be longer.
WEB_GRACEFUL_SHUTDOWN_SECONDS = env_int("WEB_GRACEFUL_SHUTDOWN_SECONDS", 20, minimum=1)

INSTALLED_APPS = [
    # django.contrib.admin, with its login behind the login rate limit.
    "apps.accounts.admin_site.TaskManageAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "channels",
    "apps.core",
    "apps.accounts",
    "apps.tasks",
    "apps.staff",
    "apps.assignment",
    "apps.approvals",
    "apps.execution",
    "apps.knowledge",
    "apps.schedules",
    "apps.workflows",
    "apps.callbacks",
    "apps.stats",
    "apps.alerts",
    "apps.ops",
    "apps.demo",
    "apps.dashboard",
]

MIDDLEWARE = [
    # Outermost: nothing escapes Django, and /api/ errors are JSON (apps.core.middleware).
    "apps.core.middleware.ErrorBoundaryMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "taskmanage.urls"
WSGI_APPLICATION = "taskmanage.wsgi.application"
ASGI_APPLICATION = "taskmanage.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
# Each request thread (taskmanage/asgi.py) lives as long as its server process, so opening a
# connection per request would be pure waste. On PostgreSQL a per-process pool
# (psycopg_pool, Django's "pool" option) sized to the threads hands each request a warm
# connection and takes it back afterwards; DB_POOL=0 keeps one connection per thread instead
# (CONN_MAX_AGE), for a PgBouncer in transaction mode that does the pooling itself.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    # libpq waits forever by default on a host that drops packets; fail fast instead.
    _pg_options.setdefault("connect_timeout", 5)
    if env_bool("DB_POOL", True):
        _pg_options["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 1, minimum=0),
            # One per request thread, and two for the WebSocket consumers' lookups, so no
            # request ever waits for a connection while the database has room.
            "max_size": env_int("DB_POOL_MAX", WEB_THREADS + 2, minimum=1),
            # How long a request waits for a connection: a health probe must fail fast.
            "timeout": env_int("DB_POOL_TIMEOUT", 3, minimum=1),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 300, minimum=0)
        # A connection kept across requests may have died with a database restart: check it
        # (one SELECT 1) before the first query of each request rather than fail the request.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves `make run`'s web server, worker and beat at once. SQLite
    # serialises writers: WAL lets readers go on while one writes; the busy timeout turns lock
    # contention into waiting; and IMMEDIATE transactions take the write lock when they begin,
    # so a transaction that read and then writes never finds the lock taken in between (which
    # SQLite answers at once with "database is locked", whatever the timeout).
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
    (VAR_DIR).mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, cache, channel layer, counters ------------------------------------------
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis" / "redis.sock"
REDIS_URL = env_str("REDIS_URL", f"unix://{EMBEDDED_REDIS_SOCKET}")
# A Redis that accepts connections and then answers nothing (hung, partitioned) must cost every
# caller a short, bounded wait, never the length of the outage: every client below uses these.
# PostgreSQL holds the truth about pending work, so what Redis misses meanwhile is re-driven.
REDIS_CONNECT_TIMEOUT = env_float("REDIS_CONNECT_TIMEOUT", 1.0, minimum=0.05)
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 1.0, minimum=0.05)
# After a counter (throttle, login limit) call fails, the limits skip Redis this long and let
# requests through at once, instead of each waiting out the timeout again.
COUNTERS_REDIS_RETRY_AFTER = env_float("COUNTERS_REDIS_RETRY_AFTER_SECONDS", 5.0, minimum=0)
_REDIS_TIMEOUTS = {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                   "socket_timeout": REDIS_SOCKET_TIMEOUT}


def _redis_url_for_db(url: str, db: int) -> str:
    """The same server on another logical database (broker, cache and counters kept apart)."""
    if url.startswith("unix://"):
        base = url.split("?", 1)[0]
        return f"{base}?db={db}"
    head, _, tail = url.rpartition("/")
    return f"{head}/{db}" if tail.isdigit() or tail == "" else f"{url.rstrip('/')}/{db}"


def _celery_url(url: str) -> str:
    # kombu spells a unix socket "redis+socket://" and its database "virtual_host".
    if url.startswith("unix://"):
        path = url[len("unix://") :].split("?", 1)[0]
        return f"redis+socket://{path}?virtual_host=0"
    return _redis_url_for_db(url, 0)


CACHES = {
    "default": {
        # Django's Redis cache, with Redis away taken for a miss (apps/core/cache.py).
        "BACKEND": "apps.core.cache.TolerantRedisCache",
        "LOCATION": _redis_url_for_db(REDIS_URL, 1),
        # Parallel test workers share one Redis: each gets its own keys (throttle counters).
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "tm") + os.environ.get("PYTEST_XDIST_WORKER", ""),
        "TIMEOUT": 300,
        "OPTIONS": dict(_REDIS_TIMEOUTS),
    }
}
# Counters that must be exact under concurrency (login attempts) use Redis INCR directly.
COUNTERS_REDIS_URL = _redis_url_for_db(REDIS_URL, 2)
# Units' latest heartbeats (apps.execution.beats), beside the counters; keys under this prefix
# (each test process its own).
UNITS_REDIS_URL = COUNTERS_REDIS_URL
UNITS_KEY_PREFIX = "tm:units:" + os.environ.get("PYTEST_XDIST_WORKER", "")

# Each WebSocket consumer waits for its messages with a blocking pop of up to 5 s
# (channels_redis' RedisChannelLayer.brpop_timeout). A socket timeout shorter than that cut
# every live stream after a second of quiet, so the layer's reads may take that much longer.
CHANNELS_BLOCKING_POP_SECONDS = 5
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{
            "address": _redis_url_for_db(REDIS_URL, 3),
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
            "socket_timeout": CHANNELS_BLOCKING_POP_SECONDS + REDIS_SOCKET_TIMEOUT,
        }]},
    }
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = _celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, and given back when its worker dies, so a crash
# re-delivers it; services are idempotent because they re-check state under a row lock.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis re-delivers an unacknowledged message after this; we never schedule an ETA or a
# countdown beyond it (delays are stored as run_at and promoted by a sweep instead).
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    **_REDIS_TIMEOUTS,
    # One reconnect attempt when publishing, not kombu's default of retrying for ever.
    "max_retries": 1,
    # A worker takes from its queues in the order given (-Q critical,default,low): failover
    # and the clock's sweeps are never stuck behind bulk work.
    "queue_order_strategy": "priority",
}
# Which queue each task goes to. critical: what keeps work moving (failover, the clock,
# dispatch); default: the rest; low: housekeeping that may wait.
CELERY_TASK_ROUTES = {
    # A schedule's firing: its lateness is the schedule's, so it never waits behind bulk.
    "schedules.fire": {"queue": "critical"},
    "schedules.fire_many": {"queue": "critical"},
    "apps.execution.tasks.sweep_units": {"queue": "critical"},
    "apps.tasks.tasks.promote_due_tasks": {"queue": "critical"},
    "apps.tasks.tasks.release_unblocked_tasks": {"queue": "critical"},
    "apps.tasks.tasks.dispatch_tasks": {"queue": "critical"},
    "apps.assignment.tasks.expire_assignments": {"queue": "critical"},
    "apps.assignment.tasks.assign_queued_tasks": {"queue": "default"},
    "apps.assignment.tasks.start_leaves": {"queue": "default"},
    "apps.assignment.tasks.requeue_timed_out_tasks": {"queue": "default"},
    "apps.approvals.tasks.escalate_overdue_approvals": {"queue": "default"},
    "apps.tasks.tasks.redrive_queued_tasks": {"queue": "low"},
    "apps.ops.tasks.snapshot_metrics": {"queue": "default"},
    "apps.callbacks.tasks.deliver_callback": {"queue": "default"},
    "apps.callbacks.tasks.send_due_callbacks": {"queue": "default"},
    "apps.assignment.tasks.reconcile_staff_load": {"queue": "low"},
    "apps.execution.tasks.reconcile_unit_held": {"queue": "low"},
    "apps.stats.tasks.refresh_ended_counts": {"queue": "low"},
    "apps.alerts.tasks.sweep_alerts": {"queue": "default"},
    "apps.alerts.tasks.deliver_alert": {"queue": "default"},
    "apps.dashboard.tasks.refresh_dashboard_figures": {"queue": "default"},
}
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT
# Worker and beat wait for a broker that is down at start-up instead of exiting.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish is tried twice at most: a message that still fails is dropped (logged, counted) and
# the sweeps re-announce the work it was about (apps.tasks.services.tasks_redrive_queued).
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2,
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Every beat runs the leader scheduler: only the holder of a Redis lease dispatches, so two
# or more beats are safe and one takes over within seconds when the leader dies (README,
# "Schedules", "High availability").
CELERY_BEAT_SCHEDULER = "apps.schedules.leader:LeaderScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Periodic sweeps declared in code; django-celery-beat's DatabaseScheduler syncs them into
# its tables at start, where operators can see and pause them in the admin.
SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 5, minimum=1)
# The units sweep (heartbeats persisted, silent units failed over, leases taken back) runs more
# often: a failover takes a unit's heartbeat timeout plus up to this long.
UNIT_SWEEP_INTERVAL_SECONDS = env_int("UNIT_SWEEP_INTERVAL_SECONDS", 1, minimum=1)
# How often the gauges over the database are read for /metrics (apps.core.metrics).
METRICS_SNAPSHOT_INTERVAL_SECONDS = env_int("METRICS_SNAPSHOT_INTERVAL_SECONDS", 15, minimum=1)
# Stats (apps.stats): how often the counts of ended tasks (most of the table) are recounted.
STATS_SNAPSHOT_SECONDS = env_int("STATS_SNAPSHOT_SECONDS", 30, minimum=1)
# Alerts (apps.alerts): how often threshold rules (SLA, queues, approvals, units) are checked.
ALERTS_SWEEP_SECONDS = env_int("ALERTS_SWEEP_SECONDS", 30, minimum=1)
# The dashboard (apps.dashboard.selectors): how often its system figures are taken for every
# viewer (a beat task below; a page view only reads them).
DASHBOARD_FIGURES_SECONDS = 10
CELERY_BEAT_SCHEDULE = {
    "callbacks.send_due": {
        "task": "apps.callbacks.tasks.send_due_callbacks",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
    "tasks.promote_due": {
        "task": "apps.tasks.tasks.promote_due_tasks",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
    "tasks.release_unblocked": {
        "task": "apps.tasks.tasks.release_unblocked_tasks",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
    "assignment.assign_queued": {
        "task": "apps.assignment.tasks.assign_queued_tasks",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
    "assignment.expire": {
        "task": "apps.assignment.tasks.expire_assignments",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
    },
    "assignment.start_leaves": {
        "task": "apps.assignment.tasks.start_leaves",
        "schedule": 60.0,
    },
    "assignment.requeue_timed_out": {
        "task": "apps.assignment.tasks.requeue_timed_out_tasks",
        "schedule": 60.0,
    },
    "staff.reconcile_load": {
        "task": "apps.assignment.tasks.reconcile_staff_load",
        "schedule": 600.0,
    },
    "approvals.escalate": {
        "task": "apps.approvals.tasks.escalate_overdue_approvals",
        "schedule": 60.0,
    },
    "execution.sweep_units": {
        "task": "apps.execution.tasks.sweep_units",
        "schedule": float(UNIT_SWEEP_INTERVAL_SECONDS),
    },
    "execution.reconcile_held": {
        "task": "apps.execution.tasks.reconcile_unit_held",
        "schedule": 600.0,
    },
    "tasks.redrive_queued": {
        "task": "apps.tasks.tasks.redrive_queued_tasks",
        "schedule": float(SWEEP_INTERVAL_SECONDS * 6),
    },
    # The gauges /metrics serves (apps.core.metrics): read once here, not at every scrape. A
    # snapshot not taken in time is dropped: the next one will be fresher.
    "ops.snapshot_metrics": {
        "task": "apps.ops.tasks.snapshot_metrics",
        "schedule": float(METRICS_SNAPSHOT_INTERVAL_SECONDS),
        "options": {"expires": float(METRICS_SNAPSHOT_INTERVAL_SECONDS)},
    },
    "stats.refresh_ended_counts": {
        "task": "apps.stats.tasks.refresh_ended_counts",
        "schedule": float(STATS_SNAPSHOT_SECONDS),
    },
    "alerts.sweep": {
        "task": "apps.alerts.tasks.sweep_alerts",
        "schedule": float(ALERTS_SWEEP_SECONDS),
    },
    # The dashboard's system figures (apps.dashboard.selectors): taken here for every viewer,
    # so no page view computes them. One not taken in time is dropped, as the metrics'.
    "dashboard.refresh_figures": {
        "task": "apps.dashboard.tasks.refresh_dashboard_figures",
        "schedule": float(DASHBOARD_FIGURES_SECONDS),
        "options": {"expires": float(DASHBOARD_FIGURES_SECONDS)},
    },
}

# Besides the sweeps above, tasks that log what they did themselves (apps.core.logs): Celery's
# own "received" and "succeeded" lines about them are DEBUG.
CELERY_SELF_REPORTING_TASKS = ["apps.tasks.tasks.dispatch_tasks"]

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # A unit's token (tmu_…) first: it is refused anywhere but the unit endpoints.
        "apps.execution.authentication.UnitTokenAuthentication",
        "apps.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["apps.core.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.accounts.throttling.AnonCounterThrottle",
        "apps.accounts.throttling.UserCounterThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "3000/min"),
    },
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    # JSON only, checked at the edge (size, nesting, strings PostgreSQL can store).
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "apps.core.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TaskManage API",
    "DESCRIPTION": "Who does what, when, and keeps it moving.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Tags and operation ids from what follows /api/v1/ (`tasks_cancel_create`, tag `tasks`).
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Two fields are called assignee kind: a task type's (who does it: staff or unit) and a
    # task's holder (staff, an operator as a plain user, or a unit). Named apart, or one
    # enum would stand for both and the schema would offer `user` where it is refused.
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "apps.tasks.states.TaskStatus",
        "AssigneeKindEnum": "apps.tasks.states.AssigneeKind",
        "HolderKindEnum": ["staff", "user", "unit"],
        "UnitStatusEnum": "apps.execution.models.UnitStatus",
        "WorkflowStatusEnum": "apps.workflows.models.WorkflowStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.schema.close_request_bodies_and_strip_slashes",
    ],
    # Swagger UI and ReDoc load their JavaScript and CSS from our static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would send the schema's address to an outside service.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}
# The schema maps every endpoint and field: signed-in callers only (a session, e.g. from the
# admin, or a bearer token), unless API_SCHEMA_PUBLIC; public by default in development.
API_SCHEMA_PUBLIC = env_bool("API_SCHEMA_PUBLIC", DEBUG)
SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] = ["apps.accounts.permissions.SchemaAccess"]

# API tokens: hashed at rest, expiring, revocable (apps.accounts).
API_TOKEN_TTL = timedelta(hours=env_int("API_TOKEN_TTL_HOURS", 24, minimum=1))
# Login attempts allowed per window, counted exactly with Redis INCR, for every way in (API
# token, admin, pages): per client, per username from one client, and per username from all
# clients. The last is a ceiling against guessing from many addresses; a client that signed in
# as that user within LOGIN_KNOWN_CLIENT_DAYS is exempt from it, so nobody can lock a person
# out of their own usual client.
LOGIN_RATE_WINDOW_SECONDS = env_int("LOGIN_RATE_WINDOW_SECONDS", 60, minimum=1)
LOGIN_RATE_PER_CLIENT = env_int("LOGIN_RATE_PER_CLIENT", 30, minimum=1)
LOGIN_RATE_PER_USERNAME_CLIENT = env_int("LOGIN_RATE_PER_USERNAME_CLIENT", 10, minimum=1)
LOGIN_RATE_PER_USERNAME = env_int("LOGIN_RATE_PER_USERNAME", 100, minimum=1)
LOGIN_KNOWN_CLIENT_DAYS = env_int("LOGIN_KNOWN_CLIENT_DAYS", 30, minimum=1)
# Proxies whose X-Forwarded-For is believed (addresses or CIDR networks). Empty: the client
# is the TCP peer (REMOTE_ADDR), and nobody can pick their own rate-limit bucket.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", [])

# Request bodies past this size are a 413; JSON nested deeper than this is a 400.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32, minimum=2)
TASK_BATCH_MAX = env_int("TASK_BATCH_MAX", 1000, minimum=1)
# --- Callbacks (apps.callbacks) --------------------------------------------------------------
# Private, loopback, link-local and reserved destinations are refused unless this is on
# (a receiver on the same network, or tests).
CALLBACK_ALLOW_PRIVATE = env_bool("CALLBACK_ALLOW_PRIVATE", False)
# The whole attempt: connecting (to each address in turn), sending, and the answer.
CALLBACK_TIMEOUT_SECONDS = env_float("CALLBACK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# Host name -> addresses, answered instead of DNS as curl's --resolve does (a name pinned in a
# split-horizon network); the addresses are checked like resolved ones. Settings only.
CALLBACK_RESOLVE: dict[str, list[str]] = {}
CALLBACK_MAX_ATTEMPTS = env_int("CALLBACK_MAX_ATTEMPTS", 8, minimum=1)
# Backoff after the n-th failed attempt: base * 2**(n-1), capped, then jittered to 50-100 %.
CALLBACK_BACKOFF_SECONDS = env_float("CALLBACK_BACKOFF_SECONDS", 10.0, minimum=0.0)
CALLBACK_BACKOFF_MAX_SECONDS = env_float("CALLBACK_BACKOFF_MAX_SECONDS", 3600.0, minimum=0.0)
# A pending approval request escalates (manager's manager or admins) after this many seconds.
# --- Execution units ------------------------------------------------------------------------
# A claim holds a task this long; progress reports and heartbeats renew it. Past it, a sweep
# sends the task back to the queue (a unit that vanished without a word).
UNIT_LEASE_SECONDS = env_int("UNIT_LEASE_SECONDS", 60, minimum=5)
# A unit silent longer than its heartbeat timeout is offline (its work fails over); after Redis
# lost the heartbeats (a restart), nobody is marked offline for this long.
UNIT_HEARTBEAT_GRACE_SECONDS = env_int("UNIT_HEARTBEAT_GRACE_SECONDS", 60, minimum=0)
# Who may register a unit: an admin's token always; also whoever holds the registration secret
# of the unit's type (`X-Registration-Secret` header). Comma-separated `unit_type:secret`;
# `*:secret` for every type. None by default: only admins register units.
# The longest a claim may wait for work (long polling), in seconds.
UNIT_CLAIM_MAX_WAIT = env_int("UNIT_CLAIM_MAX_WAIT", 30, minimum=0)
UNIT_REGISTRATION_SECRETS = dict(
    item.split(":", 1) for item in env_list("UNIT_REGISTRATION_SECRETS", []) if ":" in item
)

# --- Knowledge base ---------------------------------------------------------------------------
# An uploaded document is kept in the database: small files only (a 400 past this size).
KNOWLEDGE_MAX_DOCUMENT_BYTES = env_int("KNOWLEDGE_MAX_DOCUMENT_BYTES", 10 * 1024 * 1024,
                                       minimum=1024)
# The task type that processes an uploaded document (served by the reference unit).
KNOWLEDGE_TASK_TYPE = env_str("KNOWLEDGE_TASK_TYPE", "document_processing")
# Bounds on what a unit stores for one document: chunks, characters per chunk.
KNOWLEDGE_MAX_CHUNKS = env_int("KNOWLEDGE_MAX_CHUNKS", 5000, minimum=1)
KNOWLEDGE_MAX_CHUNK_SIZE = env_int("KNOWLEDGE_MAX_CHUNK_SIZE", 4000, minimum=100)
# A document's chunks with their vectors are one request body, larger than API_MAX_BODY_BYTES.
KNOWLEDGE_MAX_CHUNKS_BODY_BYTES = env_int("KNOWLEDGE_MAX_CHUNKS_BODY_BYTES", 64 * 1024 * 1024,
                                          minimum=1024)
# DRF has Django read a JSON body whole before the parsers see it, under Django's own cap: it
# must let the largest body an endpoint takes through (each parser then holds its endpoint to
# its own limit), or its 2.5 MB default would be every endpoint's limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES, KNOWLEDGE_MAX_CHUNKS_BODY_BYTES)

APPROVAL_ESCALATE_AFTER = env_int("APPROVAL_ESCALATE_AFTER_SECONDS", 86400, minimum=60)

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# The pages' sign-in (apps.dashboard); the admin keeps its own at /admin/login/.
LOGIN_URL = "dashboard:sign-in"
LOGIN_REDIRECT_URL = "dashboard:home"

# /metrics: a bearer token and/or an address allow-list; with neither, loopback in DEBUG only.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS", [])

# --- Mail (decisions, escalations) ----------------------------------------------------------
# Development prints mail to the console; production sends through SMTP.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "TaskManage <taskmanage@localhost>")

# --- Security (production) ------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Health probes and Prometheus scrape over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"quiet_sweeps": {"()": "apps.core.logs.QuietSweeps"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Celery's per-run lines about periodic sweeps: DEBUG, so an idle system is quiet.
    # Django's default config gives its loggers a console handler of their own under DEBUG;
    # they also reach the root's, so every error was printed twice. The root's is enough.
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # A WebSocket whose process died stays in its groups until channels_redis expires it
        # (a day); every live event sent meanwhile logs an INFO line about that channel being
        # full. Normal, and not worth a line per event.
        "channels_redis.core": {"level": "WARNING"},
        **{name: {"filters": ["quiet_sweeps"]}
           for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace")},
    },
}

# --- Schedules (apps.schedules) -------------------------------------------------------------
# A beat firing later than this after its planned time is a misfire (beat was down): the
# schedule's misfire policy decides whether it still runs (`run_once`) or is dropped (`skip`).
SCHEDULES_MISFIRE_GRACE_SECONDS = env_int("SCHEDULES_MISFIRE_GRACE_SECONDS", 60, minimum=1)
# One backfill spawns at most this many runs (a wider range is a 400 naming `end`).
SCHEDULES_BACKFILL_MAX_RUNS = env_int("SCHEDULES_BACKFILL_MAX_RUNS", 500, minimum=1)


def _leader_timing() -> tuple[float, float]:
    """The beat lease's time to live and renewal interval, in seconds. The lease must survive
    a missed renewal or two, so the interval is at most a third of the time to live."""
    ttl = env_float("SCHEDULES_LEADER_TTL_SECONDS", 1.2, minimum=0.2)
    renew = env_float("SCHEDULES_LEADER_RENEW_SECONDS", 0.3, minimum=0.02)
    if renew * 3 > ttl:
        raise ImproperlyConfigured(
            f"SCHEDULES_LEADER_RENEW_SECONDS ({renew:g}) must be at most a third of "
            f"SCHEDULES_LEADER_TTL_SECONDS ({ttl:g}): one slow renewal would lose the lease.")
    return ttl, renew


# Beat high availability (apps.schedules.leader): the leader renews its lease every RENEW
# seconds and a standby tries to take it as often, so a dead leader is replaced within about
# TTL + RENEW seconds.
SCHEDULES_LEADER_TTL_SECONDS, SCHEDULES_LEADER_RENEW_SECONDS = _leader_timing()
SCHEDULES_LEADER_REDIS_URL = COUNTERS_REDIS_URL
# Beats of one system share this key; parallel test workers sharing one Redis each elect
# their own leader.
SCHEDULES_LEADER_KEY = (env_str("SCHEDULES_LEADER_KEY", "tm:schedules:leader")
                        + os.environ.get("PYTEST_XDIST_WORKER", ""))
# A new leader fires again every planned time of the last REPLAY seconds before its
# predecessor's last dispatch: what was spawned collides with itself (no double), a firing
# refused by the fence or lost on the way is spawned now (nothing lost).
SCHEDULES_LEADER_REPLAY_SECONDS = env_int("SCHEDULES_LEADER_REPLAY_SECONDS", 10, minimum=0)
# Firings per `schedules.fire_many` message, and how long the leader gathers due firings
# into one message at most (their added lateness).
SCHEDULES_FIRE_BATCH = env_int("SCHEDULES_FIRE_BATCH", 200, minimum=1)
SCHEDULES_DISPATCH_EVERY_SECONDS = env_float("SCHEDULES_DISPATCH_EVERY_SECONDS", 0.25,
                                             minimum=0.0)
