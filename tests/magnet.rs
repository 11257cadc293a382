//! Magnet links (BEP 9) on 127.0.0.1: lt fetches the info dictionary with
//! ut_metadata from libtorrent-rasterbar, finds the peers through `x.pe`
//! or through opentracker (`tr`), drops peers whose metadata is wrong or
//! absurd, serves metadata itself, and saves what it received. Needs
//! Debian's python3-libtorrent and opentracker (.ci/run installs them).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::fake_peer::{FakePeer, FakePeerOpts, Metadata};
use common::{make_data, make_torrent, tempdir, LtPeer, TempDir};
use lt::proto::magnet::Magnet;
use lt::proto::metainfo::Metainfo;

/// Two files, 17 MB in 16 KiB pieces: 1038 piece hashes make the info
/// dictionary longer than one 16 KiB metadata piece, so every fetch takes
/// two ut_metadata requests.
const LAYOUT: &[(&str, u64)] = &[("mag/a.bin", 9_000_011), ("mag/sub/b.bin", 8_000_003)];
const PIECE: u32 = 16 * 1024;
/// Generous: a slow, busy 2-core machine, several peers starting.
const WAIT: Duration = Duration::from_secs(180);

/// A torrent made by libtorrent from files under `seed`.
struct Fixture {
    dir: TempDir,
    meta: Arc<Metainfo>,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = tempdir(tag);
        let seed = dir.path.join("seed");
        make_data(&seed, LAYOUT, 9);
        let torrent = dir.path.join("t.torrent");
        make_torrent(&seed.join("mag"), &torrent, PIECE, &[], false);
        let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap());
        assert!(meta.info_bytes.len() > 16 * 1024, "the info dictionary spans two metadata pieces");
        Fixture { dir, meta }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path.join(name)
    }
}

/// A magnet link with `x.pe` written as libtorrent writes and reads it: a
/// bare `host:port`. (libtorrent does not percent-decode `x.pe`, so the
/// escaped `127.0.0.1%3A6881` that `Magnet::to_uri` writes names no peer
/// for it.) `dn` and `tr` are percent-encoded, which both decode.
fn magnet_uri(meta: &Metainfo, name: Option<&str>, trackers: &[String], peers: &[SocketAddr]) -> String {
    let escaped = Magnet {
        info_hash: meta.info_hash,
        name: name.map(str::to_string),
        trackers: trackers.to_vec(),
        peers: Vec::new(),
        web_seeds: Vec::new(),
    }
    .to_uri();
    let uri = peers.iter().fold(escaped, |uri, p| format!("{uri}&x.pe={p}"));
    let parsed = Magnet::parse(&uri).unwrap();
    assert_eq!(parsed.peers, peers.iter().map(SocketAddr::to_string).collect::<Vec<_>>());
    uri
}

fn fake(fx: &Fixture, behaviour: Metadata) -> FakePeer {
    FakePeer::start(FakePeerOpts::new(fx.meta.info_hash, fx.meta.info_bytes.clone(), behaviour))
}

/// The fake peer is right by libtorrent's judgement: libtorrent-rasterbar,
/// given a magnet link naming only the fake peer, gets the metadata from
/// the honest behaviour (asking for both pieces) and raises
/// metadata_failed for the wrong bytes. The tests below trust the fake
/// peer because of this one.
#[test]
fn fake_peer_metadata_is_judged_right_by_libtorrent() {
    let fx = Fixture::new("fake-check");
    let honest = fake(&fx, Metadata::Honest);
    let mut lib = LtPeer::magnet(&magnet_uri(&fx.meta, None, &[], &[honest.addr()]), &fx.path("honest"));
    lib.wait_line("\"metadata_received\"", WAIT).expect("libtorrent takes the honest fake peer's metadata");
    let r = honest.record();
    let mut asked = r.metadata_requests.clone();
    asked.sort_unstable();
    asked.dedup();
    assert_eq!(asked, vec![0, 1], "libtorrent asked for both metadata pieces: {r:?}");
    let theirs = &r.ext_handshakes[0];
    assert!(
        theirs.m.get("ut_metadata").is_some_and(|id| *id != 0),
        "libtorrent offers ut_metadata: {theirs:?}"
    );
    assert!(r.handshakes[0].supports_extensions());
    drop(lib);

    let wrong = fake(&fx, Metadata::WrongBytes);
    let mut lib = LtPeer::magnet(&magnet_uri(&fx.meta, None, &[], &[wrong.addr()]), &fx.path("wrong"));
    let line = lib.wait_line("\"metadata_failed\"", WAIT).expect("libtorrent refuses the wrong bytes");
    assert!(!line.contains("metadata_received"), "{line}");
    assert!(!wrong.record().metadata_requests.is_empty());
}
