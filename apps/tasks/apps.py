from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "apps.tasks"
    label = "tasks"

    def ready(self):
        from . import hooks, metrics  # noqa: F401  (metrics: registers its collector)

        hooks.register()
