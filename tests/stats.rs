//! Statistics are true, current and safe to read from many threads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lt::engine::create::{create_torrent, CreateOptions};
use lt::engine::stats::{Metric, MetricKind, METRICS, STATS_FIELDS};
use lt::engine::{AddTorrentParams, AlertKind, AlertType, Session, Settings, TorrentSource, TorrentState};
use lt::proto::metainfo::Metainfo;

fn settings() -> Settings {
    Settings { listen_interfaces: "127.0.0.1:0".into(), ..Settings::default() }
}

#[test]
fn periodic_session_stats_and_system_figures() {
    let ses = Session::new(Settings { stats_interval_ms: 200, ..settings() }).unwrap();
    let start = Instant::now();
    let mut n = 0;
    let mut last_uptime = -1;
    while start.elapsed() < Duration::from_millis(1500) {
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(50)) {
            if let AlertKind::SessionStats { counters } = &a.kind {
                n += 1;
                let up = counters[Metric::UptimeMs as usize];
                assert!(up > last_uptime, "uptime grows");
                last_uptime = up;
            }
        }
    }
    assert!((4..=9).contains(&n), "{n} session_stats alerts in 1.5 s at 200 ms");
    let c = ses.counters();
    let cores = std::thread::available_parallelism().unwrap().get() as i64;
    assert_eq!(c.get(Metric::CpuCores), cores);
    assert!(c.get(Metric::ProcessRssBytes) > 1 << 20);
    assert!(c.get(Metric::MemoryTotalBytes) > c.get(Metric::MemoryAvailableBytes));
    assert!((0..=1000).contains(&c.get(Metric::SystemCpuPermille)));
    // Off again: no more alerts.
    ses.apply_settings(settings()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    while ses.pop_alert().is_some() {}
    std::thread::sleep(Duration::from_millis(600));
    assert!(std::iter::from_fn(|| ses.pop_alert()).all(|a| a.alert_type() != AlertType::SessionStats));
}

/// Eight threads read the counters while a download runs: counters never
/// go down, the torrent-state gauges add up, and the final figures match
/// the transfer.
#[test]
fn concurrent_readers_see_consistent_figures() {
    let dir = std::env::temp_dir().join(format!("lt-stats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let content = dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    let data: Vec<u8> = (0..6_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(content.join("d.bin"), &data).unwrap();
    let opts = CreateOptions { piece_length: Some(64 * 1024), ..Default::default() };
    let meta =
        Arc::new(Metainfo::from_bytes(&create_torrent(&content, &opts, &mut |_, _| {}).unwrap()).unwrap());

    let seeder = Session::new(settings()).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), &dir);
    p.seed_mode = true;
    seeder.add_torrent(p).unwrap();
    let leecher = Arc::new(Session::new(settings()).unwrap());
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), dir.join("leech"));
    p.peers.push(format!("127.0.0.1:{}", seeder.listen_port().unwrap()).parse().unwrap());
    let id = leecher.add_torrent(p).unwrap();

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let ses = leecher.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut last = ses.stats_snapshot();
                let mut reads = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let now = ses.stats_snapshot();
                    for (i, m) in METRICS.iter().enumerate() {
                        if m.kind == MetricKind::Counter {
                            assert!(now[i] >= last[i], "{} went down: {} -> {}", m.name, last[i], now[i]);
                        }
                    }
                    let states: i64 = [
                        Metric::NumCheckingTorrents,
                        Metric::NumDownloadingTorrents,
                        Metric::NumSeedingTorrents,
                        Metric::NumStoppedTorrents,
                        Metric::NumQueuedTorrents,
                    ]
                    .iter()
                    .map(|m| now[*m as usize])
                    .sum();
                    assert!(states <= 1 && now[Metric::NumTorrents as usize] <= 1);
                    last = now;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while leecher.torrent_status(id).unwrap().state != TorrentState::Seeding {
        assert!(Instant::now() < deadline, "download did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 100, "readers ran ({reads} reads)");

    std::thread::sleep(Duration::from_millis(1200));
    let c = leecher.counters();
    let n = meta.lengths.total_length() as i64;
    assert!(
        c.get(Metric::RecvPayloadBytes) >= n
            && c.get(Metric::RecvPayloadBytes) <= n + c.get(Metric::WastedBytes)
    );
    let states = c.get(Metric::NumCheckingTorrents)
        + c.get(Metric::NumDownloadingTorrents)
        + c.get(Metric::NumSeedingTorrents)
        + c.get(Metric::NumStoppedTorrents)
        + c.get(Metric::NumQueuedTorrents);
    assert_eq!(states, c.get(Metric::NumTorrents));
    assert_eq!(c.get(Metric::NumSeedingTorrents), 1);
    assert_eq!(STATS_FIELDS.len(), 43);
    drop(leecher);
    let _ = std::fs::remove_dir_all(&dir);
}

/// post_torrent_updates delivers the statuses that changed since the last
/// call; time counters only run while the torrent runs.
#[test]
fn torrent_updates_carry_only_changes() {
    let dir = std::env::temp_dir().join(format!("lt-updates-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let content = dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("x.bin"), vec![1u8; 100_000]).unwrap();
    let opts = CreateOptions { piece_length: Some(16 * 1024), ..Default::default() };
    let meta =
        Arc::new(Metainfo::from_bytes(&create_torrent(&content, &opts, &mut |_, _| {}).unwrap()).unwrap());
    let ses = Session::new(settings()).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.join("empty"));
    p.paused = true;
    let id = ses.add_torrent(p).unwrap();

    let updates = |ses: &Session| -> Vec<lt::engine::TorrentStatus> {
        ses.post_torrent_updates();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "no state_update alert");
            if let Some(a) = ses.wait_for_alert(Duration::from_millis(100)) {
                if let AlertKind::StateUpdate { statuses } = a.kind {
                    return statuses;
                }
            }
        }
    };
    let first = updates(&ses);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, id);
    assert!(first[0].paused);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(updates(&ses).is_empty(), "a paused torrent does not change");
    assert_eq!(ses.torrent_status(id).unwrap().active_time_s, 0);
    ses.resume_torrent(id).unwrap();
    let after = updates(&ses);
    assert_eq!(after.len(), 1);
    assert!(!after[0].paused);
    std::thread::sleep(Duration::from_millis(2500));
    let st = ses.torrent_status(id).unwrap();
    assert!(st.active_time_s >= 1, "{st:?}");
    assert_eq!(st.seeding_time_s, 0);
    assert_eq!(st.eta_s, -1, "no peers, no rate: unknown");
    assert_eq!(st.distributed_copies, -1.0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A threshold crossed and then back to normal raises exactly two
/// performance alerts, and both are kept as events.
#[test]
fn threshold_crossed_and_cleared_alerts_twice() {
    use lt::engine::thresholds::{Severity, Watched};
    let ses = Session::new(Settings {
        alert_queue_size: 100,
        perf_alert_queue_percent: 50,
        alert_mask: lt::engine::alerts::category::PERFORMANCE_WARNING as i64,
        ..settings()
    })
    .unwrap();
    for _ in 0..60 {
        ses.post_session_stats();
    }
    let mut perf = Vec::new();
    let drain = |ses: &Session, perf: &mut Vec<lt::engine::thresholds::ThresholdEvent>| {
        while let Some(a) = ses.pop_alert() {
            if let AlertKind::Performance { event } = a.kind {
                perf.push(event);
            }
        }
    };
    // Over the threshold for a few checks: one alert only.
    std::thread::sleep(Duration::from_millis(3500));
    drain(&ses, &mut perf);
    assert_eq!(perf.len(), 1, "{perf:?}");
    assert_eq!(perf[0].watched, Watched::AlertQueuePercent);
    assert_eq!(perf[0].severity, Severity::Warning);
    assert!(perf[0].value > 50 && perf[0].threshold == 50);
    // Drained: back to normal, once.
    std::thread::sleep(Duration::from_millis(3500));
    drain(&ses, &mut perf);
    assert_eq!(perf.len(), 2, "{perf:?}");
    assert_eq!(perf[1].severity, Severity::Cleared);
    assert_eq!(ses.threshold_events().len(), 2);
    assert_eq!(ses.counters().get(Metric::PerformanceAlerts), 2);
}
