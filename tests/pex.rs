//! Peer exchange (BEP 11) on 127.0.0.1: lt learns a libtorrent peer from
//! another through ut_pex and dials it, sends PEX itself, and for a private
//! torrent (BEP 27) neither sends nor believes any. Needs Debian's
//! python3-libtorrent (.ci/run installs it).

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::fake_peer::{FakePeer, FakePeerOpts, UT_PEX_ID};
use common::{make_data, make_torrent, tempdir, LtPeer, TempDir};
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
