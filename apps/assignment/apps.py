from django.apps import AppConfig


class AssignmentConfig(AppConfig):
    name = "apps.assignment"
    label = "assignment"

    def ready(self):
        from . import hooks

        hooks.register()
