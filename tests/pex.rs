//! Peer exchange (BEP 11) on 127.0.0.1: lt learns a libtorrent peer from
//! another through ut_pex and dials it, sends PEX itself, and for a private
//! torrent (BEP 27) neither sends nor believes any. Needs Debian's
//! python3-libtorrent (.ci/run installs it).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_peer::{FakePeer, FakePeerOpts, UT_PEX_ID};
use common::swarm::settings;
use common::{local, metric};
use common::{make_data, make_torrent, tempdir, LtPeer, TempDir};
use lt::engine::discovery::PeerSource;
use lt::engine::peer::PeerInfo;
use lt::engine::{AddTorrentParams, Session, TorrentId, TorrentSource};
use lt::proto::metainfo::Metainfo;

/// libtorrent sends its first PEX message once a torrent has two peers and
/// then one a minute; lt follows the same schedule. Generous for a slow,
/// busy machine.
const WAIT: Duration = Duration::from_secs(240);

/// A small torrent made by libtorrent; nobody in these tests has its data
/// except where a test says so, so connections stay up (two libtorrent
/// seeds would drop theirs).
struct Fixture {
    dir: TempDir,
    torrent: PathBuf,
    meta: Arc<Metainfo>,
}

impl Fixture {
    fn new(tag: &str, private: bool) -> Fixture {
        let dir = tempdir(tag);
        let seed = dir.path.join("seed");
        make_data(&seed, &[("pex/a.bin", 3_000_017)], 11);
        let torrent = dir.path.join("t.torrent");
        make_torrent(&seed.join("pex"), &torrent, 64 * 1024, &[], private);
        let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap());
        assert_eq!(meta.private, private);
        Fixture { dir, torrent, meta }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path.join(name)
    }
}

/// The fake peer's PEX is right by libtorrent's judgement: a libtorrent
/// downloader connected to a fake peer that announces a listening fake
/// peer through ut_pex dials that one, and then tells the first about it
/// in its own ut_pex message, which the fake peer decodes. (libtorrent's
/// first, full list names every connected peer, the receiver included.)
#[test]
fn fake_peer_pex_is_judged_right_by_libtorrent() {
    let fx = Fixture::new("pex-fake-check", false);
    let listener = FakePeer::start(FakePeerOpts::listener(fx.meta.info_hash));
    let mut opts = FakePeerOpts::listener(fx.meta.info_hash);
    opts.pex_added = vec![listener.addr()];
    let announcer = FakePeer::start(opts);
    let _lib = LtPeer::download(&fx.torrent, &fx.path("lib"), &[announcer.addr()]);

    let r = announcer.wait_until("ut_pex sent to libtorrent", WAIT, |r| r.pex_sent == 1);
    assert_eq!(r.ext_handshakes[0].m.get("ut_pex"), Some(&UT_PEX_ID), "libtorrent's id for ut_pex is 1 too");
    let r = listener.wait_until("a handshake from libtorrent", WAIT, |r| !r.handshakes.is_empty());
    assert_eq!(r.handshakes[0].info_hash, fx.meta.info_hash);
    let r = announcer.wait_until("ut_pex from libtorrent", WAIT, |r| !r.pex_messages.is_empty());
    assert!(r.pex_added.contains(&listener.addr()), "libtorrent passes the listener on: {:?}", r.pex_added);
}

/// Polls `found` until it answers something; panics with `what` after
/// [`WAIT`].
fn wait_until<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = found() {
            return v;
        }
        assert!(Instant::now() < deadline, "no {what} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn peers(ses: &Session, id: TorrentId) -> Vec<PeerInfo> {
    ses.torrent(id).unwrap().peers().iter().map(|p| p.info()).collect()
}

/// lt adds the torrent (no data) and dials `peers`.
fn add(ses: &Session, fx: &Fixture, peers: Vec<SocketAddr>) -> TorrentId {
    let mut params = AddTorrentParams::new(TorrentSource::Metainfo(fx.meta.clone()), fx.path("lt"));
    params.peers = peers;
    ses.add_torrent(params).unwrap()
}

/// lt is connected to one libtorrent peer A, and A to a second, B (which
/// ignores PEX, so it never dials lt itself). A tells lt about B through
/// ut_pex; lt dials B, shows it with the PEX source bit and counts it, and
/// sends PEX of its own.
#[test]
fn lt_learns_a_libtorrent_peer_through_pex_and_sends_pex() {
    let fx = Fixture::new("pex-lt", false);
    let a = LtPeer::download(&fx.torrent, &fx.path("a"), &[]);
    let b = LtPeer::download_ignoring_pex(&fx.torrent, &fx.path("b"), &[local(a.port)]);
    let ses = Session::new(settings()).unwrap();
    let id = add(&ses, &fx, vec![local(a.port)]);

    let b_info = wait_until("connection from lt to B", || {
        peers(&ses, id).into_iter().find(|p| p.addr == local(b.port))
    });
    assert!(
        b_info.source & PeerSource::Pex.bit() != 0,
        "B was learnt through PEX: source {:#x}",
        b_info.source
    );
    let a_info = peers(&ses, id).into_iter().find(|p| p.addr == local(a.port)).expect("still connected to A");
    assert!(
        a_info.source & PeerSource::Api.bit() != 0,
        "A was given by the application: {:#x}",
        a_info.source
    );
    assert!(metric(&ses, "peer.peers_from_pex") >= 1);
    assert!(metric(&ses, "ses.num_incoming_pex") >= 1);
    assert_eq!(metric(&ses, "peer.peers_refused_private"), 0);
    wait_until("ut_pex message from lt", || (metric(&ses, "ses.num_outgoing_pex") > 0).then_some(()));
}

/// lt with one torrent connected to two fake peers; the first tells lt,
/// through ut_pex, about a third that only listens.
struct PexSwarm {
    ses: Session,
    id: TorrentId,
    announcer: FakePeer,
    other: FakePeer,
    listener: FakePeer,
}

impl PexSwarm {
    fn start(fx: &Fixture) -> PexSwarm {
        let info_hash = fx.meta.info_hash;
        let listener = FakePeer::start(FakePeerOpts::listener(info_hash));
        let mut opts = FakePeerOpts::listener(info_hash);
        opts.pex_added = vec![listener.addr()];
        // Sent even when lt advertises no ut_pex, with the id lt uses for
        // it in a public torrent (libtorrent's too).
        opts.pex_id_if_unadvertised = Some(UT_PEX_ID);
        let announcer = FakePeer::start(opts);
        let other = FakePeer::start(FakePeerOpts::listener(info_hash));
        let ses = Session::new(settings()).unwrap();
        let id = add(&ses, fx, vec![announcer.addr(), other.addr()]);
        PexSwarm { ses, id, announcer, other, listener }
    }
}

/// A private torrent (BEP 27) next to a public one, each in its own
/// session with the same fake peers. The public one shows what PEX looks
/// like (lt advertises ut_pex, dials the peer it was told of, tells each
/// fake peer about the other); by the time it has done all that, the
/// private one has advertised no ut_pex, sent no ut_pex message, dialled
/// nobody it was told of, and counted no peer from PEX.
#[test]
fn a_private_torrent_sends_and_believes_no_pex() {
    let public_fx = Fixture::new("pex-public", false);
    let private_fx = Fixture::new("pex-private", true);
    let public = PexSwarm::start(&public_fx);
    let private = PexSwarm::start(&private_fx);

    let r = public
        .listener
        .wait_until("dial from lt to the peer it learnt through PEX", WAIT, |r| !r.handshakes.is_empty());
    assert_eq!(r.handshakes[0].info_hash, public_fx.meta.info_hash);
    // lt's first message lists the peers connected then; one that joined
    // later comes in the next (a minute on), so wait for the one naming it.
    let other = public.other.addr();
    let r = public
        .announcer
        .wait_until("ut_pex from lt naming the other peer", WAIT, |r| r.pex_added.contains(&other));
    let offered = &r.ext_handshakes.first().expect("lt's extension handshake").m;
    assert!(offered.get("ut_pex").is_some_and(|id| *id != 0), "a public torrent offers ut_pex: {offered:?}");
    assert!(r.pex_added.contains(&public.other.addr()), "lt names its other peer: {:?}", r.pex_added);
    let announcer = public.announcer.addr();
    let r = public
        .other
        .wait_until("ut_pex from lt naming the announcer", WAIT, |r| r.pex_added.contains(&announcer));
    assert!(r.pex_added.contains(&public.announcer.addr()), "lt names its other peer: {:?}", r.pex_added);
    assert!(metric(&public.ses, "peer.peers_from_pex") >= 1);
    let pex_peer = peers(&public.ses, public.id).into_iter().find(|p| p.addr == public.listener.addr());
    assert!(pex_peer.is_some_and(|p| p.source & PeerSource::Pex.bit() != 0));

    // A message already on lt's socket is handled within milliseconds;
    // this grace lets a wrong dial or a late ut_pex from lt show even on a
    // busy machine. (Nothing is timed: the test never fails for slowness.)
    std::thread::sleep(Duration::from_secs(5));
    let announcer = private.announcer.record();
    assert_eq!(announcer.pex_sent, 1, "the fake peer sent lt its ut_pex message: {announcer:?}");
    let offered = &announcer.ext_handshakes.first().expect("lt's extension handshake").m;
    assert!(
        offered.get("ut_pex").is_none_or(|id| *id == 0),
        "a private torrent offers no ut_pex: {offered:?}"
    );
    for fake in [&private.announcer, &private.other] {
        let r = fake.record();
        assert!(r.pex_messages.is_empty(), "lt sent ut_pex for a private torrent: {r:?}");
    }
    assert_eq!(private.listener.record().connections, 0, "lt dialled a peer it heard of through PEX");
    assert_eq!(metric(&private.ses, "peer.peers_from_pex"), 0);
    for p in peers(&private.ses, private.id) {
        assert_eq!(p.source & PeerSource::Pex.bit(), 0, "{} came from PEX", p.addr);
    }
}
