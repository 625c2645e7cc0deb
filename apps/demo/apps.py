from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for a first look. It spans every app on purpose (a first `make run` should
    show work being assigned), so it sits above all of them and nothing imports it."""

    name = "apps.demo"
    label = "demo"
