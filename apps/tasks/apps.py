from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "apps.tasks"
    label = "tasks"

    def ready(self):
        from . import metrics, subscribers  # noqa: F401  (registers subscribers, collectors)
