from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    """Workflows: a graph of tasks created at once, whose edges are the tasks' own
    dependencies (release stays the task services'), with failure propagation per workflow."""

    name = "apps.workflows"
    label = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from . import hooks

        hooks.register()
