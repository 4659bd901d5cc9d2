"""The Markdown report's CPU and archive-depth sections."""

from __future__ import annotations

from boom_flow.bench.report import cpu_section, depth_section


def test_cpu_section_lists_every_process_and_the_ceiling() -> None:
    cpu = {"cores": 2, "processes": [{"process": "driver", "cpu_s": 1.5, "ms_per_alert": 1.5},
                                     {"process": "server mongodb", "cpu_s": 9.0,
                                      "ms_per_alert": 9.0}],
           "pipeline_ms_per_alert": 1.5, "servers_ms_per_alert": 9.0,
           "total_ms_per_alert": 10.5, "cpu_ceiling_alerts_per_s": 190.5,
           "pipeline_ceiling_alerts_per_s": 1333.3, "busy_share_steady": 0.93,
           "busy_share_run": 0.8}
    text = "\n".join(cpu_section(cpu))
    assert "| driver | 1.5 | 1.5 |" in text and "| server mongodb | 9.0 | 9.0 |" in text
    assert "| 1.5 | 9.0 | 10.5 | 190.5 | 1,333.3 | 93% | 80% |" in text
    assert cpu_section({}) == []


def test_depth_section_has_a_row_per_depth_and_a_column_per_server() -> None:
    rows = [{"prior_nights": 1, "alerts_per_s": 40.0, "pipeline_ms_per_alert": 20.0,
             "server_ms_per_alert": {"mongodb": 10.0, "kafka": 0.2},
             "total_ms_per_alert": 30.2, "pipeline_vs_first": 1.0, "servers_vs_first": 1.0},
            {"prior_nights": 10, "alerts_per_s": 38.0, "pipeline_ms_per_alert": 21.0,
             "server_ms_per_alert": {"mongodb": 11.0, "kafka": 0.2},
             "total_ms_per_alert": 32.2, "pipeline_vs_first": 1.05, "servers_vs_first": 1.1,
             "aux_rereads": 3}]
    text = "\n".join(depth_section(rows))
    assert "| earlier nights | alerts/s | pipeline ms/alert | kafka ms/alert | mongodb ms/alert" \
           in text
    assert "| 10 | 38.0 | 21.0 | 0.2 | 11.0 | 32.2 | 1.05 | 1.10 | 3 |" in text
