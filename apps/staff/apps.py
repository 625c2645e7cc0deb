from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "apps.staff"
    label = "staff"

    def ready(self):
        from . import hooks, metrics  # noqa: F401  (metrics: registers its snapshot)

        hooks.register()
