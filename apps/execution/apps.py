from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    """Execution units: machines that register, heartbeat, claim work under leases and fail
    over. Above the assignment engine (it may reuse its strategy registry), below ops."""

    name = "apps.execution"
    label = "execution"

    def ready(self):
        from . import hooks

        hooks.register()
