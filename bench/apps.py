from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed by bench.settings only, for its `bench` management command."""

    name = "bench"
    label = "bench"
