from django.apps import AppConfig


class AssignmentConfig(AppConfig):
    name = "apps.assignment"
    label = "assignment"

    def ready(self):
        from . import subscribers  # noqa: F401  (dispatcher for staff work, outcome keeper)
