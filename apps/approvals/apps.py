from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "apps.approvals"
    label = "approvals"

    def ready(self):
        from . import extensions, metrics, subscribers  # noqa: F401  (task hooks, mail, gauges)

        extensions.register()  # the task admin's approval requests inline
