from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "apps.staff"
    label = "staff"

    def ready(self):
        from . import services  # noqa: F401  (registers the load keeper on task hand-overs)
