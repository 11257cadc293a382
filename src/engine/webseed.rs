//! Web seeds (BEP 19): HTTP servers that hold the torrent's files.
//!
//! Each web seed of a running, unfinished torrent gets a task that acts as
//! a peer having every piece: it asks the torrent's picker for whole pieces
//! in a row (so pieces it fetches are not asked of peers too, until
//! endgame), fetches them with HTTP range requests through the session's
//! client (one per file the run touches), and hands
//! them in through `Torrent::block_received`, the path peer blocks take, so
//! hashing, writing, `piece_finished` and hash failures are the same.
//!
//! Failures follow libtorrent: an HTTP or connection error, a bad reply or
//! a timeout posts a `url_seed` alert and the seed is tried again after the
//! reply's `Retry-After` or `urlseed_wait_retry`. A seed whose data fails
//! the hash check is removed (with a `url_seed` alert) when `ban_web_seeds`
//! is on. lt bans on the first piece the seed sent alone that fails, or on
//! a block the smart ban finds bad; libtorrent's gentler multi-file rule
//! (treat the seed as lacking that file first) is not followed.
//!
//! Like libtorrent, whose web seeds are peer connections, a web seed with
//! a running task counts in the torrent's `num_peers` and `num_seeds`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::alerts::{AlertKind, ErrorInfo};
use super::error::{Error, ErrorKind, Result};
use super::piece_picker::{Block, PeerKey};
use super::stats::Metric;
use super::torrent::Torrent;
use crate::proto::metainfo::Metainfo;
use crate::proto::types::Lengths;
use crate::proto::webseed::{self as wire, ResponseError};

/// Web seeds get picker keys from this value up, so a block's sender is
/// known to be a web seed by its key alone (peers count up from 1) even
/// after the seed was removed.
const FIRST_KEY: PeerKey = 1 << 63;

/// Whether a picker key belongs to a web seed.
pub(crate) fn is_web_seed(key: PeerKey) -> bool {
    key >= FIRST_KEY
}

/// Longest URL taken for a web seed: no real server needs more, and URLs
/// from a .torrent or a magnet link are untrusted.
const MAX_URL_LEN: usize = 4096;

/// One web seed of a torrent.
#[derive(Debug)]
struct WebSeed {
    url: String,
    key: PeerKey,
    /// Not to be tried before this (after a failure).
    retry_at: Option<Instant>,
    /// Cancels the seed's task while one runs.
    task: Option<CancellationToken>,
}

/// A torrent's web seeds, in the order they were added.
#[derive(Debug)]
pub(crate) struct WebSeeds {
    seeds: Vec<WebSeed>,
    next_key: PeerKey,
}

impl WebSeeds {
    /// The seeds of `urls` that are usable (http or https, not too long),
    /// each once.
    pub(crate) fn new<'a>(urls: impl IntoIterator<Item = &'a String>) -> WebSeeds {
        let mut seeds = WebSeeds { seeds: Vec::new(), next_key: FIRST_KEY };
        for url in urls {
            seeds.add(url);
        }
        seeds
    }

    /// Adds a seed; false when `url` is not usable or already there.
    fn add(&mut self, url: &str) -> bool {
        if !is_usable(url) || self.seeds.iter().any(|s| s.url == url) {
            return false;
        }
        self.seeds.push(WebSeed { url: url.to_string(), key: self.next_key, retry_at: None, task: None });
        self.next_key += 1;
        true
    }

    /// Removes the seed with `pred` and stops its task.
    fn remove_where(&mut self, pred: impl Fn(&WebSeed) -> bool) -> Option<String> {
        let i = self.seeds.iter().position(pred)?;
        let seed = self.seeds.remove(i);
        if let Some(task) = seed.task {
            task.cancel();
        }
        Some(seed.url)
    }

    /// Seeds whose task runs now: counted as connected peers.
    pub(crate) fn connected(&self) -> usize {
        self.seeds.iter().filter(|s| s.task.is_some()).count()
    }

    /// Every seed's URL.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.seeds.iter().map(|s| s.url.clone()).collect()
    }
}

/// An http or https URL of bounded length.
fn is_usable(url: &str) -> bool {
    url.len() <= MAX_URL_LEN
        && (url.starts_with("http://") || url.starts_with("https://"))
        && reqwest::Url::parse(url).is_ok()
}

/// Why a web seed request failed, and when to try again.
struct Failure {
    error: ErrorInfo,
    /// Seconds from the reply's `Retry-After`.
    retry_after: Option<u64>,
}

impl Failure {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Failure {
        Failure { error: ErrorInfo { kind, message: message.into() }, retry_after: None }
    }
}

impl From<ResponseError> for Failure {
    fn from(e: ResponseError) -> Failure {
        Failure::new(ErrorKind::Protocol, e.to_string())
    }
}

/// Contiguous blocks fetched together: bytes `start .. start + len` of the torrent.
struct Run {
    start: u64,
    len: u64,
    blocks: Vec<Block>,
}

/// Groups blocks into runs of contiguous bytes.
fn runs(lengths: &Lengths, mut blocks: Vec<Block>) -> Vec<Run> {
    blocks.sort_unstable();
    let mut out: Vec<Run> = Vec::new();
    for b in blocks {
        let start = lengths.piece_offset(b.piece) + b.begin() as u64;
        let len = lengths.block_size(b.piece, b.index) as u64;
        match out.last_mut() {
            Some(r) if r.start + r.len == start => {
                r.len += len;
                r.blocks.push(b);
            }
            _ => out.push(Run { start, len, blocks: vec![b] }),
        }
    }
    out
}

impl Torrent {
    /// Adds a web seed (libtorrent's `add_url_seed`); it starts at the next
    /// second's tick if the torrent is downloading.
    ///
    /// Errors: `InvalidArgument` for a URL that is not http(s) or longer
    /// than 4096 bytes. Adding a URL already there does nothing.
    pub fn add_url_seed(&self, url: &str) -> Result<(), Error> {
        if !is_usable(url) {
            return Err(Error::invalid_argument(format!("not an http or https URL: {url:?}")));
        }
        self.core.lock().web_seeds.add(url);
        self.wake.notify_one();
        Ok(())
    }

    /// Removes a web seed and stops its requests; an invalid-argument error
    /// when the torrent has no such seed.
    pub fn remove_url_seed(&self, url: &str) -> Result<()> {
        match self.core.lock().web_seeds.remove_where(|s| s.url == url) {
            Some(_) => Ok(()),
            None => Err(Error::invalid_argument(format!("the torrent has no web seed {url:?}"))),
        }
    }

    /// The torrent's web seeds (from the .torrent's `url-list`, a magnet's
    /// `ws` and `add_url_seed`), banned ones excepted.
    pub fn url_seeds(&self) -> Vec<String> {
        self.core.lock().web_seeds.urls()
    }

    /// Starts a task for every web seed that has none and is not waiting
    /// to retry, while the torrent is downloading. Called every second.
    pub(crate) fn start_web_seeds(self: &Arc<Self>) {
        let Some(meta) = self.meta().cloned() else { return };
        let mut core = self.core.lock();
        if !Torrent::is_active(&core) || core.is_finished() || self.ses.disk_backlogged() {
            return;
        }
        let now = Instant::now();
        let run = core.run.clone();
        for seed in core.web_seeds.seeds.iter_mut() {
            if seed.task.is_some() || seed.retry_at.is_some_and(|at| at > now) {
                continue;
            }
            let token = run.child_token();
            seed.task = Some(token.clone());
            seed.retry_at = None;
            let (t, url, key, meta) = (self.clone(), seed.url.clone(), seed.key, meta.clone());
            self.ses.runtime.spawn(async move { t.run_web_seed(meta, url, key, token).await });
        }
    }

    /// A web seed's task: downloads until nothing is left to pick for it,
    /// it fails, or it is cancelled; then gives back its requests.
    async fn run_web_seed(
        self: Arc<Self>,
        meta: Arc<Metainfo>,
        url: String,
        key: PeerKey,
        token: CancellationToken,
    ) {
        let result = tokio::select! {
            _ = token.cancelled() => Ok(()),
            r = self.web_seed_download(&meta, &url, key) => r,
        };
        let mut core = self.core.lock();
        core.picker.remove_peer(key);
        let Some(seed) = core.web_seeds.seeds.iter_mut().find(|s| s.key == key) else { return };
        seed.task = None;
        let Err(failure) = result else { return };
        // A day at most, whatever the server asks for.
        let wait =
            failure.retry_after.unwrap_or(self.ses.settings.read().urlseed_wait_retry as u64).min(86_400);
        seed.retry_at = Some(Instant::now() + Duration::from_secs(wait));
        drop(core);
        self.ses.counters.add(Metric::WebSeedErrors, 1);
        tracing::info!(id = self.id.0, url = %url, error = %failure.error.message, wait, "web seed failed");
        self.post(AlertKind::UrlSeed { url, error: failure.error });
    }

    /// Picks blocks for the seed and fetches them, run by run.
    async fn web_seed_download(
        self: &Arc<Self>,
        meta: &Metainfo,
        url: &str,
        key: PeerKey,
    ) -> Result<(), Failure> {
        loop {
            let (max_bytes, timeout) = {
                let s = self.ses.settings.read();
                (s.urlseed_max_request_bytes as u64, Duration::from_secs(s.urlseed_timeout as u64))
            };
            if self.ses.disk_backlogged() {
                // The next tick starts the seed again once the disk caught up.
                return Ok(());
            }
            let max_blocks = (max_bytes / crate::proto::types::BLOCK_SIZE as u64).max(1) as usize;
            let blocks = self.pick_web_seed_run(key, max_blocks);
            if blocks.is_empty() {
                return Ok(());
            }
            for run in runs(&meta.lengths, blocks) {
                let (data, addr) = self.fetch_run(meta, url, &run, timeout).await?;
                self.deliver_run(key, addr, &run, &data);
            }
        }
    }

    /// Whole pieces in a row for a web seed, as few requests fetch them.
    fn pick_web_seed_run(&self, key: PeerKey, max_blocks: usize) -> Vec<Block> {
        let mut blocks = Vec::new();
        let mut core = self.core.lock();
        if !Torrent::is_active(&core) {
            return blocks;
        }
        let before = core.picker.endgame_picks();
        core.picker.pick_run(key, max_blocks, &mut blocks);
        let endgame = core.picker.endgame_picks() - before;
        self.ses.counters.add(Metric::EndgameRequests, endgame as i64);
        blocks
    }

    /// Hands a fetched run's blocks in, as a peer's blocks are.
    fn deliver_run(self: &Arc<Self>, key: PeerKey, addr: SocketAddr, run: &Run, data: &[u8]) {
        let lengths = self.lengths();
        let n = data.len() as i64;
        self.counters.recv.fetch_add(n, Ordering::Relaxed);
        self.counters.recv_payload.fetch_add(n, Ordering::Relaxed);
        self.ses.counters.add(Metric::RecvBytes, n);
        self.ses.counters.add(Metric::RecvPayloadBytes, n);
        self.ses.counters.add(Metric::RecvWebSeedPayloadBytes, n);
        for b in &run.blocks {
            let at = (lengths.piece_offset(b.piece) + b.begin() as u64 - run.start) as usize;
            let len = lengths.block_size(b.piece, b.index) as usize;
            let Some(block_data) = data.get(at..at + len) else { continue };
            let others = self.block_received(key, addr, *b, block_data);
            if !others.is_empty() {
                self.cancel_block(&others, *b);
            }
        }
    }

    /// Fetches the bytes of a run: one range request per file it touches,
    /// zeros for pad files. Answers the data and the server's address.
    async fn fetch_run(
        &self,
        meta: &Metainfo,
        url: &str,
        run: &Run,
        timeout: Duration,
    ) -> Result<(Vec<u8>, SocketAddr), Failure> {
        let mut data = Vec::with_capacity(run.len as usize);
        // The address is kept with each block for banning peers; web seed
        // blocks are told apart by their key, so the unspecified address
        // stands in only when the connection did not report one.
        let mut addr = SocketAddr::from(([0, 0, 0, 0], 0));
        for slice in wire::map_range(&meta.files, run.start, run.len) {
            if slice.pad {
                data.resize(data.len() + slice.len as usize, 0);
                continue;
            }
            let file = &meta.files[slice.file];
            let file_url = wire::file_url(url, meta.is_multi_file(), &meta.name, &file.path);
            if let Some(a) =
                self.fetch_slice(&file_url, slice.offset, slice.len, file.length, timeout, &mut data).await?
            {
                addr = a;
            }
        }
        if data.len() as u64 != run.len {
            return Err(Failure::new(ErrorKind::Protocol, "the files do not cover the requested bytes"));
        }
        Ok((data, addr))
    }

    /// One range request: appends exactly `len` bytes at `offset` of the
    /// file to `out`, never reading more of the body than that needs.
    async fn fetch_slice(
        &self,
        file_url: &str,
        offset: u64,
        len: u64,
        file_len: u64,
        timeout: Duration,
        out: &mut Vec<u8>,
    ) -> Result<Option<SocketAddr>, Failure> {
        let timed_out =
            |_| Failure::new(ErrorKind::Timeout, format!("no answer within {} s", timeout.as_secs()));
        self.ses.counters.add(Metric::WebSeedRequests, 1);
        let request =
            self.ses.http.get(file_url).header(reqwest::header::RANGE, wire::range_header(offset, len));
        let mut resp = tokio::time::timeout(timeout, request.send())
            .await
            .map_err(timed_out)?
            .map_err(|e| Failure::new(ErrorKind::Io, format!("HTTP request failed: {e}")))?;
        let status = resp.status();
        let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
        if !status.is_success() {
            let retry_after = header(reqwest::header::RETRY_AFTER).and_then(wire::parse_retry_after);
            let mut failure = Failure::new(ErrorKind::Protocol, format!("HTTP status {status}"));
            failure.retry_after = retry_after;
            return Err(failure);
        }
        let plan = wire::check_response(
            status.as_u16(),
            header(reqwest::header::CONTENT_RANGE),
            resp.content_length(),
            offset,
            len,
            file_len,
        )?;
        let addr = resp.remote_addr();
        let (mut skip, mut need) = (plan.skip, plan.take);
        while need > 0 {
            let chunk = tokio::time::timeout(timeout, resp.chunk())
                .await
                .map_err(timed_out)?
                .map_err(|e| Failure::new(ErrorKind::Io, format!("reading the reply: {e}")))?
                .ok_or_else(|| {
                    Failure::new(ErrorKind::Protocol, "the reply ended before the bytes asked for")
                })?;
            let mut rest = &chunk[..];
            let n = (skip.min(rest.len() as u64)) as usize;
            rest = &rest[n..];
            skip -= n as u64;
            let n = (need.min(rest.len() as u64)) as usize;
            out.extend_from_slice(&rest[..n]);
            need -= n as u64;
        }
        Ok(addr)
    }

    /// Web seeds that sent data failing the hash check: removed with a
    /// `url_seed` alert when `ban_web_seeds` is on.
    pub(crate) fn web_seeds_sent_bad_data(&self, keys: &[PeerKey]) {
        if keys.is_empty() || !self.ses.settings.read().ban_web_seeds {
            return;
        }
        for key in keys {
            let Some(url) = self.core.lock().web_seeds.remove_where(|s| s.key == *key) else { continue };
            self.ses.counters.add(Metric::WebSeedsBanned, 1);
            tracing::warn!(id = self.id.0, url = %url, "web seed banned for corrupt data");
            let error = ErrorInfo {
                kind: ErrorKind::Protocol,
                message: "banned: sent data that failed the hash check".into(),
            };
            self.post(AlertKind::UrlSeed { url, error });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_checked_and_kept_once() {
        let urls: Vec<String> =
            ["http://a/x", "ftp://a/x", "http://a/x", "https://b/"].iter().map(|s| s.to_string()).collect();
        let mut seeds = WebSeeds::new(&urls);
        assert_eq!(seeds.urls(), vec!["http://a/x".to_string(), "https://b/".to_string()]);
        assert!(seeds.seeds.iter().all(|s| is_web_seed(s.key)));
        assert!(!is_web_seed(1));
        assert_eq!(seeds.remove_where(|s| s.url == "http://a/x"), Some("http://a/x".to_string()));
        assert_eq!(seeds.urls(), vec!["https://b/".to_string()]);
        assert!(!seeds.add(&"x".repeat(MAX_URL_LEN + 1)));
    }

    #[test]
    fn runs_join_contiguous_blocks_across_pieces() {
        // Two pieces of two blocks, the last one short.
        let lengths = Lengths::new(3 * 16384 + 100, 2 * 16384).unwrap();
        let blocks = vec![
            Block { piece: 1, index: 0 },
            Block { piece: 0, index: 1 },
            Block { piece: 1, index: 1 },
            Block { piece: 0, index: 0 },
        ];
        let r = runs(&lengths, blocks);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].start, r[0].len), (0, 3 * 16384 + 100));
        let r = runs(&lengths, vec![Block { piece: 0, index: 0 }, Block { piece: 1, index: 1 }]);
        assert_eq!(
            r.iter().map(|r| (r.start, r.len)).collect::<Vec<_>>(),
            vec![(0, 16384), (3 * 16384, 100)]
        );
    }
}
