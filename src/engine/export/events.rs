//! The dashboard's push stream, `GET /events`: Server-Sent Events.
//!
//! One task per endpoint samples the session every `dashboard_interval_ms`.
//! It always keeps a bounded ring of session rate samples (two counters: an
//! idle session does no work over its torrents), so a page opened now draws
//! the last minutes at once. Only while a stream is open does it read the
//! torrents and their peers, once per tick for all streams.
//!
//! The stream, in SSE terms:
//! - `event: history`, once, first: `{"interval_ms", "samples": [[uptime_ms,
//!   download_rate, upload_rate], ...], "thresholds": [event, ...]}` (the
//!   rate samples oldest first, the last threshold events);
//! - unnamed `data:` messages, one per tick (and one at once on connect):
//!   `{"uptime_ms", "session": {...}, "torrents": [...], "peers_of", "peers": [...]}`
//!   (at most `MAX_TORRENTS` torrents and `MAX_PEERS` peers);
//! - `event: threshold`: one threshold crossing, as it happens.
//!
//! Memory stays bounded whatever the clients do: at most `MAX_STREAMS`
//! streams, each with a queue of `STREAM_QUEUE` messages; a client that
//! reads slower than messages are made misses messages (each data message
//! is the whole state, so the next one makes up for it).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Bytes, Frame};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::engine::session::SessionCore;
use crate::engine::stats::Metric;
use crate::engine::thresholds::{Severity, ThresholdEvent};
use crate::engine::torrent::{Torrent, TorrentId, TorrentStatus};

/// Most `/events` streams open at once; one more is refused (503).
pub(crate) const MAX_STREAMS: usize = 16;
/// Messages queued for one stream before newer ones are dropped for it.
const STREAM_QUEUE: usize = 8;
/// Rate samples kept for the chart: 10 minutes at the default interval.
const HISTORY_SAMPLES: usize = 600;
/// Most peers in one message: the busiest ones.
const MAX_PEERS: usize = 200;
/// Most torrents in one message: the busiest ones, then by id. 1,000
/// torrents made messages of 272 kB; 500 keep a message near 136 kB, the
/// worst case of 16 streams with full queues near 17 MB, and a table a
/// person can read (`session.num_torrents` still counts all).
const MAX_TORRENTS: usize = 500;
/// Threshold events replayed in the `history` message.
const RECENT_THRESHOLDS: usize = 20;

/// The session's payload rates at one moment.
#[derive(Clone, Copy)]
struct RateSample {
    uptime_ms: i64,
    download_rate: i64,
    upload_rate: i64,
}

/// One open stream.
struct Subscriber {
    tx: mpsc::Sender<Bytes>,
    /// The torrent whose peers this stream lists, if any.
    peers_of: Option<TorrentId>,
}

/// What the endpoint's streams share: the rate history, the open streams
/// and the permits that cap them.
pub(crate) struct Dashboard {
    history: Mutex<VecDeque<RateSample>>,
    subscribers: Mutex<Vec<Subscriber>>,
    streams: Arc<Semaphore>,
}

/// Why a stream was not opened.
#[derive(Debug)]
pub(crate) struct TooManyStreams;

impl Dashboard {
    pub(crate) fn new() -> Arc<Dashboard> {
        Arc::new(Dashboard {
            history: Mutex::new(VecDeque::with_capacity(HISTORY_SAMPLES)),
            subscribers: Mutex::new(Vec::new()),
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
        })
    }

    /// Samples the session every `dashboard_interval_ms` (read each time,
    /// so a change applies at once) and feeds the open streams, until the
    /// session stops; then ends every stream.
    pub(crate) async fn run(self: Arc<Self>, core: Weak<SessionCore>, shutdown: CancellationToken) {
        // Threshold events up to this time were already sent.
        let mut sent_until_us = i64::MIN;
        loop {
            let Some(c) = core.upgrade() else { break };
            self.sample(&c);
            let fresh: Vec<ThresholdEvent> =
                c.thresholds.lock().events().into_iter().filter(|e| e.timestamp_us > sent_until_us).collect();
            if let Some(last) = fresh.last() {
                sent_until_us = last.timestamp_us;
            }
            for e in &fresh {
                self.broadcast_all(&sse("threshold", &threshold_json(&c, e)));
            }
            self.send_frames(&c);
            let interval = Duration::from_millis(c.settings.read().dashboard_interval_ms.max(1) as u64);
            drop(c);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
        self.subscribers.lock().clear();
    }

    /// Opens a stream: the history, then the current state at once, then
    /// whatever `run` sends. Refused when `MAX_STREAMS` are open.
    pub(crate) fn subscribe(
        &self,
        core: &SessionCore,
        peers_of: Option<TorrentId>,
    ) -> Result<EventStream, TooManyStreams> {
        let permit = self.streams.clone().try_acquire_owned().map_err(|_| TooManyStreams)?;
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        // The queue is empty and holds more than these two messages.
        let _ = tx.try_send(sse("history", &self.history_json(core)));
        let _ = tx.try_send(sse("", &frame(core, &torrents_json(core), peers_of)));
        self.subscribers.lock().push(Subscriber { tx, peers_of });
        Ok(EventStream { rx, _permit: permit })
    }

    /// Records the session's rates, dropping the oldest sample when full.
    fn sample(&self, core: &SessionCore) {
        let s = RateSample {
            uptime_ms: core.start.elapsed().as_millis() as i64,
            download_rate: core.counters.get(Metric::RecvPayloadRate),
            upload_rate: core.counters.get(Metric::SentPayloadRate),
        };
        let mut h = self.history.lock();
        if h.len() == HISTORY_SAMPLES {
            h.pop_front();
        }
        h.push_back(s);
    }

    fn history_json(&self, core: &SessionCore) -> Value {
        let samples: Vec<Value> = self
            .history
            .lock()
            .iter()
            .map(|s| json!([s.uptime_ms, s.download_rate, s.upload_rate]))
            .collect();
        let events = core.thresholds.lock().events();
        let recent = &events[events.len().saturating_sub(RECENT_THRESHOLDS)..];
        json!({
            "interval_ms": core.settings.read().dashboard_interval_ms,
            "samples": samples,
            "thresholds": recent.iter().map(|e| threshold_json(core, e)).collect::<Vec<_>>(),
        })
    }

    /// Sends this tick's state to every stream: one message per distinct
    /// peer selection, built only when some stream wants it.
    fn send_frames(&self, core: &SessionCore) {
        let wanted: Vec<Option<TorrentId>> = {
            let subs = self.subscribers.lock();
            let mut w: Vec<_> = subs.iter().map(|s| s.peers_of).collect();
            w.sort_unstable_by_key(|p| p.map(|id| id.0));
            w.dedup();
            w
        };
        if wanted.is_empty() {
            return;
        }
        let torrents = torrents_json(core);
        let messages: Vec<(Option<TorrentId>, Bytes)> =
            wanted.into_iter().map(|p| (p, sse("", &frame(core, &torrents, p)))).collect();
        self.subscribers.lock().retain(|s| {
            let Some((_, msg)) = messages.iter().find(|(p, _)| *p == s.peers_of) else {
                // Subscribed after the messages were made: it got the state then.
                return true;
            };
            deliver(&s.tx, msg)
        });
    }

    fn broadcast_all(&self, msg: &Bytes) {
        self.subscribers.lock().retain(|s| deliver(&s.tx, msg));
    }
}

/// Queues `msg` for one stream; a full queue drops it. False when the
/// client is gone.
fn deliver(tx: &mpsc::Sender<Bytes>, msg: &Bytes) -> bool {
    match tx.try_send(msg.clone()) {
        Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// One SSE message: an optional event name and one `data:` line (JSON has
/// no raw newlines).
fn sse(event: &str, data: &Value) -> Bytes {
    let mut out = String::new();
    if !event.is_empty() {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
    Bytes::from(out)
}

/// The body of an `/events` response: the stream's queue. Dropping it
/// (the client went away) closes the queue and frees the stream's permit.
pub(crate) struct EventStream {
    rx: mpsc::Receiver<Bytes>,
    _permit: OwnedSemaphorePermit,
}

impl hyper::body::Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// Uploaded per downloaded byte; a torrent that downloaded nothing (seeded
/// from data it had) divides by what it has.
fn ratio(st: &TorrentStatus) -> f64 {
    let base = if st.total_payload_download > 0 { st.total_payload_download } else { st.total_done as i64 };
    if base > 0 {
        st.total_payload_upload as f64 / base as f64
    } else {
        0.0
    }
}

fn torrent_json(st: &TorrentStatus) -> Value {
    json!({
        "id": st.id.0,
        "name": st.name,
        "state": st.state.name(),
        "paused": st.paused,
        "error": st.error.as_ref().map(|e| e.message.clone()),
        "progress": st.progress,
        "total_done": st.total_done,
        "total_wanted": st.total_wanted,
        "download_rate": st.download_payload_rate,
        "upload_rate": st.upload_payload_rate,
        "total_download": st.total_payload_download,
        "total_upload": st.total_payload_upload,
        "num_peers": st.num_peers,
        "num_seeds": st.num_seeds,
        "eta_s": st.eta_s,
        "ratio": ratio(st),
        "avg_peer_rtt_us": st.avg_peer_rtt_us,
    })
}

/// The busiest `MAX_PEERS` peers of `t`, with their request-to-block
/// round-trip times.
fn peers_json(t: &Torrent) -> Vec<Value> {
    use crate::engine::peer::flags;
    let mut infos: Vec<_> = t.peers().iter().map(|p| p.info()).collect();
    infos.sort_by_key(|i| std::cmp::Reverse(i.download_rate + i.upload_rate));
    infos.truncate(MAX_PEERS);
    infos
        .iter()
        .map(|i| {
            json!({
                "addr": i.addr.to_string(),
                "client": i.client,
                "download_rate": i.download_rate,
                "upload_rate": i.upload_rate,
                "progress": i.progress,
                "seed": i.flags & flags::SEED != 0,
                "utp": i.flags & flags::UTP_SOCKET != 0,
                "incoming": i.flags & flags::INCOMING != 0,
                "rtt_last_us": i.rtt_last_us,
                "rtt_avg_us": i.rtt_avg_us,
                "rtt_min_us": i.rtt_min_us,
                "rtt_max_us": i.rtt_max_us,
            })
        })
        .collect()
}

/// The torrents the data messages list: every one up to `MAX_TORRENTS`,
/// else the busiest (payload rates), then by id.
fn torrents_json(core: &SessionCore) -> Value {
    let torrents: Vec<Arc<Torrent>> = core.torrents.read().values().cloned().collect();
    let mut statuses: Vec<TorrentStatus> = torrents.iter().map(|t| t.status()).collect();
    if statuses.len() > MAX_TORRENTS {
        statuses.sort_by_key(|s| std::cmp::Reverse(s.download_payload_rate + s.upload_payload_rate));
        statuses.truncate(MAX_TORRENTS);
        statuses.sort_by_key(|s| s.id.0);
    }
    Value::Array(statuses.iter().map(torrent_json).collect())
}

/// The state one data message carries: the session's figures, `torrents`
/// (`torrents_json`, shared by the messages of one tick) and the peers of
/// `peers_of`.
fn frame(core: &SessionCore, torrents: &Value, peers_of: Option<TorrentId>) -> Value {
    let c = &core.counters;
    let torrent = peers_of.and_then(|id| core.torrents.read().get(&id).cloned());
    json!({
        "uptime_ms": core.start.elapsed().as_millis() as i64,
        "session": {
            "download_rate": c.get(Metric::RecvPayloadRate),
            "upload_rate": c.get(Metric::SentPayloadRate),
            "total_download": c.get(Metric::RecvPayloadBytes),
            "total_upload": c.get(Metric::SentPayloadBytes),
            "num_peers": c.get(Metric::NumPeersConnected),
            "num_torrents": c.get(Metric::NumTorrents),
        },
        "torrents": torrents,
        "peers_of": peers_of.map(|id| id.0),
        "peers": torrent.map(|t| peers_json(&t)).unwrap_or_default(),
    })
}

fn threshold_json(core: &SessionCore, e: &ThresholdEvent) -> Value {
    let name = core.torrents.read().get(&e.torrent).map(|t| t.name().to_string());
    json!({
        "watched": e.watched.name(),
        "torrent": (e.torrent != TorrentId::NONE).then_some(e.torrent.0),
        "torrent_name": name,
        "severity": match e.severity {
            Severity::Cleared => "cleared",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        },
        "value": e.value,
        "threshold": e.threshold,
        "timestamp_us": e.timestamp_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_messages_are_one_data_line() {
        let m = sse("threshold", &json!({"a": "x\ny"}));
        assert_eq!(&m[..], b"event: threshold\ndata: {\"a\":\"x\\ny\"}\n\n");
        assert_eq!(&sse("", &json!(1))[..], b"data: 1\n\n");
    }

    #[test]
    fn a_full_queue_drops_and_a_closed_one_ends() {
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let msg = Bytes::from_static(b"data: 1\n\n");
        for _ in 0..STREAM_QUEUE * 10 {
            assert!(deliver(&tx, &msg), "a slow client stays subscribed");
        }
        assert_eq!(tx.max_capacity() - tx.capacity(), STREAM_QUEUE, "no more than the queue is held");
        drop(rx);
        assert!(!deliver(&tx, &msg), "a client that went away is dropped");
    }
}
