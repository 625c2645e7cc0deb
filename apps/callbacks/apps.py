from django.apps import AppConfig


class CallbacksConfig(AppConfig):
    name = "apps.callbacks"
    label = "callbacks"

    def ready(self):
        from . import hooks

        hooks.register()
