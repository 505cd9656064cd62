"""``path("tablecron/", include("tablecron.contrib.prometheus.urls"))`` serves the metrics
at ``tablecron/metrics``."""

from django.urls import path

from tablecron.contrib.prometheus import views

app_name = "tablecron_metrics"
urlpatterns = [path("metrics", views.metrics, name="metrics")]
