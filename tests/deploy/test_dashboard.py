"""The Grafana dashboard in deploy/ charts metrics the processes export, by their names."""
import json
import re

from services.common import metrics

from .deployfiles import DEPLOY


def test_the_dashboard_queries_only_exported_metrics_and_covers_the_essentials():
    dashboard = json.loads((DEPLOY / "grafana" / "clientfolio.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", name)
            for expr in exprs for name in re.findall(r"\bclientfolio_\w+", expr)}
    exported = {family.name if family.type != "counter" else family.name + "_total"
                for family in metrics.HTTP_REQUESTS.collect() + metrics.COMMANDS.collect()
                + metrics.HTTP_LATENCY.collect() + metrics.RPC_LATENCY.collect()
                + metrics.RELAY_BACKLOG.collect() + metrics.CONSUMER_LAG.collect()
                + metrics.DEAD_LETTERS.collect() + metrics.EVENTS_PUBLISHED.collect()
                + metrics.EVENTS_APPLIED.collect() + metrics.BUILD_INFO.collect()}
    assert used <= exported, used - exported
    for essential in ("clientfolio_http_requests_total",
                      "clientfolio_http_request_duration_seconds",
                      "clientfolio_relay_backlog", "clientfolio_consumer_lag",
                      "clientfolio_dead_letters_total", "clientfolio_commands_total"):
        assert essential in used, essential
    # No panel charts a deprecated name.
    assert not any("clientfolio_http_request_seconds" in e or "clientfolio_rpc_seconds" in e
                   for e in exprs)
