//! A web seed (BEP 19) for tests: a small HTTP/1.1 file server on
//! 127.0.0.1 that honours `Range: bytes=a-b` (206 + Content-Range), answers
//! 404 for unknown paths, and can be told to corrupt the bytes it serves,
//! to answer 503 with Retry-After, to redirect a path prefix with 302, or
//! to wait before each answer. One thread per connection, one request per
//! connection (`Connection: close`). Stopped when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does besides serving files; change it at any time.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Flip every byte served (the files stay intact on disk).
    pub corrupt: bool,
    /// Answer this many requests with 503 and `Retry-After: <secs>`.
    pub unavailable: u32,
    pub retry_after_secs: u32,
    /// Paths starting with `.0` are redirected (302) to the same path with
    /// `.1` in place of that prefix.
    pub redirect: Option<(String, String)>,
    /// Wait this long before answering each request.
    pub delay: Duration,
}

/// What the server saw and did.
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// Decoded request paths, in order.
    pub paths: Vec<String>,
    pub partial: u32,
    pub not_found: u32,
    pub unavailable: u32,
    pub redirected: u32,
    /// File bytes sent in bodies.
    pub body_bytes: u64,
}

struct Shared {
    root: PathBuf,
    behaviour: Mutex<Behaviour>,
    log: Mutex<Log>,
    stop: AtomicBool,
}

pub struct HttpSeed {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl HttpSeed {
    /// Serves the files under `root`.
    pub fn start(root: &Path) -> HttpSeed {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            behaviour: Mutex::new(Behaviour::default()),
            log: Mutex::new(Log::default()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(&s, conn);
                });
            }
        });
        HttpSeed { addr, shared }
    }

    /// `http://127.0.0.1:PORT` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.shared.behaviour.lock().unwrap());
    }

    pub fn log(&self) -> Log {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for HttpSeed {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn respond(conn: &mut TcpStream, status: &str, headers: &[String], body: &[u8]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

fn serve(s: &Shared, mut conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let raw_path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let behaviour = s.behaviour.lock().unwrap().clone();
    std::thread::sleep(behaviour.delay);
    let Some(path) = percent_decode(&raw_path) else {
        return respond(&mut conn, "400 Bad Request", &[], b"");
    };
    s.log.lock().unwrap().paths.push(path.clone());
    if behaviour.unavailable > 0 {
        let mut b = s.behaviour.lock().unwrap();
        if b.unavailable > 0 {
            b.unavailable -= 1;
            drop(b);
            s.log.lock().unwrap().unavailable += 1;
            let retry = format!("Retry-After: {}", behaviour.retry_after_secs);
            return respond(&mut conn, "503 Service Unavailable", &[retry], b"busy");
        }
    }
    if let Some((from, to)) = &behaviour.redirect {
        if let Some(rest) = raw_path.strip_prefix(from.as_str()) {
            s.log.lock().unwrap().redirected += 1;
            let location = format!("Location: {to}{rest}");
            return respond(&mut conn, "302 Found", &[location], b"");
        }
    }
    let rel = Path::new(path.trim_start_matches('/'));
    let safe = rel.components().all(|c| matches!(c, Component::Normal(_)));
    let file = s.root.join(rel);
    let mut f = match std::fs::File::open(&file) {
        Ok(f) if safe && file.is_file() => f,
        _ => {
            s.log.lock().unwrap().not_found += 1;
            return respond(&mut conn, "404 Not Found", &[], b"not found");
        }
    };
    let len = f.metadata()?.len();
    let (status, headers, start, end) = match range.as_deref().and_then(parse_range) {
        Some((a, b)) if a <= b && b < len => {
            s.log.lock().unwrap().partial += 1;
            ("206 Partial Content", vec![format!("Content-Range: bytes {a}-{b}/{len}")], a, b + 1)
        }
        Some(_) => {
            let header = format!("Content-Range: bytes */{len}");
            return respond(&mut conn, "416 Range Not Satisfiable", &[header], b"");
        }
        None => ("200 OK", Vec::new(), 0, len),
    };
    let mut body = vec![0; (end - start) as usize];
    f.seek(SeekFrom::Start(start))?;
    f.read_exact(&mut body)?;
    if behaviour.corrupt {
        body.iter_mut().for_each(|b| *b = !*b);
    }
    s.log.lock().unwrap().body_bytes += body.len() as u64;
    respond(&mut conn, status, &headers, &body)
}

/// `bytes=a-b`, the one form lt sends.
fn parse_range(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}
