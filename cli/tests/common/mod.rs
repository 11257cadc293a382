//! Helpers for the command line's tests: the `lt` binary as a child process
//! with its output read line by line, a libtorrent seeder and downloader
//! (tests/peers/lt_peer.py of the library), a tiny HTTP server that serves
//! a fixed body and records the requests (a .torrent URL, a tracker), and
//! test data. Everything listens on 127.0.0.1 only, every child is killed
//! when its handle drops, and every wait has a generous deadline.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";

/// The `lt` binary cargo built for these tests.
pub fn lt_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lt")
}

/// A port free for TCP and UDP on 127.0.0.1 now.
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
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
    let path = std::env::temp_dir().join(format!("lt-cli-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    TempDir { path }
}

/// Writes deterministic pseudo-random files (xorshift from `seed`).
pub fn make_data(dir: &Path, layout: &[(&str, usize)], seed: u64) {
    let mut state = seed | 1;
    for (name, size) in layout {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut bytes = Vec::with_capacity(*size + 8);
        while bytes.len() < *size {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.extend_from_slice(&state.to_le_bytes());
        }
        bytes.truncate(*size);
        std::fs::write(path, bytes).unwrap();
    }
}

/// Whether the files under `a` and `b` named in `names` are byte for byte equal.
pub fn same_files(a: &Path, b: &Path, names: &[&str]) -> bool {
    names
        .iter()
        .all(|n| std::fs::read(a.join(n)).ok().is_some_and(|x| Some(x) == std::fs::read(b.join(n)).ok()))
}

fn need(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package {package} (.ci/run does)"
    );
}

/// mktorrent's .torrent of `path` (piece length 2^`log2_piece`).
pub fn mktorrent(path: &Path, out: &Path, log2_piece: u32, tracker: &str, extra: &[&str]) {
    need("/usr/bin/mktorrent", "mktorrent");
    let status = Command::new("/usr/bin/mktorrent")
        .args(["-l", &log2_piece.to_string(), "-a", tracker])
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("run mktorrent");
    assert!(status.success(), "mktorrent failed: {status}");
}

/// libtorrent's (python3-libtorrent) view of a .torrent: "v1 v2" hex
/// info-hashes, "-" for a missing one.
pub fn libtorrent_info_hashes(torrent: &Path) -> (String, String) {
    need(PYTHON, "python3-libtorrent");
    let script = "import sys, libtorrent as lt\n\
        h = lt.torrent_info(sys.argv[1]).info_hashes()\n\
        print(str(h.v1) if h.has_v1() else '-', str(h.v2) if h.has_v2() else '-')";
    let out = Command::new(PYTHON).args(["-c", script]).arg(torrent).output().expect("run python3");
    assert!(out.status.success(), "libtorrent: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut words = text.split_whitespace().map(str::to_string);
    (words.next().unwrap(), words.next().unwrap())
}

/// A child process whose stdout is read line by line; killed on drop.
pub struct Proc {
    pub child: Child,
    lines: Receiver<String>,
    /// Every stdout line so far.
    pub seen: Vec<String>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                // Keep draining after the reader is gone, so the child never blocks.
                let _ = tx.send(line);
            }
        });
        Proc { child, lines, seen: Vec::new() }
    }

    /// `lt` with these arguments.
    pub fn lt(args: &[&str]) -> Proc {
        let mut cmd = Command::new(lt_bin());
        cmd.args(args);
        Proc::spawn(cmd)
    }

    /// Waits for a stdout line for which `want` holds; answers it.
    pub fn wait_line(&mut self, what: &str, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {what} within {timeout:?}; output:\n{}", self.seen.join("\n"));
            match self.lines.recv_timeout(left.min(Duration::from_millis(500))) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("output ended before {what}; output:\n{}", self.seen.join("\n"))
                }
            }
        }
    }

    /// Waits for the exit (killing the child after `timeout`), then reads
    /// the rest of its output.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("still running after {timeout:?}; output:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        status
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        self.signal("-INT");
    }

    /// Sends a signal ("-INT", "-TERM").
    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success());
    }

    pub fn output(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lt_peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/lt_peer.py")
}

/// A libtorrent seeder of `torrent` (data under `save_path`) on a free
/// port, ready (its files checked) when this returns. Answers it and its port.
pub fn libtorrent_seeder(torrent: &Path, save_path: &Path) -> (Proc, u16) {
    libtorrent_seeder_of(&[torrent], save_path)
}

/// One libtorrent session seeding every torrent of `torrents`.
pub fn libtorrent_seeder_of(torrents: &[&Path], save_path: &Path) -> (Proc, u16) {
    need(PYTHON, "python3-libtorrent");
    let port = free_port();
    let mut cmd = Command::new(PYTHON);
    cmd.arg(lt_peer_script()).arg("seed").arg("--save-path").arg(save_path);
    for torrent in torrents {
        cmd.arg("--torrent").arg(torrent);
    }
    cmd.args(["--port", &port.to_string()]);
    let mut p = Proc::spawn(cmd);
    p.wait_line("the seeder's ready line", Duration::from_secs(120), |l| l.contains("\"ready\""));
    (p, port)
}

/// A libtorrent downloader of `torrent` into `save_path` that dials `peer`.
pub fn libtorrent_downloader(torrent: &Path, save_path: &Path, peer: &str) -> Proc {
    need(PYTHON, "python3-libtorrent");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(lt_peer_script()).arg("download").arg("--torrent").arg(torrent).arg("--save-path").arg(save_path);
    cmd.args(["--port", &free_port().to_string(), "--timeout", "300", "--connect", peer]);
    Proc::spawn(cmd)
}

/// An HTTP server on 127.0.0.1 answering every request with `body` and
/// recording each request line ("GET /path?query HTTP/1.1"). Runs until
/// the test process ends.
pub struct HttpStub {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl HttpStub {
    pub fn start(body: Vec<u8>) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let text = String::from_utf8_lossy(&head);
                log.lock().unwrap().push(text.lines().next().unwrap_or("").to_string());
                let reply =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(reply.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        HttpStub { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn saw(&self, needle: &str) -> bool {
        self.requests.lock().unwrap().iter().any(|r| r.contains(needle))
    }
}

/// A tracker that answers every announce with no peers (the peers are
/// dialled with --peer) and records the announces.
pub fn stub_tracker() -> HttpStub {
    HttpStub::start(b"d8:intervali1800e5:peers0:e".to_vec())
}

/// The percentage in a plain status line ("name: downloading 42.0% ..."), if any.
pub fn percent(line: &str) -> Option<f64> {
    line.split_whitespace().find_map(|w| w.strip_suffix('%')?.parse().ok())
}
