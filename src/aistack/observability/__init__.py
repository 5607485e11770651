"""Observability: Prometheus metrics, rendered Prometheus/Alertmanager/Grafana configuration, status."""
