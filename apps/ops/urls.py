from django.urls import path

from . import views
from .metrics import metrics

urlpatterns = [
    path("health", views.health_all, name="health"),
    path("health/database", views.health_database, name="health-database"),
    path("health/redis", views.health_redis, name="health-redis"),
    path("metrics", metrics, name="metrics"),
]
