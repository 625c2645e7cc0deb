from django.urls import path

from . import views

# /metrics comes from django_prometheus.urls (see taskmanage/urls.py).
urlpatterns = [
    path("health", views.health_all, name="health"),
    path("health/database", views.health_database, name="health-database"),
    path("health/redis", views.health_redis, name="health-redis"),
]
