"""Observability: alert rules, Grafana dashboards and the rendered Prometheus/Alertmanager/Grafana
configuration. The metrics themselves are aistack.metrics; the instrumented LLM is
aistack.llm.instrumented; `observability status` reads a gateway through aistack.client.status."""
