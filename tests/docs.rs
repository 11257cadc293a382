//! docs/stats.md is generated from the metric catalogue; this test fails
//! when they differ. Regenerate with `LT_BLESS=1 cargo test --test docs`.

use lt::engine::stats::{MetricKind, METRICS, STATS_FIELDS};

fn render() -> String {
    let mut s = String::from(
        "# Statistics reference\n\n\
         Generated from the engine's metric catalogue by `tests/docs.rs` \
         (`LT_BLESS=1 cargo test --test docs`); do not edit by hand.\n\n\
         Every metric is a 64-bit signed integer. Counters only grow; gauges move both ways. \
         Names follow libtorrent-rasterbar's where the meaning is the same. Read them all with \
         `lt_post_session_stats` + `lt_alert_counters`, one by index with `lt_stats_metric` / \
         `lt_stats_find_metric`, or the common ones as fields of `lt_stats_t` (`lt_session_stats`).\n\n\
         ## Metrics\n\n| index | name | kind | unit | meaning |\n|---|---|---|---|---|\n",
    );
    for (i, m) in METRICS.iter().enumerate() {
        let kind = match m.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        };
        s.push_str(&format!("| {i} | `{}` | {kind} | {} | {} |\n", m.name, m.unit, m.description));
    }
    s.push_str("\n## `lt_stats_t` fields\n\n| field | metric |\n|---|---|\n");
    for (field, m) in STATS_FIELDS {
        s.push_str(&format!("| `{field}` | `{}` |\n", METRICS[*m as usize].name));
    }
    s
}

#[test]
fn stats_reference_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/stats.md");
    let want = render();
    if std::env::var_os("LT_BLESS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(have == want, "docs/stats.md is stale: run LT_BLESS=1 cargo test --test docs");
}
