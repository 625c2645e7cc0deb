# Prometheus first: with PROMETHEUS_MULTIPROC_DIR set, every metric this process creates must
# write to its own file in that directory (taskmanage/multiproc.py).
from .multiproc import configure as _configure_metrics

_configure_metrics()

# Load the Celery app whenever Django starts so that @shared_task binds to it.
from .celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
