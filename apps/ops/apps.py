from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: health checks, /metrics, the live event stream and the commands that run
    the system. Built on the kernel only, so it can watch every domain without depending on
    one."""

    name = "apps.ops"
    label = "ops"

    def ready(self):
        from . import hooks

        hooks.register()
