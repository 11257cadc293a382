//! Local service discovery (BEP 14): running public torrents are announced
//! by multicast on the network of each IPv4 listen interface, and peers
//! announced there are handed to their torrent through
//! `SessionCore::peers_found` (which keeps private torrents out of it).
//!
//! The schedule is libtorrent's (session_impl.cpp `on_lsd_announce`,
//! `prioritize_lsd`, `update_lsd_announce_interval`): one timer announces
//! one torrent per firing, round-robin, so that every torrent is announced
//! once per `local_service_announce_interval`; a torrent that starts running
//! jumps the queue, at once when none other is waiting and otherwise at
//! most 4 s after the previous one. Each announce goes out three times,
//! 0, 2 and 6 s after it is due (lsd.cpp `announce_impl`; a newer announce
//! cancels the older one's repeats, as libtorrent's single timer does).
//! Our announces carry a random cookie so the multicast loop's copy of
//! them is recognised and ignored.
//!
//! A torrent still checking its files stays first in line and goes out
//! within 4 s of the check's end (libtorrent prioritizes it when the check
//! ends; lt's torrent does not tell this task, so it looks again).
//!
//! Announces use a TTL of 1 (libtorrent uses 32): they are meant for the
//! local network and should not be routed beyond it. On Linux a socket
//! takes only the announces that arrive on the interface it joined (see
//! `open`), which stands in for libtorrent's check that the sender is on
//! the listen interface's subnet. A listen interface bound to 0.0.0.0
//! joins and sends on the interface the kernel picks (the one of the
//! default route). IPv6 ([ff15::efc0:988f]) is not joined yet: that needs
//! the interface index of each listen address.
//!
//! A failure to join is an `lsd_error` alert; joining is tried again when
//! the settings change.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::PeerSource;
use crate::engine::alerts::{AlertKind, ErrorInfo};
use crate::engine::error::ErrorKind;
use crate::engine::session::SessionCore;
use crate::engine::stats::Metric;
use crate::engine::torrent::{Torrent, TorrentId};
use crate::proto::lsd::{Announce, GROUP_V4, MAX_PACKET_LEN};
use crate::proto::types::InfoHash;

/// Multicast hops of an announce: the local network only.
const TTL: u32 = 1;

/// Longest wait before a torrent that started running is announced while
/// others are ahead of it (libtorrent: `std::min(4000, delay)` ms).
const PRIORITY_DELAY: Duration = Duration::from_secs(4);

/// When an announce is sent again, counted from its first sending
/// (libtorrent waits 2 s, then 4 s more).
const REPEATS: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(6)];

/// What the session shares with the LSD task.
pub(crate) struct LsdShared {
    /// Torrents that started running, to announce before the round-robin.
    prioritized: parking_lot::Mutex<VecDeque<TorrentId>>,
    /// Set when a torrent is prioritized while none waited: it goes out at
    /// once rather than on the timer's pace.
    urgent: std::sync::atomic::AtomicBool,
    /// Counts settings changes, so that a change the task slept through
    /// (off and on again, one wake-up for both) still makes it retry.
    settings_epoch: std::sync::atomic::AtomicU64,
    /// Wakes the task: a torrent was prioritized or the settings changed.
    wake: tokio::sync::Notify,
    /// The tag in our announces (31 bits, as libtorrent's).
    cookie: u32,
}

impl LsdShared {
    pub(crate) fn new() -> LsdShared {
        LsdShared {
            prioritized: parking_lot::Mutex::new(VecDeque::new()),
            urgent: std::sync::atomic::AtomicBool::new(false),
            settings_epoch: std::sync::atomic::AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            cookie: rand::random::<u32>() & 0x7fff_ffff,
        }
    }

    /// A torrent started running (added, resumed, let go by the queue):
    /// announce it soon.
    pub(crate) fn torrent_started(&self, id: TorrentId) {
        let mut queue = self.prioritized.lock();
        if queue.is_empty() {
            self.urgent.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        queue.push_back(id);
        drop(queue);
        self.wake.notify_one();
    }

    /// `enable_lsd` or the announce interval may have changed.
    pub(crate) fn settings_changed(&self) {
        self.settings_epoch.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// Starts the LSD task. When `enable_lsd` is on, the multicast group is
/// joined before this returns, so a session is listening once it exists.
pub(crate) fn start(core: &Arc<SessionCore>) {
    let epoch = core.lsd.settings_epoch.load(std::sync::atomic::Ordering::Relaxed);
    let enabled = core.settings.read().enable_lsd;
    let sockets = if enabled { open_all(core) } else { Vec::new() };
    core.runtime.spawn(run(core.clone(), enabled.then_some(epoch), sockets));
}

/// One joined socket: the interface it serves and its receive task's stop.
struct Joined {
    iface: Ipv4Addr,
    socket: Arc<UdpSocket>,
    stop: CancellationToken,
}

/// Opens one socket per distinct IPv4 listen address; a failure is an
/// `lsd_error` alert and leaves that interface out.
fn open_all(core: &SessionCore) -> Vec<(Ipv4Addr, StdUdpSocket)> {
    let mut ifaces: Vec<Ipv4Addr> = core
        .listen_addrs
        .read()
        .iter()
        .filter_map(|a| match a.ip() {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })
        .collect();
    ifaces.sort();
    ifaces.dedup();
    ifaces
        .into_iter()
        .filter_map(|iface| match open(iface) {
            Ok(s) => {
                tracing::info!(iface = %iface, "local service discovery joined {}", GROUP_V4);
                Some((iface, s))
            }
            Err(e) => {
                report_error(core, iface, format!("joining {GROUP_V4}: {e}"));
                None
            }
        })
        .collect()
}

/// A UDP socket bound to the group's address and port (so it receives
/// that group's datagrams only), joined on `iface`, sending there with
/// TTL 1 and the multicast loop on (other sessions on this host hear us;
/// our own copy is told apart by the cookie). Reuse-address lets several
/// sessions and other clients on one host share the port. On Linux it
/// takes only what arrives on the interfaces it joined itself
/// (`IP_MULTICAST_ALL` off): otherwise a session listening on 127.0.0.1
/// would take the LAN's announces because another socket on the host
/// joined the group there.
fn open(iface: Ipv4Addr) -> io::Result<StdUdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    #[cfg(target_os = "linux")]
    only_joined_groups(&s)?;
    s.bind(&SocketAddr::from(GROUP_V4).into())?;
    s.join_multicast_v4(GROUP_V4.ip(), &iface)?;
    if !iface.is_unspecified() {
        s.set_multicast_if_v4(&iface)?;
    }
    s.set_multicast_ttl_v4(TTL)?;
    s.set_multicast_loop_v4(true)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Turns `IP_MULTICAST_ALL` off (Linux's default is on).
#[cfg(target_os = "linux")]
fn only_joined_groups(s: &socket2::Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let off: libc::c_int = 0;
    // SAFETY: the descriptor is open (owned by `s`), and the option value
    // points at a live c_int whose size is passed along.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_ALL,
            (&off as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn report_error(core: &SessionCore, iface: Ipv4Addr, message: String) {
    tracing::warn!(iface = %iface, error = %message, "local service discovery failed");
    let error = ErrorInfo { kind: ErrorKind::Io, message };
    core.alerts.post(TorrentId::NONE, "", AlertKind::LsdError { local: IpAddr::V4(iface), error });
}

/// The announce task: joins and leaves as `enable_lsd` changes, announces
/// on libtorrent's schedule, and runs one receive task per socket.
///
/// `tried_at` is the settings epoch of the last attempt to join (`None`:
/// none yet). Joining is tried when LSD is on and no socket is joined,
/// once per settings change: a failure is reported once, not on every
/// wake-up. `initial` are the sockets `start` joined.
async fn run(core: Arc<SessionCore>, mut tried_at: Option<u64>, initial: Vec<(Ipv4Addr, StdUdpSocket)>) {
    let mut joined: Vec<Joined> = Vec::new();
    adopt(&core, initial, &mut joined);
    let mut next_at = Instant::now() + announce_delay(&core, false);
    let mut last: Option<TorrentId> = None;
    // The latest announce's datagram, when it was first sent, and which
    // of `REPEATS` comes next.
    let mut repeat: Option<(Vec<u8>, Instant, usize)> = None;
    loop {
        let epoch = core.lsd.settings_epoch.load(std::sync::atomic::Ordering::Relaxed);
        let enabled = core.settings.read().enable_lsd;
        if enabled && joined.is_empty() && tried_at != Some(epoch) {
            tried_at = Some(epoch);
            adopt(&core, open_all(&core), &mut joined);
            next_at = Instant::now();
        } else if !enabled && !joined.is_empty() {
            for j in joined.drain(..) {
                j.stop.cancel();
            }
            repeat = None;
        }
        if joined.is_empty() {
            // Nothing to announce on: wait for the settings to change.
            core.lsd.prioritized.lock().clear();
            core.lsd.urgent.store(false, std::sync::atomic::Ordering::Relaxed);
            tokio::select! {
                _ = core.shutdown.cancelled() => return,
                _ = core.lsd.wake.notified() => continue,
            }
        }
        let wake_at = repeat.as_ref().map_or(next_at, |(_, first, i)| next_at.min(*first + REPEATS[*i]));
        tokio::select! {
            _ = core.shutdown.cancelled() => return,
            _ = core.lsd.wake.notified() => {
                // A torrent that starts running while none is waiting goes
                // out at once; otherwise the timer keeps its pace.
                if core.lsd.urgent.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    next_at = next_at.min(Instant::now());
                }
                continue;
            }
            _ = tokio::time::sleep_until(wake_at) => {}
        }
        let now = Instant::now();
        if let Some((packet, first, i)) = repeat.take() {
            if first + REPEATS[i] <= now {
                send(&core, &mut joined, &packet);
                if i + 1 < REPEATS.len() {
                    repeat = Some((packet, first, i + 1));
                }
            } else {
                repeat = Some((packet, first, i));
            }
        }
        if next_at > now {
            continue;
        }
        let torrent = match next_prioritized(&core) {
            Some(ready) => ready,
            None => next_round_robin(&core, &mut last),
        };
        if let Some(packet) = torrent.and_then(|t| announce_packet(&core, &t)) {
            send(&core, &mut joined, &packet);
            repeat = Some((packet, now, 0));
        }
        let waiting = !core.lsd.prioritized.lock().is_empty();
        next_at = now + announce_delay(&core, waiting);
    }
}

/// Turns freshly opened sockets into joined ones with their receive task.
fn adopt(core: &Arc<SessionCore>, opened: Vec<(Ipv4Addr, StdUdpSocket)>, joined: &mut Vec<Joined>) {
    for (iface, s) in opened {
        match UdpSocket::from_std(s) {
            Ok(socket) => {
                let socket = Arc::new(socket);
                let stop = core.shutdown.child_token();
                core.runtime.spawn(receive(core.clone(), socket.clone(), stop.clone()));
                joined.push(Joined { iface, socket, stop });
            }
            Err(e) => report_error(core, iface, format!("registering the socket: {e}")),
        }
    }
}

/// The time between two announces: the interval shared out over the
/// torrents (at least 1 ms), at most 4 s while started torrents wait.
fn announce_delay(core: &SessionCore, prioritized_waiting: bool) -> Duration {
    let interval = Duration::from_secs(core.settings.read().local_service_announce_interval as u64);
    let n = core.torrents.read().len().max(1) as u32;
    let delay = (interval / n).max(Duration::from_millis(1));
    if prioritized_waiting {
        delay.min(PRIORITY_DELAY)
    } else {
        delay
    }
}

/// When torrents that started running wait, the first one ready to be
/// announced (`Some(None)` when all of them still check their files:
/// they stay queued and go out once checked, as libtorrent announces a
/// torrent only when it is ready for peers). Gone, stopped and private
/// ones leave the queue. `None` when none waits.
fn next_prioritized(core: &SessionCore) -> Option<Option<Arc<Torrent>>> {
    // Taken out of the lock first: `torrent_started` is called with a
    // torrent's lock held, so the queue's lock is never held while taking one.
    let pending: Vec<TorrentId> = core.lsd.prioritized.lock().drain(..).collect();
    if pending.is_empty() {
        return None;
    }
    let mut chosen = None;
    let mut keep = Vec::new();
    for id in pending {
        if chosen.is_some() {
            keep.push(id);
            continue;
        }
        let Some(t) = core.torrents.read().get(&id).cloned() else { continue };
        let (running, active) = {
            let c = t.core.lock();
            (c.running, Torrent::is_active(&c))
        };
        if t.is_private() || !running {
            continue;
        }
        if active {
            chosen = Some(t);
        } else {
            keep.push(id);
        }
    }
    let mut queue = core.lsd.prioritized.lock();
    for id in keep.into_iter().rev() {
        queue.push_front(id);
    }
    Some(chosen)
}

/// The torrent after `last` in id order, wrapping around.
fn next_round_robin(core: &SessionCore, last: &mut Option<TorrentId>) -> Option<Arc<Torrent>> {
    let torrents = core.torrents.read();
    let after = last.map_or(0, |id| id.0 + 1);
    let (id, t) = torrents.range(TorrentId(after)..).next().or_else(|| torrents.iter().next())?;
    *last = Some(*id);
    Some(t.clone())
}

/// The announce for `t`, unless it must not be announced: private (BEP 27),
/// not running, or still checking its files (not ready for peers). A
/// hybrid torrent names both its swarm ids (BEP 14 allows several
/// `Infohash` headers), so v1-only and v2 peers on the network find it.
fn announce_packet(core: &SessionCore, t: &Torrent) -> Option<Vec<u8>> {
    if t.is_private() || !Torrent::is_active(&t.core.lock()) {
        return None;
    }
    let port = core.listen_port()?;
    let announce = Announce { port, info_hashes: t.swarm_ids(), cookie: Some(core.lsd.cookie) };
    Some(announce.encode(false))
}

/// Sends `packet` to the group on every joined socket. A socket whose send
/// fails for another reason than a full buffer is closed with an
/// `lsd_error` alert, as libtorrent disables LSD on that interface.
fn send(core: &SessionCore, joined: &mut Vec<Joined>, packet: &[u8]) {
    joined.retain(|j| match j.socket.try_send_to(packet, SocketAddr::from(GROUP_V4)) {
        Ok(_) => {
            core.counters.add(Metric::LsdAnnouncesSent, 1);
            true
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
        Err(e) => {
            report_error(core, j.iface, format!("sending an announce: {e}"));
            j.stop.cancel();
            false
        }
    });
}

/// Reads announces from one socket until stopped.
async fn receive(core: Arc<SessionCore>, socket: Arc<UdpSocket>, stop: CancellationToken) {
    // One byte more than an announce may have, to see one that is longer.
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    loop {
        let (n, from) = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "lsd receive failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        on_datagram(&core, &buf[..n], from);
    }
}

/// One datagram from the group: counted, our own ignored, every announced
/// torrent of this session given the peer.
fn on_datagram(core: &SessionCore, datagram: &[u8], from: SocketAddr) {
    let announce = match Announce::parse(datagram) {
        Ok(a) => a,
        Err(e) => {
            core.counters.add(Metric::LsdInvalid, 1);
            tracing::debug!(from = %from, error = %e, "lsd datagram refused");
            return;
        }
    };
    if announce.cookie == Some(core.lsd.cookie) {
        core.counters.add(Metric::LsdAnnouncesOwn, 1);
        return;
    }
    core.counters.add(Metric::LsdAnnouncesReceived, 1);
    let peer = SocketAddr::new(from.ip(), announce.port);
    for ih in &announce.info_hashes {
        on_peer(core, ih, peer);
    }
}

fn on_peer(core: &SessionCore, ih: &InfoHash, peer: SocketAddr) {
    let Some(t) = core.find_by_hash(ih) else { return };
    core.peers_found(ih, &[peer], PeerSource::Lsd);
    if !t.is_private() {
        t.post(AlertKind::LsdPeer { peer });
    }
}
