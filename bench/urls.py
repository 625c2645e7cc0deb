"""The product's routes plus the baselines the harness measures the API against."""

from django.urls import include, path

from taskmanage.urls import urlpatterns as product_urlpatterns

from . import views

baseline_urlpatterns = [
    path("bare-create", views.bare_create, name="bench-bare-create"),
    path("minimal", views.minimal, name="bench-minimal"),
]

urlpatterns = [path("bench/", include(baseline_urlpatterns)), *product_urlpatterns]
