from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "apps.approvals"
    label = "approvals"

    def ready(self):
        from . import hooks, metrics  # noqa: F401  (metrics: registers its collector)

        hooks.register()
