from django.contrib import admin
from django.urls import path

from ash_oban_django import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    # Prometheus metrics (the `metrics` extra); see docs/operations.md.
    path("metrics", metrics.view),
]
