//! Other BitTorrent clients as peers of lt, for the interop matrix
//! (tests/matrix.rs): libtorrent-rasterbar, aria2, transmission-cli,
//! rtorrent and qbittorrent-nox, plus the torrent makers mktorrent,
//! transmission-create and libtorrent. Every client listens on 127.0.0.1
//! only, with DHT, local peer discovery, peer exchange, uTP and port
//! mapping off, runs in its own temporary directory and is killed when its
//! handle drops, also when a test panics. How each behaves on loopback is
//! written down in shared/reference/test-peers.md.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, make_torrent, need, tempdir, LtPeer, Opentracker, SeedOpts, TempDir};

/// Piece size of every torrent the matrix makes: 256 KiB, a size all three
/// makers accept.
pub const PIECE: u32 = 256 * 1024;

/// How long a client may take to start and check its data.
const START_WAIT: Duration = Duration::from_secs(60);

/// A program that writes a .torrent file.
#[derive(Clone, Copy, Debug)]
pub enum Maker {
    Mktorrent,
    TransmissionCreate,
    /// libtorrent 2.0 makes hybrid v1+v2 torrents: a `file tree` beside
    /// `files`, `piece layers`, and pad files that align each file to a
    /// piece. aria2 1.36 computes another info-hash for them than libtorrent
    /// and lt do (seen here: its announce was refused by the whitelist), so
    /// the matrix gives these torrents to libtorrent-based clients.
    Libtorrent,
}

impl Maker {
    pub fn name(self) -> &'static str {
        match self {
            Maker::Mktorrent => "mktorrent",
            Maker::TransmissionCreate => "transmission-create",
            Maker::Libtorrent => "libtorrent",
        }
    }

    /// Writes `out` describing `content` (a file or a directory), with one
    /// announce URL or none.
    pub fn make(self, content: &Path, out: &Path, tracker: Option<&str>) {
        let mut cmd = match self {
            Maker::Libtorrent => {
                let trackers: Vec<String> = tracker.into_iter().map(String::from).collect();
                make_torrent(content, out, PIECE, &trackers, false);
                return;
            }
            Maker::Mktorrent => {
                need("/usr/bin/mktorrent", "mktorrent");
                let mut cmd = Command::new("/usr/bin/mktorrent");
                cmd.args(["-l", &PIECE.trailing_zeros().to_string()]);
                if let Some(url) = tracker {
                    cmd.args(["-a", url]);
                }
                cmd
            }
            Maker::TransmissionCreate => {
                need("/usr/bin/transmission-create", "transmission-cli");
                let mut cmd = Command::new("/usr/bin/transmission-create");
                cmd.args(["-s", &(PIECE / 1024).to_string()]);
                if let Some(url) = tracker {
                    cmd.args(["-t", url]);
                }
                cmd
            }
        };
        let _ = std::fs::remove_file(out);
        let done = cmd.arg("-o").arg(out).arg(content).output().expect("run the torrent maker");
        assert!(
            done.status.success() && out.exists(),
            "{} failed ({}): {}{}",
            self.name(),
            done.status,
            String::from_utf8_lossy(&done.stdout),
            String::from_utf8_lossy(&done.stderr)
        );
    }
}

/// The other clients of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Libtorrent,
    Aria2,
    Transmission,
    /// transmission with encryption required (`"encryption": 2`): it
    /// refuses plain handshakes, so every transfer runs under MSE.
    TransmissionEncrypted,
    Rtorrent,
    Qbittorrent,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Libtorrent => "libtorrent",
            Kind::Aria2 => "aria2",
            Kind::Transmission => "transmission",
            Kind::TransmissionEncrypted => "transmission-encrypted",
            Kind::Rtorrent => "rtorrent",
            Kind::Qbittorrent => "qbittorrent",
        }
    }

    /// Whether the client can be told to dial a peer. The others are dialled
    /// by lt: aria2 and rtorrent have no way to add a peer by hand, and
    /// transmission discards loopback peers.
    pub fn can_dial(self) -> bool {
        matches!(self, Kind::Libtorrent | Kind::Qbittorrent)
    }

    /// Starts the client seeding `torrent` from the data under `data_dir`
    /// and waits until it has checked the data and holds every piece.
    pub fn seed(self, torrent: &Path, data_dir: &Path, info_hash_hex: &str) -> Box<dyn Client> {
        let mut client: Box<dyn Client> = match self {
            Kind::Libtorrent => Box::new(Libtorrent {
                peer: LtPeer::seed(torrent, data_dir, &SeedOpts::default()),
                seeding: true,
            }),
            Kind::Aria2 => Box::new(Aria2::start(torrent, data_dir, true)),
            Kind::Transmission => Box::new(Transmission::start(torrent, data_dir, true, false)),
            Kind::TransmissionEncrypted => Box::new(Transmission::start(torrent, data_dir, true, true)),
            Kind::Rtorrent => Box::new(Rtorrent::start(torrent, data_dir, info_hash_hex)),
            Kind::Qbittorrent => Box::new(Qbittorrent::start(torrent, data_dir, info_hash_hex, None)),
        };
        let deadline = Instant::now() + START_WAIT;
        loop {
            match client.has_all() {
                Ok(true) => return client,
                Ok(false) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                Ok(false) => {
                    panic!("{} did not finish checking its data\n{}", self.name(), client.log_tail())
                }
                Err(e) => panic!("{} failed to seed: {e}\n{}", self.name(), client.log_tail()),
            }
        }
    }

    /// Starts the client downloading `torrent` into `save_dir`; with `dial`,
    /// it is told to connect to that peer (only where `can_dial`).
    pub fn download(
        self,
        torrent: &Path,
        save_dir: &Path,
        info_hash_hex: &str,
        dial: Option<SocketAddr>,
    ) -> Box<dyn Client> {
        assert!(dial.is_none() || self.can_dial(), "{} cannot be told to dial a peer", self.name());
        match self {
            Kind::Libtorrent => {
                let connect: Vec<SocketAddr> = dial.into_iter().collect();
                Box::new(Libtorrent { peer: LtPeer::download(torrent, save_dir, &connect), seeding: false })
            }
            Kind::Aria2 => Box::new(Aria2::start(torrent, save_dir, false)),
            Kind::Transmission => Box::new(Transmission::start(torrent, save_dir, false, false)),
            Kind::TransmissionEncrypted => Box::new(Transmission::start(torrent, save_dir, false, true)),
            Kind::Rtorrent => Box::new(Rtorrent::start(torrent, save_dir, info_hash_hex)),
            Kind::Qbittorrent => Box::new(Qbittorrent::start(torrent, save_dir, info_hash_hex, dial)),
        }
    }
}

/// A running client.
pub trait Client {
    /// Where it accepts peers.
    fn peer_addr(&self) -> SocketAddr;
    /// Whether it holds every piece, each verified by the client itself (a
    /// seeder after checking its data, a downloader once done); an error
    /// when it failed or exited.
    fn has_all(&mut self) -> Result<bool, String>;
    /// The end of its log, for a failure message.
    fn log_tail(&self) -> String;
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A child process with its output in a log file, killed when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc { name, child, log }
    }

    /// An error once the process has exited.
    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited: {status}", self.name)),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// The last lines of the log; status lines rewritten in place with `\r`
    /// count as lines.
    fn tail(&self) -> String {
        let out = self.output();
        let lines: Vec<&str> = out.split(['\r', '\n']).filter(|l| !l.trim().is_empty()).collect();
        format!("--- {} log ---\n{}", self.name, lines[lines.len().saturating_sub(25)..].join("\n"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until a TCP port on 127.0.0.1 accepts connections.
fn wait_port(proc: &mut Proc, port: u16) {
    let deadline = Instant::now() + START_WAIT;
    while std::net::TcpStream::connect(loopback(port)).is_err() {
        if let Err(e) = proc.alive() {
            panic!("{e}\n{}", proc.tail());
        }
        assert!(Instant::now() < deadline, "{} did not open port {port}\n{}", proc.name, proc.tail());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs curl against a local HTTP API; answers the body.
fn curl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10"])
        .args(args)
        .output()
        .map_err(|e| format!("run curl: {e}"))?;
    if !out.status.success() {
        return Err(format!("curl {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// libtorrent-rasterbar through tests/peers/lt_peer.py.
struct Libtorrent {
    peer: LtPeer,
    /// LtPeer::seed returns only once libtorrent seeds.
    seeding: bool,
}

impl Client for Libtorrent {
    fn peer_addr(&self) -> SocketAddr {
        loopback(self.peer.port)
    }

    fn has_all(&mut self) -> Result<bool, String> {
        if self.seeding {
            return Ok(true);
        }
        self.peer.finished()
    }

    fn log_tail(&self) -> String {
        "(libtorrent's output is on the test's stderr)".into()
    }
}

/// aria2c, with its JSON-RPC interface on a second port for progress.
struct Aria2 {
    port: u16,
    rpc_port: u16,
    proc: Proc,
    /// Its log (and configuration); removed when dropped.
    _dir: TempDir,
}

impl Aria2 {
    fn start(torrent: &Path, data_dir: &Path, seed: bool) -> Aria2 {
        need("/usr/bin/aria2c", "aria2");
        let dir = tempdir("aria2");
        let (port, rpc_port) = (free_port(), free_port());
        let mut cmd = Command::new("/usr/bin/aria2c");
        cmd.arg("-d").arg(data_dir).args([
            "--no-conf=true",
            &format!("--listen-port={port}"),
            "--interface=127.0.0.1",
            "--disable-ipv6=true",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--enable-rpc=true",
            "--rpc-listen-all=false",
            &format!("--rpc-listen-port={rpc_port}"),
            "--summary-interval=0",
            "--console-log-level=notice",
        ]);
        if seed {
            // Check the data, then seed until killed.
            cmd.args(["--check-integrity=true", "--seed-ratio=0.0", "--seed-time=60"]);
        } else {
            cmd.arg("--seed-time=0");
        }
        cmd.arg(torrent);
        let mut proc = Proc::spawn("aria2c", &mut cmd, dir.path.join("aria2.log"));
        // The peer port opens only once the torrent has started, after the
        // RPC port: a dial before that is refused.
        wait_port(&mut proc, rpc_port);
        wait_port(&mut proc, port);
        Aria2 { port, rpc_port, proc, _dir: dir }
    }

    fn rpc(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value, String> {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": "matrix", "method": method, "params": params});
        let url = format!("http://127.0.0.1:{}/jsonrpc", self.rpc_port);
        let reply = curl(&["-d", &body.to_string(), &url])?;
        let v: serde_json::Value = serde_json::from_str(&reply).map_err(|e| format!("{e}: {reply}"))?;
        Ok(v["result"].clone())
    }
}

impl Client for Aria2 {
    fn peer_addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    fn has_all(&mut self) -> Result<bool, String> {
        self.proc.alive()?;
        let keys = serde_json::json!(["status", "seeder", "completedLength", "totalLength", "errorMessage"]);
        let active = self.rpc("aria2.tellActive", serde_json::json!([keys]))?;
        if active.as_array().is_some_and(|a| a.iter().any(|d| d["seeder"] == "true")) {
            return Ok(true);
        }
        // With --seed-time=0 a finished download leaves the active list.
        let stopped = self.rpc("aria2.tellStopped", serde_json::json!([0, 10, keys]))?;
        for d in stopped.as_array().into_iter().flatten() {
            match d["status"].as_str() {
                Some("complete") => return Ok(true),
                Some("error") => return Err(format!("aria2 failed: {}", d["errorMessage"])),
                _ => {}
            }
        }
        Ok(false)
    }

    fn log_tail(&self) -> String {
        self.proc.tail()
    }
}

/// transmission-cli. It has no API: its status line says "Seeding" once it
/// holds every piece, checked (it checks the data first with `-v`).
struct Transmission {
    port: u16,
    proc: Proc,
    /// Its log (and configuration); removed when dropped.
    _dir: TempDir,
}

impl Transmission {
    /// With `require_encryption`, it accepts and makes only encrypted
    /// connections; otherwise it prefers plaintext.
    fn start(torrent: &Path, data_dir: &Path, seed: bool, require_encryption: bool) -> Transmission {
        need("/usr/bin/transmission-cli", "transmission-cli");
        let dir = tempdir("transmission");
        let port = free_port();
        let config = dir.path.join("config");
        std::fs::create_dir_all(&config).unwrap();
        let settings = serde_json::json!({
            "bind-address-ipv4": "127.0.0.1",
            "bind-address-ipv6": "::1",
            "peer-port": port,
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": false,
            "port-forwarding-enabled": false,
            "rpc-enabled": false,
            "blocklist-enabled": false,
            // 0: plaintext preferred (encryption tolerated), 2: required.
            "encryption": if require_encryption { 2 } else { 0 },
            "speed-limit-up-enabled": false,
            "speed-limit-down-enabled": false,
            "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false,
            "rename-partial-files": false,
            "message-level": 2,
        });
        std::fs::write(config.join("settings.json"), settings.to_string()).unwrap();
        let mut cmd = Command::new("/usr/bin/transmission-cli");
        cmd.arg("-g").arg(&config).arg("-w").arg(data_dir).args(["-p", &port.to_string(), "-M"]);
        cmd.arg(if require_encryption { "-er" } else { "-et" });
        if seed {
            cmd.arg("-v");
        }
        cmd.arg(torrent);
        let mut proc = Proc::spawn("transmission-cli", &mut cmd, dir.path.join("transmission.log"));
        wait_port(&mut proc, port);
        // It resets connections for the torrent while it checks the files
        // (which it does on every start); its status line says "Progress"
        // or "Seeding" once the torrent runs.
        let deadline = Instant::now() + START_WAIT;
        loop {
            let out = proc.output();
            if out.contains("Progress:") || out.contains("Seeding") {
                break;
            }
            if let Err(e) = proc.alive() {
                panic!("{e}\n{}", proc.tail());
            }
            assert!(Instant::now() < deadline, "transmission did not start the torrent\n{}", proc.tail());
            std::thread::sleep(Duration::from_millis(50));
        }
        Transmission { port, proc, _dir: dir }
    }
}

impl Client for Transmission {
    fn peer_addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    fn has_all(&mut self) -> Result<bool, String> {
        self.proc.alive()?;
        Ok(self.proc.output().contains("Seeding"))
    }

    fn log_tail(&self) -> String {
        self.proc.tail()
    }
}

/// rtorrent as a daemon, driven by XML-RPC over SCGI on a unix socket.
struct Rtorrent {
    port: u16,
    socket: PathBuf,
    info_hash_hex: String,
    proc: Proc,
    /// Its configuration, session and logs; removed when dropped.
    dir: TempDir,
}

impl Rtorrent {
    fn start(torrent: &Path, data_dir: &Path, info_hash_hex: &str) -> Rtorrent {
        need("/usr/bin/rtorrent", "rtorrent");
        let dir = tempdir("rtorrent");
        let port = free_port();
        let session = dir.path.join("session");
        std::fs::create_dir_all(&session).unwrap();
        std::fs::create_dir_all(data_dir).unwrap();
        let socket = dir.path.join("rpc.sock");
        // Options go in a file: `rtorrent -o` splits values on commas.
        let config = format!(
            "directory.default.set = {data}\n\
             session.path.set = {session}\n\
             network.bind_address.set = 127.0.0.1\n\
             network.port_range.set = {port}-{port}\n\
             network.port_random.set = no\n\
             dht.mode.set = disable\n\
             protocol.pex.set = no\n\
             trackers.use_udp.set = no\n\
             protocol.encryption.set = allow_incoming,try_outgoing,enable_retry\n\
             network.scgi.open_local = {socket}\n\
             log.open_file = \"main\", {log}\n\
             log.add_output = \"info\", \"main\"\n\
             system.daemon.set = true\n",
            data = data_dir.display(),
            session = session.display(),
            socket = socket.display(),
            log = dir.path.join("rtorrent-events.log").display(),
        );
        let rc = dir.path.join("rtorrent.rc");
        std::fs::write(&rc, config).unwrap();
        let mut cmd = Command::new("/usr/bin/rtorrent");
        cmd.arg("-n").arg("-o").arg(format!("import={}", rc.display()));
        let proc = Proc::spawn("rtorrent", &mut cmd, dir.path.join("rtorrent.log"));
        let mut rt = Rtorrent { port, socket, info_hash_hex: info_hash_hex.to_ascii_uppercase(), proc, dir };
        let deadline = Instant::now() + START_WAIT;
        while UnixStream::connect(&rt.socket).is_err() {
            if let Err(e) = rt.proc.alive() {
                panic!("{e}\n{}", rt.log_tail());
            }
            assert!(Instant::now() < deadline, "rtorrent opened no RPC socket\n{}", rt.log_tail());
            std::thread::sleep(Duration::from_millis(50));
        }
        let path = torrent.to_str().unwrap();
        rt.call("load.start_verbose", &["", path]).expect("rtorrent loads the torrent");
        // The load returns before the torrent is listed.
        while let Err(e) = rt.call("d.complete", &[&rt.info_hash_hex]) {
            assert!(Instant::now() < deadline, "rtorrent does not list the torrent: {e}\n{}", rt.log_tail());
            std::thread::sleep(Duration::from_millis(50));
        }
        rt
    }

    /// One XML-RPC call with string parameters; answers the response body.
    fn call(&self, method: &str, params: &[&str]) -> Result<String, String> {
        let params: String =
            params.iter().map(|p| format!("<param><value><string>{p}</string></value></param>")).collect();
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName>\
             <params>{params}</params></methodCall>"
        );
        let headers = format!("CONTENT_LENGTH\0{}\0SCGI\x001\0", body.len());
        let mut s = UnixStream::connect(&self.socket).map_err(|e| format!("rtorrent socket: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "{}:{headers},{body}", headers.len()).map_err(|e| e.to_string())?;
        let mut reply = String::new();
        s.read_to_string(&mut reply).map_err(|e| format!("rtorrent reply: {e}"))?;
        match reply.split_once("\r\n\r\n") {
            Some((_, xml)) if !xml.contains("<fault>") => Ok(xml.to_string()),
            _ => Err(format!("rtorrent {method}: {reply}")),
        }
    }
}

impl Client for Rtorrent {
    fn peer_addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    fn has_all(&mut self) -> Result<bool, String> {
        self.proc.alive()?;
        // d.complete stays 0 while a seeder hashes its data.
        let reply = self.call("d.complete", &[&self.info_hash_hex])?;
        Ok(reply.contains("<i8>1</i8>") || reply.contains("<i4>1</i4>"))
    }

    fn log_tail(&self) -> String {
        // rtorrent buffers its event log: ask for the torrent's and its
        // tracker's state as well.
        let values = |reply: Result<String, String>| {
            reply.map(|xml| {
                xml.split("<value>")
                    .filter_map(|v| v.split('<').nth(1).and_then(|v| v.split('>').nth(1)))
                    .filter(|v| !v.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        };
        let fields = ["d.state=", "d.is_active=", "d.peers_connected=", "d.bytes_done=", "d.message="];
        let torrent = values(self.call("d.multicall2", &[&["", "main"][..], &fields].concat()));
        let trackers = values(self.call(
            "t.multicall",
            &[&self.info_hash_hex, "", "t.url=", "t.success_counter=", "t.failed_counter="],
        ));
        let events = std::fs::read_to_string(self.dir.path.join("rtorrent-events.log")).unwrap_or_default();
        let lines: Vec<&str> = events.lines().collect();
        format!(
            "{}\n--- rtorrent: state, active, peers, bytes done, message: {torrent:?}\n\
             --- rtorrent: tracker, successes, failures: {trackers:?}\n--- rtorrent events ---\n{}",
            self.proc.tail(),
            lines[lines.len().saturating_sub(25)..].join("\n")
        )
    }
}

/// qbittorrent-nox, driven through its WebUI API.
struct Qbittorrent {
    port: u16,
    api: String,
    info_hash_hex: String,
    proc: Proc,
    /// Its configuration, session and logs; removed when dropped.
    dir: TempDir,
}

impl Qbittorrent {
    fn start(torrent: &Path, save_dir: &Path, info_hash_hex: &str, dial: Option<SocketAddr>) -> Qbittorrent {
        need("/usr/bin/qbittorrent-nox", "qbittorrent-nox");
        let dir = tempdir("qbittorrent");
        let (port, web_port) = (free_port(), free_port());
        let config_dir = dir.path.join("qBittorrent/config");
        std::fs::create_dir_all(&config_dir).unwrap();
        // TCP only (uTP off); encryption stays at its default (tried first,
        // then plaintext), as users run it.
        let config = format!(
            "[LegalNotice]\nAccepted=true\n\n\
             [BitTorrent]\n\
             Session\\Port={port}\n\
             Session\\Interface=lo\n\
             Session\\InterfaceName=lo\n\
             Session\\InterfaceAddress=127.0.0.1\n\
             Session\\DHTEnabled=false\n\
             Session\\LSDEnabled=false\n\
             Session\\PeXEnabled=false\n\
             Session\\BTProtocol=TCP\n\
             Session\\MultiConnectionsPerIp=true\n\
             Session\\QueueingSystemEnabled=false\n\
             Session\\AddTrackersEnabled=false\n\
             Session\\TempPathEnabled=false\n\
             Session\\DefaultSavePath={save}\n\n\
             [Network]\nPortForwardingEnabled=false\n\n\
             [Preferences]\n\
             WebUI\\Address=127.0.0.1\n\
             WebUI\\Port={web_port}\n\
             WebUI\\LocalHostAuth=false\n\
             WebUI\\CSRFProtection=false\n\
             WebUI\\HostHeaderValidation=false\n\
             WebUI\\UseUPnP=false\n\
             Connection\\UPnP=false\n\
             Connection\\ResolvePeerCountries=false\n\
             General\\UseRandomPort=false\n\
             Advanced\\trackerEnabled=false\n",
            save = save_dir.display(),
        );
        std::fs::write(config_dir.join("qBittorrent.conf"), config).unwrap();
        let mut cmd = Command::new("/usr/bin/qbittorrent-nox");
        cmd.arg(format!("--profile={}", dir.path.display())).arg(format!("--webui-port={web_port}"));
        let mut proc = Proc::spawn("qbittorrent-nox", &mut cmd, dir.path.join("qbittorrent.log"));
        wait_port(&mut proc, web_port);
        let qb = Qbittorrent {
            port,
            api: format!("http://127.0.0.1:{web_port}/api/v2"),
            info_hash_hex: info_hash_hex.to_ascii_lowercase(),
            proc,
            dir,
        };
        let added = curl(&[
            "-F",
            &format!("torrents=@{}", torrent.display()),
            "-F",
            &format!("savepath={}", save_dir.display()),
            &format!("{}/torrents/add", qb.api),
        ])
        .expect("qBittorrent adds the torrent");
        assert_eq!(added.trim(), "Ok.", "qBittorrent refused the torrent");
        if let Some(peer) = dial {
            // The torrent must be known before a peer can be added to it.
            let deadline = Instant::now() + START_WAIT;
            let id = loop {
                match qb.info() {
                    Ok(t) => break t["hash"].as_str().unwrap_or_default().to_string(),
                    Err(e) => assert!(Instant::now() < deadline, "qBittorrent: {e}"),
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            curl(&["-d", &format!("hashes={id}&peers={peer}"), &format!("{}/torrents/addPeers", qb.api)])
                .expect("qBittorrent adds the peer");
        }
        qb
    }

    /// The torrent's entry in /torrents/info. It is found by its v1
    /// info-hash: qBittorrent names a hybrid v1+v2 torrent by its truncated
    /// v2 hash.
    fn info(&self) -> Result<serde_json::Value, String> {
        let reply = curl(&[&format!("{}/torrents/info", self.api)])?;
        let list: serde_json::Value = serde_json::from_str(&reply).map_err(|e| format!("{e}: {reply}"))?;
        list.as_array()
            .and_then(|l| l.iter().find(|t| t["infohash_v1"] == self.info_hash_hex.as_str()))
            .cloned()
            .ok_or_else(|| format!("torrent not listed: {reply}"))
    }
}

impl Client for Qbittorrent {
    fn peer_addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    fn has_all(&mut self) -> Result<bool, String> {
        self.proc.alive()?;
        let t = self.info()?;
        let state = t["state"].as_str().unwrap_or_default();
        if state == "error" || state == "missingFiles" {
            return Err(format!("qBittorrent torrent state {state}"));
        }
        Ok(t["progress"].as_f64() == Some(1.0) && !state.starts_with("checking"))
    }

    fn log_tail(&self) -> String {
        let events = std::fs::read_to_string(self.dir.path.join("qBittorrent/data/logs/qbittorrent.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = events.lines().collect();
        format!(
            "{}\n--- qbittorrent events ---\n{}",
            self.proc.tail(),
            lines[lines.len().saturating_sub(25)..].join("\n")
        )
    }
}

/// Waits until the tracker's scrape counts a seed of `info_hash`, so a
/// downloader's first announce finds it and no test waits out an interval.
pub fn wait_tracker_counts_seed(tracker: &Opentracker, info_hash: &lt::proto::types::InfoHash) {
    let url = lt::proto::tracker::http_scrape_url(&tracker.http_announce_url(), &[*info_hash]).unwrap();
    let deadline = Instant::now() + START_WAIT;
    loop {
        let reply = Command::new("curl").args(["-s", &url]).output().expect("curl");
        if lt::proto::tracker::parse_http_scrape(&reply.stdout, info_hash).is_ok_and(|s| s.complete >= 1) {
            return;
        }
        assert!(Instant::now() < deadline, "the tracker never counted the seeder");
        std::thread::sleep(Duration::from_millis(200));
    }
}
