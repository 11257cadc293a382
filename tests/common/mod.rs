//! Real peers for the integration tests: opentracker, libtorrent-rasterbar
//! (through tests/peers/lt_peer.py) and a corrupt seeder
//! (tests/peers/bad_seeder.py), all on 127.0.0.1 with free ports, all
//! stopped when their handle drops (even when a test panics).
#![allow(dead_code)]

pub mod clients;
pub mod fake_peer;
pub mod http_seed;
pub mod swarm;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";

/// A port free for both TCP and UDP on 127.0.0.1 now, and on ::1 too
/// where the machine has IPv6 loopback (sessions listen on both).
pub fn free_port() -> u16 {
    let v6 = TcpListener::bind("[::1]:0").is_ok();
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = tcp.local_addr().unwrap().port();
        let free_v6 =
            !v6 || (TcpListener::bind(("::1", port)).is_ok() && UdpSocket::bind(("::1", port)).is_ok());
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() && free_v6 {
            return port;
        }
    }
}

/// A directory removed when dropped.
pub struct TempDir {
    pub path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub fn tempdir(tag: &str) -> TempDir {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("lt-it-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    TempDir { path }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers").join(name)
}

pub fn peer_script() -> PathBuf {
    script("lt_peer.py")
}

fn need(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package {package} (.ci/run does)"
    );
}

fn run_python(args: &[&str]) {
    need(PYTHON, "python3-libtorrent");
    let out = Command::new(PYTHON).arg(peer_script()).args(args).output().expect("run lt_peer.py");
    assert!(
        out.status.success(),
        "lt_peer.py {args:?} failed (is python3-libtorrent installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `127.0.0.1:port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A session counter by its libtorrent name ("ses.num_incoming_pex").
pub fn metric(ses: &lt::engine::Session, name: &str) -> i64 {
    let index = lt::engine::stats::find_metric(name).unwrap_or_else(|| panic!("no metric named {name}"));
    ses.stats_snapshot()[index]
}

/// Writes deterministic files `dir/<name>` of the given sizes.
pub fn make_data(dir: &Path, layout: &[(&str, u64)], seed: u64) {
    let spec: Vec<String> = layout.iter().map(|(n, s)| format!("{n}:{s}")).collect();
    run_python(&[
        "make-data",
        "--dir",
        dir.to_str().unwrap(),
        "--layout",
        &spec.join(","),
        "--seed",
        &seed.to_string(),
    ]);
}

/// Makes a .torrent of `path` with libtorrent.
pub fn make_torrent(path: &Path, out: &Path, piece_size: u32, trackers: &[String], private: bool) {
    let mut args = vec![
        "make-torrent".to_string(),
        "--path".into(),
        path.to_str().unwrap().into(),
        "--out".into(),
        out.to_str().unwrap().into(),
        "--piece-size".into(),
        piece_size.to_string(),
    ];
    for t in trackers {
        args.push("--tracker".into());
        args.push(t.clone());
    }
    if private {
        args.push("--private".into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_python(&refs);
}

/// Streaming byte comparison.
pub fn files_equal(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(fa), Ok(fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else { return false };
    let (mut ra, mut rb) = (std::io::BufReader::new(fa), std::io::BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let na = ra.read(&mut ba).unwrap();
        if na == 0 {
            return rb.read(&mut bb).unwrap() == 0;
        }
        if rb.read_exact(&mut bb[..na]).is_err() || ba[..na] != bb[..na] {
            return false;
        }
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// opentracker serving HTTP and UDP on one free port.
pub struct Opentracker {
    pub port: u16,
    _dir: TempDir,
    child: Child,
}

impl Opentracker {
    /// Starts opentracker accepting only `info_hashes_hex` (Debian's build
    /// has a whitelist). It chroots to its directory and drops to `nobody`,
    /// so the whitelist must be readable by everyone.
    pub fn start(info_hashes_hex: &[String]) -> Opentracker {
        Opentracker::start_on(free_port(), info_hashes_hex)
    }

    /// Starts opentracker on `port`, for a torrent whose announce URL was
    /// written before the tracker could start (its whitelist needs the
    /// torrent's info-hash).
    pub fn start_on(port: u16, info_hashes_hex: &[String]) -> Opentracker {
        need("/usr/bin/opentracker", "opentracker");
        let dir = tempdir("opentracker");
        std::fs::write(dir.path.join("whitelist.txt"), info_hashes_hex.join("\n") + "\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.path.join("whitelist.txt"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let child = Command::new("/usr/bin/opentracker")
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-P", &port.to_string(), "-d"])
            .arg(&dir.path)
            .args(["-w", "whitelist.txt"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start opentracker");
        let mut t = Opentracker { port, _dir: dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = t.child.try_wait() {
                panic!("opentracker exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "opentracker did not open port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        t
    }

    pub fn http_announce_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    pub fn udp_announce_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }

    /// Waits until the tracker lists a seeder of `info_hash` (its scrape
    /// counts one), so a downloader's first announce finds it and no test
    /// waits out a 30-minute interval.
    pub fn wait_lists_seed(&self, info_hash: &lt::proto::types::InfoHash) {
        let url = lt::proto::tracker::http_scrape_url(&self.http_announce_url(), &[*info_hash]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new("curl").args(["-s", &url]).output().expect("curl");
            if lt::proto::tracker::parse_http_scrape(&out.stdout, info_hash).is_ok_and(|s| s.complete >= 1) {
                return;
            }
            assert!(Instant::now() < deadline, "the tracker never listed the seeder");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Opentracker {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// How a seeder runs.
#[derive(Default, Clone)]
pub struct SeedOpts {
    pub connect: Vec<SocketAddr>,
    /// Serve corrupt data for the first N pieces (bad_seeder.py; libtorrent
    /// verifies what it uploads, so it cannot do this).
    pub corrupt_pieces: u32,
    /// libtorrent's seed mode: no check before seeding.
    pub seed_mode: bool,
    /// The loopback address to listen on (127.0.0.1 when not set).
    pub ip: Option<std::net::IpAddr>,
    /// lt_peer.py's `--transport`: "tcp" when not set, "utp" or "both".
    pub transport: Option<&'static str>,
    /// lt_peer.py's `--encryption`: "default" when not set, "forced" or
    /// "disabled".
    pub encryption: Option<&'static str>,
}

impl SeedOpts {
    /// The lt_peer.py arguments for these options.
    fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(ip) = self.ip {
            out.extend(["--ip".to_string(), ip.to_string()]);
        }
        if let Some(t) = self.transport {
            out.extend(["--transport".to_string(), t.to_string()]);
        }
        if let Some(e) = self.encryption {
            out.extend(["--encryption".to_string(), e.to_string()]);
        }
        out
    }
}

/// A libtorrent (or corrupt) peer process.
pub struct LtPeer {
    pub port: u16,
    child: Child,
    lines: Receiver<String>,
}

impl LtPeer {
    fn spawn(mut cmd: Command, port: u16) -> LtPeer {
        need(PYTHON, "python3-libtorrent");
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn peer");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    // Keep draining so the child never blocks on a full pipe.
                    continue;
                }
            }
        });
        LtPeer { port, child, lines }
    }

    /// Waits for an output line containing `want`; answers it.
    pub fn wait_line(&mut self, want: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no '{want}' within {timeout:?}; last line: {last}"));
            }
            match self.lines.recv_timeout(left.min(Duration::from_millis(500))) {
                Ok(line) if line.contains(want) => return Ok(line),
                Ok(line) => last = line,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        return Err(format!("peer exited ({status}) before '{want}'; last line: {last}"));
                    }
                }
                Err(_) => return Err(format!("peer output ended before '{want}'; last line: {last}")),
            }
        }
    }

    /// Starts a seeder and waits until it seeds.
    pub fn seed(torrent: &Path, save_path: &Path, opts: &SeedOpts) -> LtPeer {
        LtPeer::seed_many(&[torrent], save_path, opts)
    }

    /// Starts one libtorrent session seeding every torrent (data under
    /// `save_path`) and waits until all of them seed.
    pub fn seed_many(torrents: &[&Path], save_path: &Path, opts: &SeedOpts) -> LtPeer {
        let port = free_port();
        let mut cmd = Command::new(PYTHON);
        if opts.corrupt_pieces > 0 {
            cmd.arg(script("bad_seeder.py")).args(["--corrupt-pieces", &opts.corrupt_pieces.to_string()]);
        } else {
            cmd.arg(peer_script()).arg("seed");
            if opts.seed_mode {
                cmd.arg("--seed-mode");
            }
            for c in &opts.connect {
                cmd.args(["--connect", &c.to_string()]);
            }
            cmd.args(opts.args());
        }
        for torrent in torrents {
            cmd.arg("--torrent").arg(torrent);
        }
        cmd.arg("--save-path").arg(save_path).args(["--port", &port.to_string()]);
        let mut p = LtPeer::spawn(cmd, port);
        p.wait_line("\"ready\"", Duration::from_secs(120)).expect("seeder ready");
        p
    }

    /// Starts a libtorrent downloader dialling `connect`.
    pub fn download(torrent: &Path, save_path: &Path, connect: &[SocketAddr]) -> LtPeer {
        LtPeer::download_with(torrent, save_path, connect, &[])
    }

    /// Starts a libtorrent downloader that neither sends nor acts on
    /// peer exchange, so it dials only `connect`.
    pub fn download_ignoring_pex(torrent: &Path, save_path: &Path, connect: &[SocketAddr]) -> LtPeer {
        LtPeer::download_with(torrent, save_path, connect, &["--ignore-pex"])
    }

    /// Starts a libtorrent downloader listening on `ip` that finds its
    /// peers through the torrent's tracker.
    pub fn download_on(ip: std::net::IpAddr, torrent: &Path, save_path: &Path) -> LtPeer {
        LtPeer::download_opts(torrent, save_path, &[], &SeedOpts { ip: Some(ip), ..SeedOpts::default() })
    }

    /// Starts a libtorrent downloader dialling `connect`, with the
    /// listen address, transport and encryption of `opts`.
    pub fn download_opts(
        torrent: &Path,
        save_path: &Path,
        connect: &[SocketAddr],
        opts: &SeedOpts,
    ) -> LtPeer {
        let args = opts.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        LtPeer::download_with(torrent, save_path, connect, &args)
    }

    fn download_with(torrent: &Path, save_path: &Path, connect: &[SocketAddr], extra: &[&str]) -> LtPeer {
        let port = free_port();
        let mut cmd = Command::new(PYTHON);
        cmd.arg(peer_script())
            .arg("download")
            .arg("--torrent")
            .arg(torrent)
            .arg("--save-path")
            .arg(save_path);
        cmd.args(["--port", &port.to_string(), "--timeout", "600"]).args(extra);
        for c in connect {
            cmd.args(["--connect", &c.to_string()]);
        }
        LtPeer::spawn(cmd, port)
    }

    /// Starts a libtorrent session adding the magnet link `uri` (it dials
    /// the link's `x.pe` peers). It prints `metadata_received` and
    /// `metadata_failed` events, and `finished` when the download is done.
    pub fn magnet(uri: &str, save_path: &Path) -> LtPeer {
        let port = free_port();
        let mut cmd = Command::new(PYTHON);
        cmd.arg(peer_script()).arg("magnet").args(["--uri", uri]).arg("--save-path").arg(save_path);
        cmd.args(["--port", &port.to_string(), "--timeout", "600"]);
        LtPeer::spawn(cmd, port)
    }

    /// Whether a downloader has reported that it finished, without waiting;
    /// an error when it exited before that.
    pub fn finished(&mut self) -> Result<bool, String> {
        loop {
            match self.lines.try_recv() {
                Ok(line) if line.contains("\"finished\"") => return Ok(true),
                Ok(_) => {}
                Err(std::sync::mpsc::TryRecvError::Empty) => return Ok(false),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err(format!("libtorrent exited before finishing: {:?}", self.child.try_wait()))
                }
            }
        }
    }

    /// Waits for a downloader to finish; answers its final JSON line.
    pub fn wait_download(&mut self, timeout: Duration) -> Result<String, String> {
        self.wait_line("\"finished\"", timeout)
    }
}

impl Drop for LtPeer {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}
