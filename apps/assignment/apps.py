from django.apps import AppConfig


class AssignmentConfig(AppConfig):
    name = "apps.assignment"
    label = "assignment"

    def ready(self):
        from . import extensions, subscribers  # noqa: F401  (dispatcher for staff work, outcome keeper)

        extensions.register()  # the task admin's bulk reassign
