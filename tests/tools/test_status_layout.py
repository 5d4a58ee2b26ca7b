"""`status --watch` at 80x24 shows every stage first, in full; piped, it prints key=value lines."""

from __future__ import annotations

import io

from rich.console import Console

from stages.tools.status import (
    GroupLag,
    Snapshot,
    StageSample,
    TopicState,
    lines,
    render_compact,
)

PREFIX = "crawlpipe"


def snapshot(taken_at: float, consumed: float) -> Snapshot:
    def stage(name: str, port: int, paused: tuple[str, ...] = ()) -> StageSample:
        return StageSample(f"http://127.0.0.1:{port}/metrics", taken_at, name, {
            "crawlpipe_consumed_messages_total": consumed, "crawlpipe_produced_messages_total": consumed * 40,
            "crawlpipe_in_flight_messages": 180, "crawlpipe_window_capacity_messages": 2000,
            "crawlpipe_rss_bytes": 412 * 1024 * 1024, "crawlpipe_dlq_messages_total": 12_345}, paused)

    return Snapshot(
        topics=[TopicState(name, {p: 1_000_000 for p in range(6)}, 6_000_000)
                for name in ("crawl.urls", "crawl.pages", "crawl.products", "crawl.dlq")],
        groups=[GroupLag(f"{PREFIX}-{stage}", topic, 1_234_567, 9_876_543)
                for stage, topic in (("fetcher", "crawl.urls"), ("parser", "crawl.pages"),
                                     ("sink", "crawl.products"), ("parser-replay", "crawl.pages"))],
        stages=[stage("fetcher", 9400), stage("parser", 9401, ("lag", "memory")), stage("parser", 9402),
                stage("sink", 9403)],
    )


def test_the_compact_layout_fits_80_by_24_with_every_stage_row_whole():
    console = Console(file=io.StringIO(), width=80, height=24, force_terminal=True, color_system=None)
    console.print(render_compact(snapshot(12.0, 5000.0), snapshot(10.0, 1000.0), PREFIX))
    screen = console.file.getvalue().splitlines()
    assert len(screen) <= 24, "\n".join(screen)
    assert max(len(line) for line in screen) <= 80
    assert "…" not in "\n".join(screen), "a header or cell was cut:\n" + "\n".join(screen)
    assert screen[0].strip() == "stages", "stages come first"
    stage_rows = [line for line in screen if "/2000" in line]
    assert [row.split()[:2] for row in stage_rows] == [["fetcher", "9400"], ["parser", "9401"], ["parser", "9402"],
                                                      ["sink", "9403"]]
    assert "2.0k" in stage_rows[0] and "80.0k" in stage_rows[0] and "180/2000" in stage_rows[0] and "lag, memory" in stage_rows[1]


def test_piped_watch_prints_one_key_value_line_per_stage_group_and_topic():
    printed = lines(snapshot(12.0, 5000.0), snapshot(10.0, 1000.0), "2026-12-01T22:00:00Z")
    assert len(printed) == 4 + 4 + 4
    assert printed[0] == ("2026-12-01T22:00:00Z stage=fetcher endpoint=http://127.0.0.1:9400/metrics consumed=5000 "
                          "consumed_per_s=2000.0 produced_per_s=80000.0 in_flight=180 rss_mb=412 dlq=12345 paused=no")
    assert "group=crawlpipe-parser topic=crawl.pages lag=1234567 committed=9876543" in printed[5]
    assert printed[-1].endswith("topic=crawl.dlq partitions=6 messages=6000000")
