from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "apps.staff"
    label = "staff"

    def ready(self):
        from . import extensions, services  # noqa: F401  (services: the load keeper on hand-overs)

        extensions.register()  # a task type's required skills (apps.tasks.extensions)
