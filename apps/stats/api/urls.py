from django.urls import re_path

from .views import OverviewView, QueuesView, StaffStatsView, WorkersView

# The contract spells paths without a trailing slash; accept one too, without a redirect.
urlpatterns = [
    re_path(r"^stats/overview/?$", OverviewView.as_view(), name="stats-overview"),
    re_path(r"^stats/queues/?$", QueuesView.as_view(), name="stats-queues"),
    re_path(r"^stats/workers/?$", WorkersView.as_view(), name="stats-workers"),
    re_path(r"^stats/staff/?$", StaffStatsView.as_view(), name="stats-staff"),
]
