//! `lt download` and `lt seed`: one session, its torrents, a view of their
//! progress, and a clean stop.
//!
//! A clean stop (every download complete, or Ctrl-C) saves each torrent's
//! resume data to `<dir>/.lt-resume/<info-hash>.resume` and then drops the
//! session, which tells the trackers `stopped` and flushes the files. The
//! next run with the same directory reads that file, so the engine skips
//! the full check when the files are as they were saved.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use lt::engine::alerts::category;
use lt::engine::stats::Metric;
use lt::engine::{AddTorrentParams, AlertKind, ErrorKind, Session, Settings, TorrentId, TorrentStatus};
use lt::proto::types::InfoHash;

use crate::source::Source;
use crate::view::{is_complete, View};
use crate::{interrupt, Outcome};

/// The folder under the save directory that holds resume data.
pub const RESUME_DIR: &str = ".lt-resume";
/// A resume file larger than this is not ours: resume data is a bitfield,
/// file sizes and, for a magnet, the info dictionary (at most 10 MB).
const MAX_RESUME_FILE: u64 = 32 << 20;
/// Public DHT routers: libtorrent's default `dht_bootstrap_nodes` and
/// those of BitTorrent, µTorrent and Transmission.
const DHT_BOOTSTRAP: &str = "dht.libtorrent.org:25401,router.bittorrent.com:6881,router.utorrent.com:6881,dht.transmissionbt.com:6881";
/// libtorrent's default listen port.
const DEFAULT_PORT: u16 = 6881;
/// How long the loops wait for an alert before looking at the torrents again.
const POLL: Duration = Duration::from_millis(200);
/// Most alerts handled between two updates of the view.
const MAX_ALERTS_PER_TURN: usize = 1000;
/// How long a clean stop waits for resume data.
const RESUME_WAIT: Duration = Duration::from_secs(10);

/// Options of the session under `download` and `seed`.
#[derive(Args)]
pub struct SessionArgs {
    /// Port to accept peers on (all interfaces, IPv4 and IPv6), or one IP:PORT;
    /// 0 picks a free port
    #[arg(long, value_name = "PORT|IP:PORT", default_value_t = DEFAULT_PORT.to_string())]
    listen: String,
    /// Do not run a DHT node (it contacts public DHT routers to find peers)
    #[arg(long)]
    no_dht: bool,
    /// Serve statistics over HTTP on ADDR (PORT or IP:PORT; a bare port is on
    /// 127.0.0.1): GET /stats, /metrics; `lt stats ADDR` reads it
    #[arg(long, value_name = "ADDR")]
    stats_listen: Option<String>,
    /// Require this token on the statistics endpoint (the `stats_token`
    /// setting): `lt stats --token TOKEN` sends it
    #[arg(long, value_name = "TOKEN", requires = "stats_listen")]
    stats_token: Option<String>,
    /// Seconds between status lines when stdout is not a terminal
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
    /// Most bytes per second to receive, all torrents together (K, M, G
    /// suffixes: powers of 1024); 0 for no limit
    #[arg(long, value_name = "RATE", default_value = "0", value_parser = parse_rate)]
    download_limit: i64,
    /// Most bytes per second to send, all torrents together; 0 for no limit
    #[arg(long, value_name = "RATE", default_value = "0", value_parser = parse_rate)]
    upload_limit: i64,
    /// A peer to dial (repeatable), besides those the trackers and the DHT find
    #[arg(long = "peer", value_name = "IP:PORT")]
    peers: Vec<SocketAddr>,
}

#[derive(Args)]
pub struct DownloadArgs {
    /// .torrent files, magnet links, or http(s) URLs of .torrent files
    #[arg(required = true, value_name = "TORRENT|MAGNET|URL")]
    torrents: Vec<String>,
    /// Directory to save into (created if missing)
    #[arg(short = 'o', long = "output", value_name = "DIR", default_value = ".")]
    output: PathBuf,
    /// Keep seeding after the downloads complete, until Ctrl-C
    #[arg(long)]
    seed: bool,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Args)]
pub struct SeedArgs {
    /// The .torrent file (or an http(s) URL of one)
    #[arg(value_name = "TORRENT")]
    torrent: String,
    /// The directory that holds the torrent's data (the torrent's name inside it)
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    session: SessionArgs,
}

/// A torrent of this run.
struct Entry {
    id: TorrentId,
    info_hash: InfoHash,
    label: String,
    /// Added with resume data that the engine accepted (no check).
    resumed: bool,
}

pub fn download(args: DownloadArgs) -> Result<Outcome, String> {
    let sources = args.torrents.iter().map(|t| Source::load(t)).collect::<Result<Vec<_>, _>>()?;
    std::fs::create_dir_all(&args.output).map_err(|e| format!("{}: {e}", args.output.display()))?;
    interrupt::install()?;
    let session = start_session(&args.session)?;
    let mut view = View::new(Duration::from_secs(args.session.interval));
    let mut entries = Vec::new();
    for source in &sources {
        entries.push(add(&session, source, &args.output, &args.session.peers, &mut view, false)?);
    }
    let outcome = watch(&session, &entries, &mut view, args.seed)?;
    stop(session, &entries, &args.output, &view);
    Ok(outcome)
}

pub fn seed(args: SeedArgs) -> Result<Outcome, String> {
    let source = Source::load(&args.torrent)?;
    let Source::Torrent(meta) = &source else {
        return Err(format!("{}: seeding needs a .torrent file, not a magnet link", args.torrent));
    };
    if !meta.files.iter().any(|f| !f.pad && args.dir.join(&f.path).exists()) {
        return Err(format!("{} holds none of the files of '{}'", args.dir.display(), meta.name));
    }
    interrupt::install()?;
    let session = start_session(&args.session)?;
    let mut view = View::new(Duration::from_secs(args.session.interval));
    let entry = add(&session, &source, &args.dir, &args.session.peers, &mut view, true)?;
    let entries = [entry];
    if let Some(outcome) = wait_checked(&session, &entries[0], &view)? {
        stop(session, &entries, &args.dir, &view);
        return Ok(outcome);
    }
    let st = session.torrent_status(entries[0].id).map_err(|e| e.to_string())?;
    if !is_complete(&st) {
        return Err(format!(
            "{} does not hold all of '{}': {} of {} pieces are good",
            args.dir.display(),
            st.name,
            st.pieces_done,
            st.pieces_total
        ));
    }
    view.note(&format!("{}: all {} pieces present, seeding until Ctrl-C", st.name, st.pieces_total));
    let outcome = watch(&session, &entries, &mut view, true)?;
    stop(session, &entries, &args.dir, &view);
    Ok(outcome)
}

/// A bytes-per-second figure (`500K`, `2M`), at most 1 TiB/s as the
/// engine's rate settings.
fn parse_rate(s: &str) -> Result<i64, String> {
    let rate = crate::units::parse_size(s)?;
    i64::try_from(rate).ok().filter(|r| *r <= 1 << 40).ok_or_else(|| format!("'{s}' is above 1T per second"))
}

/// The `listen_interfaces` setting for `--listen`.
fn listen_interfaces(listen: &str) -> Result<String, String> {
    if let Ok(port) = listen.parse::<u16>() {
        return Ok(format!("0.0.0.0:{port},[::]:{port}"));
    }
    listen
        .parse::<SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|_| format!("--listen '{listen}': expected a port or IP:PORT"))
}

/// An endpoint address: `PORT` and `:PORT` mean 127.0.0.1:PORT.
pub fn endpoint(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = addr.trim_start_matches(':').parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    addr.parse().map_err(|_| format!("'{addr}': expected PORT or IP:PORT"))
}

fn start_session(args: &SessionArgs) -> Result<Session, String> {
    let mut settings = Settings {
        listen_interfaces: listen_interfaces(&args.listen)?,
        alert_mask: i64::from(category::ERROR | category::STATUS),
        download_rate_limit: args.download_limit,
        upload_rate_limit: args.upload_limit,
        ..Settings::default()
    };
    if !args.no_dht {
        settings.enable_dht = true;
        settings.dht_bootstrap_nodes = DHT_BOOTSTRAP.into();
    }
    if let Some(addr) = &args.stats_listen {
        settings.stats_listen = endpoint(addr)?.to_string();
    }
    if let Some(token) = &args.stats_token {
        settings.stats_token = token.clone();
    }
    let session = Session::new(settings).map_err(|e| format!("starting the session: {e}"))?;
    if let Some(addr) = session.stats_listen_addr() {
        println!("statistics: http://{addr}/stats");
    }
    Ok(session)
}

fn resume_path(dir: &Path, info_hash: &InfoHash) -> PathBuf {
    dir.join(RESUME_DIR).join(format!("{}.resume", info_hash.to_hex()))
}

/// Adds one torrent, with its resume data when an earlier run saved some.
fn add(
    session: &Session,
    source: &Source,
    dir: &Path,
    peers: &[SocketAddr],
    view: &mut View,
    seeding: bool,
) -> Result<Entry, String> {
    let info_hash = source.info_hash();
    let mut params = AddTorrentParams::new(source.torrent_source(), dir);
    params.peers.extend_from_slice(peers);
    let resume = resume_path(dir, &info_hash);
    params.resume_data = read_resume(&resume)?;
    let had_resume = params.resume_data.is_some();
    let accepted_before = session.counters().get(Metric::ResumeAccepted);
    let id = match session.add_torrent(params.clone()) {
        // A damaged resume file costs a check, not the download.
        Err(e) if e.kind() == ErrorKind::InvalidResumeData => {
            view.note(&format!("{}: ignoring {}: {e}", source.label(), resume.display()));
            params.resume_data = None;
            session.add_torrent(params)
        }
        added => added,
    }
    .map_err(|e| format!("{}: {e}", source.label()))?;
    view.add(&source.label(), seeding);
    // Resume data is judged inside add_torrent: the counter says how (a
    // rejection also posts fastresume_rejected, which says why).
    let resumed = had_resume && session.counters().get(Metric::ResumeAccepted) > accepted_before;
    if resumed {
        let st = session.torrent_status(id).map_err(|e| e.to_string())?;
        view.note(&format!(
            "{}: resumed from {} with {} of {} pieces",
            source.label(),
            resume.display(),
            st.pieces_done,
            st.pieces_total
        ));
    }
    Ok(Entry { id, info_hash, label: source.label(), resumed })
}

fn read_resume(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if size > MAX_RESUME_FILE {
        return Err(format!("{}: {size} bytes, too large for resume data", path.display()));
    }
    std::fs::read(path).map(Some).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reports what the alerts say; a torrent that failed fails the run.
/// Answers the torrents whose file check finished.
fn handle_alerts(session: &Session, view: &View) -> Result<Vec<TorrentId>, String> {
    let mut checked = Vec::new();
    let first = session.wait_for_alert(POLL);
    // What is queued besides, bounded so that the view still gets its turn.
    let queued = std::iter::from_fn(|| session.pop_alert()).take(MAX_ALERTS_PER_TURN);
    for alert in first.into_iter().chain(queued) {
        match &alert.kind {
            AlertKind::TorrentChecked => checked.push(alert.torrent),
            AlertKind::TorrentError { error } | AlertKind::FileError { error } => {
                return Err(format!("{} ({})", alert.message, error.message));
            }
            AlertKind::TrackerError { url, error, times_in_row: 1 } => {
                let name = session.torrent_status(alert.torrent).map(|st| st.name).unwrap_or_default();
                view.note(&format!("{name}: tracker {url}: {}", without_urls(&error.message)));
            }
            AlertKind::ListenFailed { .. } | AlertKind::FastresumeRejected { .. } => {
                view.note(&alert.message)
            }
            _ => {}
        }
    }
    Ok(checked)
}

/// An error message without the parenthesized URLs the HTTP client puts
/// in it (an announce URL with its whole query is a screenful).
fn without_urls(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(start) = rest.find(" (http") {
        out.push_str(&rest[..start]);
        rest = match rest[start..].find(')') {
            Some(end) => &rest[start + end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Waits until the seed's files are checked (no wait when its resume
/// data was accepted); `Some` when interrupted first.
fn wait_checked(session: &Session, entry: &Entry, view: &View) -> Result<Option<Outcome>, String> {
    if entry.resumed {
        return Ok(None);
    }
    view.note(&format!("{}: checking the files", entry.label));
    loop {
        if interrupt::requested() {
            return Ok(Some(Outcome::Interrupted));
        }
        if handle_alerts(session, view)?.contains(&entry.id) {
            return Ok(None);
        }
    }
}

/// Shows progress until every torrent is complete (or forever, with
/// `keep_seeding`), or until Ctrl-C.
fn watch(
    session: &Session,
    entries: &[Entry],
    view: &mut View,
    keep_seeding: bool,
) -> Result<Outcome, String> {
    loop {
        if interrupt::requested() {
            return Ok(Outcome::Interrupted);
        }
        handle_alerts(session, view)?;
        let statuses = statuses(session, entries)?;
        view.update(&statuses, keep_seeding);
        if !keep_seeding && statuses.iter().all(is_complete) {
            return Ok(Outcome::Done);
        }
    }
}

fn statuses(session: &Session, entries: &[Entry]) -> Result<Vec<TorrentStatus>, String> {
    entries.iter().map(|e| session.torrent_status(e.id).map_err(|e| e.to_string())).collect()
}

/// Saves every torrent's resume data, then shuts the session down
/// (trackers told `stopped`, files flushed).
fn stop(mut session: Session, entries: &[Entry], dir: &Path, view: &View) {
    view.finish();
    // Resume data is trusted only while the files keep the modification
    // times it records: stop the peers and let the writes in flight land
    // first, so no piece written after the save makes the next run recheck.
    session.pause();
    let deadline = Instant::now() + RESUME_WAIT;
    let counters = session.counters();
    while (counters.get(Metric::DiskQueueDepth) > 0 || counters.get(Metric::DiskQueuedBytes) > 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(POLL);
    }
    let mut waiting = Vec::new();
    for entry in entries {
        let Ok(torrent) = session.torrent(entry.id) else { continue };
        // A magnet without its metadata yet has nothing worth resuming.
        if torrent.meta().is_some() {
            torrent.save_resume_data();
            waiting.push(entry);
        }
    }
    let deadline = Instant::now() + RESUME_WAIT;
    while !waiting.is_empty() && Instant::now() < deadline {
        let Some(alert) = session.wait_for_alert(POLL) else { continue };
        let Some(i) = waiting.iter().position(|e| e.id == alert.torrent) else { continue };
        match alert.kind {
            AlertKind::SaveResumeData { data } => {
                if let Err(e) = write_resume(&resume_path(dir, &waiting[i].info_hash), &data) {
                    eprintln!("lt: saving resume data: {e}");
                }
            }
            AlertKind::SaveResumeDataFailed { error } => {
                eprintln!("lt: saving resume data: {}", error.message);
            }
            _ => continue,
        }
        waiting.remove(i);
    }
    if !waiting.is_empty() {
        eprintln!("lt: resume data of {} torrent(s) did not come in time", waiting.len());
    }
    session.shutdown();
}

/// Writes through a temporary file and a rename, so a crash never leaves a
/// half-written resume file.
fn write_resume(path: &Path, data: &[u8]) -> Result<(), String> {
    let folder = path.parent().ok_or_else(|| format!("{}: no parent directory", path.display()))?;
    std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let tmp = path.with_extension("resume.tmp");
    std::fs::write(&tmp, data).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_bounded() {
        assert_eq!(parse_rate("300K"), Ok(300 << 10));
        assert_eq!(parse_rate("1024G"), Ok(1 << 40));
        assert!(parse_rate("1025G").is_err());
        assert!(parse_rate("-1").is_err());
    }

    #[test]
    fn tracker_errors_lose_their_urls() {
        let m = "HTTP request failed: error sending request for url (http://t/a?x=1): refused";
        assert_eq!(without_urls(m), "HTTP request failed: error sending request for url: refused");
        assert_eq!(without_urls("timed out"), "timed out");
        assert_eq!(without_urls("cut (http://t/a?x"), "cut");
    }

    #[test]
    fn endpoints_default_to_loopback() {
        assert_eq!(endpoint("9100").unwrap().to_string(), "127.0.0.1:9100");
        assert_eq!(endpoint(":9100").unwrap().to_string(), "127.0.0.1:9100");
        assert_eq!(endpoint("[::1]:9100").unwrap().to_string(), "[::1]:9100");
        assert!(endpoint("localhost").is_err());
    }

    #[test]
    fn listen_takes_a_port_or_an_address() {
        assert_eq!(listen_interfaces("6881").unwrap(), "0.0.0.0:6881,[::]:6881");
        assert_eq!(listen_interfaces("127.0.0.1:0").unwrap(), "127.0.0.1:0");
        assert!(listen_interfaces("x").is_err());
    }
}
