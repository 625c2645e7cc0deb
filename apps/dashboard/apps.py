from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The pages people live in: sign-in, the dashboard, tasks, my tasks, approvals.

    Server-rendered templates over the same selectors, policies and services as the API, so a
    button on a page and an API call can never disagree. The top layer: it may read any app.
    """

    name = "apps.dashboard"
    label = "dashboard"

    def ready(self) -> None:
        from . import hooks

        hooks.register()
