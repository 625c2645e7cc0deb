from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    """Schedules: templates that spawn tasks on a cron, a fixed rate, a fixed delay or once,
    kept in step with django-celery-beat, each planned time spawning at most once."""

    name = "apps.schedules"
    label = "schedules"
    verbose_name = "Schedules"

    def ready(self) -> None:
        from . import metrics  # noqa: F401  (registers its collector)
