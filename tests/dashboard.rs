//! The stats endpoint's dashboard: the routes and the token checked over
//! HTTP, the Server-Sent Events stream parsed as JSON, the loopback
//! default of a bare `stats_listen` port, and the page itself in headless
//! Chromium during a download from libtorrent (its numbers change between
//! two reads of the DOM).
//!
//! The Chromium test skips when `chromium` is missing, unless
//! `LT_REQUIRE_CHROMIUM` is set (CI sets it). With
//! `LT_DASHBOARD_SCREENSHOT=<file.png>` it also saves a screenshot of the
//! page mid-download there (scripts/dashboard-screenshot.sh).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, make_data, make_torrent, tempdir, LtPeer, SeedOpts};
use lt::engine::{AddTorrentParams, Session, Settings, TorrentId, TorrentSource, TorrentState};
use lt::proto::metainfo::Metainfo;
use serde_json::Value;

const TOKEN: &str = "s3cret token";

/// A downloading session with the endpoint on and `extra` applied.
fn session(extra: impl FnOnce(&mut Settings)) -> Session {
    let mut s = Settings {
        listen_interfaces: format!("127.0.0.1:{}", free_port()),
        stats_listen: "127.0.0.1:0".into(),
        ..Settings::default()
    };
    extra(&mut s);
    Session::new(s).unwrap()
}

fn load(path: &Path) -> Arc<Metainfo> {
    Arc::new(Metainfo::from_bytes(&std::fs::read(path).unwrap()).unwrap())
}

/// One HTTP/1.0 GET (the response ends when the connection closes):
/// status, headers (lowercase names) and body.
fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("GET {target} HTTP/1.0\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r);
    let mut body = String::new();
    r.read_to_string(&mut body).unwrap();
    (status, headers, body)
}

fn read_head(r: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            return (status, headers);
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// An open `/events` stream, read message by message.
struct Events {
    r: BufReader<TcpStream>,
}

impl Events {
    /// Opens the stream; answers the status when it is not 200.
    fn open(addr: SocketAddr, query: &str) -> Result<Events, u16> {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(format!("GET /events{query} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let (status, headers) = read_head(&mut r);
        if status != 200 {
            return Err(status);
        }
        assert_eq!(header(&headers, "content-type"), "text/event-stream");
        Ok(Events { r })
    }

    /// The next message: its event name ("message" when it has none) and
    /// its data parsed as JSON.
    fn next(&mut self) -> (String, Value) {
        let (mut event, mut data) = ("message".to_string(), String::new());
        loop {
            let mut line = String::new();
            assert!(self.r.read_line(&mut line).unwrap() > 0, "the stream ended");
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                let v = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
                return (event, v);
            }
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            } else {
                panic!("not an SSE line: {line:?}");
            }
        }
    }

    /// The next message named `name`, skipping others.
    fn next_named(&mut self, name: &str) -> Value {
        loop {
            let (event, v) = self.next();
            if event == name {
                return v;
            }
        }
    }
}

/// Seeds a file of `size` bytes with libtorrent; answers the seeder, the
/// torrent and the directory (kept until the test ends).
fn libtorrent_seeder(tag: &str, size: u64) -> (LtPeer, Arc<Metainfo>, common::TempDir) {
    let dir = tempdir(tag);
    let seed_dir = dir.path.join("seed");
    make_data(&seed_dir, &[("dash.bin", size)], 13);
    let torrent = dir.path.join("dash.torrent");
    make_torrent(&seed_dir.join("dash.bin"), &torrent, 64 * 1024, &[], false);
    let seeder = LtPeer::seed(&torrent, &seed_dir, &SeedOpts::default());
    (seeder, load(&torrent), dir)
}

fn add_from(ses: &Session, meta: &Arc<Metainfo>, seeder: &LtPeer, save: &Path) -> TorrentId {
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta.clone()), save);
    p.peers.push(SocketAddr::from(([127, 0, 0, 1], seeder.port)));
    ses.add_torrent(p).unwrap()
}

#[test]
fn routes_token_and_event_stream() {
    let (seeder, meta, dir) = libtorrent_seeder("dash-routes", 3_000_000);
    let ses = session(|s| {
        s.stats_token = TOKEN.into();
        s.dashboard_interval_ms = 200;
        // About 6 s of download: the seeder stays listed for a while.
        s.download_rate_limit = 500_000;
        // A threshold that the alerts nobody reads cross at once.
        s.alert_mask = lt::engine::alerts::category::ALL as i64;
        s.alert_queue_size = 100;
        s.perf_alert_queue_percent = 1;
    });
    let addr = ses.stats_listen_addr().expect("endpoint listening");
    let id = add_from(&ses, &meta, &seeder, &dir.path.join("leech"));
    let query_token = "token=s3cret%20token";
    let bearer = format!("Bearer {TOKEN}");

    // No token, a wrong one, the right one in the header or the query.
    for target in ["/", "/events", "/metrics", "/stats", "/nope"] {
        assert_eq!(get(addr, target, &[]).0, 401, "{target} without a token");
        assert_eq!(get(addr, target, &[("Authorization", "Bearer wrong")]).0, 401, "{target}");
        assert_eq!(get(addr, &format!("{target}?token=s3cret"), &[]).0, 401, "{target}, a prefix");
    }
    let (status, headers, body) = get(addr, "/", &[("Authorization", &bearer)]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    let (status, _, same) = get(addr, &format!("/?{query_token}"), &[]);
    assert_eq!((status, same.as_str()), (200, body.as_str()));
    // Self-contained: nothing loaded from anywhere else.
    for external in ["http:", "https:", "src=", "<link", "@import", "url(", "//fonts", "<iframe"] {
        assert!(!body.to_ascii_lowercase().contains(external), "the page refers to {external}");
    }
    for id in ["id=\"chart\"", "id=\"torrents\"", "id=\"peers\"", "id=\"events\"", "id=\"downloaded\""] {
        assert!(body.contains(id), "the page has {id}");
    }
    assert!(body.contains("new EventSource(\"events\""));
    let (status, _, metrics) = get(addr, "/metrics", &[("Authorization", &bearer)]);
    assert_eq!(status, 200);
    assert!(metrics.contains("lt_net_recv_payload_bytes_total"));
    let (status, _, stats) = get(addr, &format!("/stats?{query_token}"), &[]);
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&stats).unwrap()["torrents"][0]["id"], id.0);
    assert_eq!(get(addr, &format!("/nope?{query_token}"), &[]).0, 404);
    assert_eq!(get(addr, &format!("/events?peers=x&{query_token}"), &[]).0, 400);

    // The stream: the history first, then the state at once and every
    // interval, threshold events on their own.
    let mut ev = Events::open(addr, &format!("?peers={}&{query_token}", id.0)).unwrap();
    let (name, history) = ev.next();
    assert_eq!(name, "history");
    assert_eq!(history["interval_ms"], 200);
    assert!(history["samples"].is_array() && history["thresholds"].is_array());
    for s in history["samples"].as_array().unwrap() {
        assert_eq!(s.as_array().map(Vec::len), Some(3), "[uptime_ms, download, upload]: {s}");
    }
    let (name, first) = ev.next();
    assert_eq!(name, "message");
    for key in ["download_rate", "upload_rate", "total_download", "total_upload", "num_peers", "num_torrents"]
    {
        assert!(first["session"][key].is_i64(), "session.{key}: {first}");
    }
    assert_eq!(first["session"]["num_torrents"], 1);
    let t = &first["torrents"][0];
    assert_eq!(t["id"], id.0);
    assert_eq!(t["name"], "dash.bin");
    for key in
        ["state", "progress", "download_rate", "upload_rate", "num_peers", "num_seeds", "eta_s", "ratio"]
    {
        assert!(!t[key].is_null(), "torrent.{key}: {t}");
    }
    assert_eq!(first["peers_of"], id.0);

    // Until the download ends, and then until the libtorrent seeder is
    // listed with its round-trip times and a threshold event came.
    let deadline = Instant::now() + Duration::from_secs(180);
    let (mut last_uptime, mut frames, mut threshold, mut peer) =
        (first["uptime_ms"].as_i64().unwrap(), 0, None, None);
    while threshold.is_none() || peer.is_none() || frames < 3 {
        assert!(Instant::now() < deadline, "threshold {threshold:?}, peer {peer:?}, {frames} frames");
        match ev.next() {
            (name, v) if name == "threshold" => threshold = Some(v),
            (name, v) if name == "message" => {
                let uptime = v["uptime_ms"].as_i64().unwrap();
                assert!(uptime >= last_uptime, "frames in order");
                last_uptime = uptime;
                frames += 1;
                let seeder_row = v["peers"].as_array().unwrap().iter().find(|p| {
                    p["addr"] == format!("127.0.0.1:{}", seeder.port) && p["rtt_avg_us"].as_i64() > Some(0)
                });
                if let Some(p) = seeder_row {
                    peer = Some(p.clone());
                }
            }
            (name, _) => panic!("unexpected event {name}"),
        }
    }
    let peer = peer.unwrap();
    assert!(peer["rtt_min_us"].as_i64().unwrap() <= peer["rtt_max_us"].as_i64().unwrap());
    assert!(peer["seed"].is_boolean() && peer["client"].is_string());
    let threshold = threshold.unwrap();
    assert_eq!(threshold["watched"], "alert_queue_percent");
    assert!(["warning", "critical"].contains(&threshold["severity"].as_str().unwrap()), "{threshold}");
    assert_eq!(threshold["threshold"], 1);
    drop(ev);

    // A page opened now gets that event and a chart's worth of samples.
    let mut ev = Events::open(addr, &format!("?{query_token}")).unwrap();
    let history = ev.next_named("history");
    assert!(history["thresholds"].as_array().unwrap().iter().any(|e| e["watched"] == "alert_queue_percent"));
    assert!(history["samples"].as_array().unwrap().len() >= 3);
    drop(ev);

    // At most 16 streams: one more is refused. The closed streams above
    // free their places once the server notices, so 16 open in the end.
    let open_all = || {
        let mut open = Vec::new();
        loop {
            match Events::open(addr, &format!("?{query_token}")) {
                Ok(ev) => open.push(ev),
                Err(status) => return (open, status),
            }
            assert!(open.len() <= 16, "more than 16 streams open");
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (open, refused) = open_all();
        assert_eq!(refused, 503);
        if open.len() == 16 {
            break;
        }
        assert!(Instant::now() < deadline, "closed streams never freed their places: {} open", open.len());
        drop(open);
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_message_lists_at_most_500_torrents() {
    let dir = tempdir("dash-many");
    let ses = session(|_| {});
    for i in 0..501 {
        let file = dir.path.join(format!("file-{i:03}.bin"));
        std::fs::write(&file, format!("data {i}")).unwrap();
        let opts = lt::engine::create::CreateOptions::default();
        let bytes = lt::engine::create::create_torrent(&file, &opts, &mut |_, _| {}).unwrap();
        let mut p = AddTorrentParams::new(
            TorrentSource::Metainfo(Arc::new(Metainfo::from_bytes(&bytes).unwrap())),
            dir.path.join("save"),
        );
        p.paused = true;
        ses.add_torrent(p).unwrap();
    }
    let addr = ses.stats_listen_addr().unwrap();
    let mut ev = Events::open(addr, "").unwrap();
    let message = ev.next_named("message");
    eprintln!("501 torrents: a message of {} bytes", message.to_string().len());
    assert_eq!(message["session"]["num_torrents"], 501);
    let listed = message["torrents"].as_array().unwrap();
    assert_eq!(listed.len(), 500);
    assert!(listed.windows(2).all(|w| w[0]["id"].as_u64() < w[1]["id"].as_u64()), "in id order");
}

#[test]
fn a_bare_port_binds_loopback() {
    for spec in ["0", ":0"] {
        let ses = session(|s| s.stats_listen = spec.into());
        let addr = ses.stats_listen_addr().expect("endpoint listening");
        assert_eq!(addr.ip(), std::net::IpAddr::from([127, 0, 0, 1]), "{spec}");
        assert_ne!(addr.port(), 0);
        assert_eq!(get(addr, "/stats", &[]).0, 200, "no token set: open");
        // A page whose host name was pointed at 127.0.0.1 (DNS rebinding).
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /stats HTTP/1.1\r\nHost: evil.example:9100\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(read_head(&mut BufReader::new(s)).0, 403);
        assert_eq!(get(addr, "/stats", &[("Host", "localhost")]).0, 200);
    }
}

/// Whether headless Chromium can run; a missing one fails the test when
/// `LT_REQUIRE_CHROMIUM` is set.
fn have_chromium() -> bool {
    let found = Command::new("chromium").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("LT_REQUIRE_CHROMIUM").is_some() {
        panic!("chromium is missing (apt-get install --no-install-recommends chromium) and LT_REQUIRE_CHROMIUM is set");
    }
    found
}

/// One headless Chromium driven over the DevTools protocol on a pipe
/// (`--remote-debugging-pipe`: it reads JSON messages ending in NUL on fd 3
/// and writes its answers on fd 4). `--dump-dom` cannot read a page that
/// keeps a stream open: it prints the DOM at the load event, before any
/// message, or with `--virtual-time-budget` never, as virtual time waits
/// for the stream to end. Chromium runs under `timeout` in its own process
/// group, killed when this drops, and kept off every host but loopback.
struct Chromium {
    child: std::process::Child,
    to: std::fs::File,
    from: std::sync::mpsc::Receiver<Value>,
    next_id: u64,
    /// The page's DevTools session.
    session: String,
}

impl Chromium {
    fn open(url: &str, profile: &Path) -> Chromium {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        use std::os::unix::process::CommandExt;
        let pipe = || {
            let mut fds = [0; 2];
            // SAFETY: `fds` has room for the two descriptors pipe2 writes.
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            // SAFETY: pipe2 succeeded, so both are open and owned by nobody else.
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
        };
        let (commands_read, commands_write) = pipe();
        let (answers_read, answers_write) = pipe();
        let (cr, aw) = (commands_read.as_raw_fd(), answers_write.as_raw_fd());
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "10", "300", "chromium", "--headless", "--no-sandbox", "--disable-gpu"])
            .args(["--no-first-run", "--disable-background-networking", "--disable-component-update"])
            .args(["--disable-sync", "--disable-domain-reliability", "--disable-breakpad"])
            .arg("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--window-size=1280,1000", "--hide-scrollbars", "--remote-debugging-pipe", url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Copies above 10 first: a pipe end may itself be fd 3 or 4,
                // and the copies are not close-on-exec.
                let (c, a) = (libc::fcntl(cr, libc::F_DUPFD, 10), libc::fcntl(aw, libc::F_DUPFD, 10));
                if c < 0 || a < 0 || libc::dup2(c, 3) < 0 || libc::dup2(a, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("run timeout and chromium");
        drop((commands_read, answers_write));
        let (tx, from) = std::sync::mpsc::channel();
        let mut answers = BufReader::new(std::fs::File::from(answers_read));
        std::thread::spawn(move || loop {
            let mut msg = Vec::new();
            if answers.read_until(0, &mut msg).unwrap_or(0) == 0 {
                return;
            }
            msg.pop();
            if let Ok(v) = serde_json::from_slice(&msg) {
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let mut c = Chromium {
            child,
            to: std::fs::File::from(commands_write),
            from,
            next_id: 0,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let page = loop {
            let targets = c.call(None, "Target.getTargets", serde_json::json!({}));
            let page =
                targets["targetInfos"].as_array().unwrap().iter().find(|t| t["type"] == "page").cloned();
            if let Some(p) = page {
                break p;
            }
            assert!(Instant::now() < deadline, "chromium opened no page");
            std::thread::sleep(Duration::from_millis(200));
        };
        let attach = serde_json::json!({"targetId": page["targetId"], "flatten": true});
        c.session = c.call(None, "Target.attachToTarget", attach)["sessionId"].as_str().unwrap().to_string();
        c
    }

    /// Sends one command (to the page's session unless `session` is None
    /// and this is the browser's); answers its result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let mut msg = serde_json::json!({"id": self.next_id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v =
                self.from.recv_timeout(left).unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            if v["id"] == self.next_id {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page; answers its value.
    fn eval(&mut self, expression: &str) -> Value {
        let session = self.session.clone();
        let params = serde_json::json!({"expression": expression, "returnByValue": true});
        let answer = self.call(Some(&session), "Runtime.evaluate", params);
        assert!(answer["exceptionDetails"].is_null(), "{expression}: {}", answer["exceptionDetails"]);
        answer["result"]["value"].clone()
    }

    /// The page's DOM as HTML.
    fn dom(&mut self) -> String {
        self.eval("document.documentElement.outerHTML").as_str().unwrap().to_string()
    }

    /// A PNG of the whole page, as tall as its content.
    fn screenshot(&mut self) -> Vec<u8> {
        let session = self.session.clone();
        let width = self.eval("document.documentElement.scrollWidth");
        let height = self.eval("Math.ceil(document.body.getBoundingClientRect().height)");
        let clip = serde_json::json!({"x": 0, "y": 0, "width": width, "height": height, "scale": 1});
        let params = serde_json::json!({"format": "png", "captureBeyondViewport": true, "clip": clip});
        let shot = self.call(Some(&session), "Page.captureScreenshot", params);
        base64_decode(shot["data"].as_str().unwrap())
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // SAFETY: a plain kill(2) of the process group `timeout` leads.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Standard base64 (the screenshot's encoding), padding allowed.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The number in attribute `attr` of the element with id `id` in `dom`.
fn dom_number(dom: &str, id: &str, attr: &str) -> f64 {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let tag = &dom[dom[..at].rfind('<').unwrap()..];
    let tag = &tag[..tag.find('>').unwrap()];
    let key = format!("{attr}=\"");
    let v = &tag[tag.find(&key).unwrap_or_else(|| panic!("#{id} has no {attr}: {tag}")) + key.len()..];
    v[..v.find('"').unwrap()].parse().unwrap()
}

/// The `data-progress` of the first torrent's progress cell.
fn dom_progress(dom: &str) -> f64 {
    let at =
        dom.find("data-progress=\"").expect("a torrent row with its progress") + "data-progress=\"".len();
    dom[at..at + dom[at..].find('"').unwrap()].parse().unwrap()
}

#[test]
fn chromium_sees_the_numbers_change_during_a_download() {
    if !have_chromium() {
        eprintln!("chromium missing: skipped (LT_REQUIRE_CHROMIUM=1 makes this a failure)");
        return;
    }
    // 16 MB at 600 kB/s: about 27 s of download, plenty for two reads.
    let (seeder, meta, dir) = libtorrent_seeder("dash-chromium", 16_000_000);
    let ses = session(|s| {
        s.stats_token = TOKEN.into();
        s.download_rate_limit = 600_000;
        // The limit queues requests: their round trips pass 300 ms, which
        // the page shows as a threshold event.
        s.perf_peer_rtt_ms = 300;
    });
    let addr = ses.stats_listen_addr().unwrap();
    let id = add_from(&ses, &meta, &seeder, &dir.path.join("leech"));
    let url = format!("http://{addr}/?token=s3cret%20token");
    let profile = dir.path.join("chromium-profile");

    // Wait until data flows, so the first read already shows some.
    let deadline = Instant::now() + Duration::from_secs(120);
    while ses.torrent_status(id).unwrap().total_done == 0 {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut browser = Chromium::open(&url, &profile);
    // The page has drawn its first message once #downloaded has its bytes.
    let deadline = Instant::now() + Duration::from_secs(60);
    let bytes_shown = "(document.getElementById('downloaded') || {dataset: {}}).dataset.bytes || ''";
    while browser.eval(bytes_shown) == "" {
        assert!(Instant::now() < deadline, "the page never got a message: {}", browser.dom());
        std::thread::sleep(Duration::from_millis(200));
    }
    let first = browser.dom();
    assert!(first.contains("dash.bin"), "the torrent is listed: {first}");
    std::thread::sleep(Duration::from_secs(4));
    let second = browser.dom();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !browser
        .eval("document.getElementById('events').textContent")
        .as_str()
        .unwrap()
        .contains("peer_rtt_ms")
    {
        assert!(Instant::now() < deadline, "no threshold event on the page: {}", browser.dom());
        std::thread::sleep(Duration::from_millis(200));
    }
    if let Some(png) = std::env::var_os("LT_DASHBOARD_SCREENSHOT") {
        // Some more seconds of chart for the picture.
        std::thread::sleep(Duration::from_secs(10));
        let shot = browser.screenshot();
        assert!(shot.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(png, shot).unwrap();
    }
    assert_ne!(
        ses.torrent_status(id).unwrap().state,
        TorrentState::Seeding,
        "still downloading: the test is valid"
    );

    let (d1, d2) =
        (dom_number(&first, "downloaded", "data-bytes"), dom_number(&second, "downloaded", "data-bytes"));
    assert!(d1 > 0.0 && d2 > d1, "downloaded: {d1} then {d2}");
    let (p1, p2) = (dom_progress(&first), dom_progress(&second));
    assert!(p1 < p2 && p2 < 1.0, "progress: {p1} then {p2}");
    assert!(second.contains(&format!("127.0.0.1:{}", seeder.port)), "the seeder is in the peers table");
}
