//! docs/stats.md's tables of metrics and of `lt_stats_t` fields are
//! generated from the metric catalogue; this test fails when they differ.
//! Regenerate with `LT_BLESS=1 cargo test --test docs`, which keeps the
//! hand-written "Binary snapshot" section at the end; its byte table and
//! example are checked against the encoder here.

use lt::engine::stats::{MetricKind, METRICS, STATS_FIELDS};

fn render() -> String {
    let mut s = String::from(
        "# Statistics reference\n\n\
         The tables of metrics and of `lt_stats_t` fields are generated from the engine's \
         metric catalogue by `tests/docs.rs` (`LT_BLESS=1 cargo test --test docs`); do not \
         edit them by hand. The \"Binary snapshot\" section at the end is written by hand.\n\n\
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

/// Where the hand-written section starts.
const BINARY_SECTION: &str = "\n## Binary snapshot\n";

fn stats_md() -> (&'static str, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/stats.md");
    (path, std::fs::read_to_string(path).unwrap_or_default())
}

#[test]
fn stats_reference_is_current() {
    let split =
        |text: &str| text.find(BINARY_SECTION).expect("docs/stats.md has its Binary snapshot section");
    let want = render();
    let (path, mut have) = stats_md();
    if std::env::var_os("LT_BLESS").is_some() {
        std::fs::write(path, format!("{want}{}", &have[split(&have)..])).unwrap();
        have = stats_md().1;
    }
    assert!(have[..split(&have)] == want, "docs/stats.md is stale: run LT_BLESS=1 cargo test --test docs");
}

/// The byte table's rows follow one another from offset 0 to the values at
/// `HEADER_LEN`, and the example's bytes are the golden file's first
/// snapshot, offset by offset.
#[test]
fn binary_snapshot_section_matches_the_encoder() {
    use lt::engine::export::binary::HEADER_LEN;
    let (_, have) = stats_md();
    let section = &have[have.find(BINARY_SECTION).expect("the Binary snapshot section")..];

    let rows: Vec<(usize, &str)> = section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Some((cells.get(1)?.parse().ok()?, *cells.get(2)?))
        })
        .collect();
    let mut at = 0;
    for (offset, size) in &rows {
        assert_eq!(*offset, at, "byte table row at offset {offset}");
        match size.parse::<usize>() {
            Ok(n) => at += n,
            Err(_) => assert_eq!(
                (*offset, *size),
                (HEADER_LEN, "8 × `count`"),
                "only the values have no fixed size"
            ),
        }
    }
    assert_eq!(rows.last().map(|r| r.0), Some(HEADER_LEN));

    let example = section.split("```text\n").nth(1).expect("the example").split("```").next().unwrap();
    let mut bytes = Vec::new();
    for line in example.lines().skip(1) {
        let mut words = line.split_whitespace();
        let offset: usize = words.next().unwrap().parse().expect("an offset");
        assert_eq!(offset, bytes.len(), "example line at offset {offset}");
        bytes.extend(
            words.take_while(|w| w.len() == 2).map(|w| u8::from_str_radix(w, 16).expect("a hex byte")),
        );
    }
    let golden =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stats_snapshot_v1.bin")).unwrap();
    assert_eq!(bytes, golden[..bytes.len()]);
    assert_eq!(bytes.len(), 72, "the example is the whole first snapshot");
}
