//! lt's transports against libtorrent-rasterbar on 127.0.0.1: uTP with
//! libtorrent's TCP turned off, both ways, and the encrypted handshake
//! (MSE) with RC4 forced, both ways. Each transfer's bytes are compared,
//! and lt's peer list shows the connection's transport and encryption
//! (the transfers are rate-limited to a few seconds so the peer is seen
//! while connected).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{files_equal, free_port, local, make_data, make_torrent, metric, tempdir, LtPeer, SeedOpts};
use lt::engine::peer::flags;
use lt::engine::{AddTorrentParams, AlertType, Session, Settings, TorrentId, TorrentSource};
use lt::proto::metainfo::Metainfo;

const LAYOUT: &[(&str, u64)] = &[("tr/a.bin", 2_500_007), ("tr/b.bin", 1_700_000)];
const WAIT: Duration = Duration::from_secs(240);
/// Bytes a second the lt side moves: about two seconds for the layout.
const RATE: i64 = 2_000_000;

fn settings() -> Settings {
    Settings {
        listen_interfaces: format!("127.0.0.1:{}", free_port()),
        alert_mask: lt::engine::alerts::category::ALL as i64,
        ..Settings::default()
    }
}

/// Data (from `seed`, so no two tests share an info-hash) and its torrent.
fn torrent(dir: &Path, seed: u64) -> (std::path::PathBuf, Arc<Metainfo>) {
    let data = dir.join("data");
    make_data(&data, LAYOUT, seed);
    let file = dir.join("tr.torrent");
    make_torrent(&data.join("tr"), &file, 64 * 1024, &[], false);
    let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(&file).unwrap()).unwrap());
    (file, meta)
}

fn assert_same(a: &Path, b: &Path) {
    for (name, _) in LAYOUT {
        assert!(files_equal(&a.join(name), &b.join(name)), "{name} differs");
    }
}

/// Waits for torrent `id` to finish (or, with `done`, for `done` to hold),
/// OR-ing the flags of its connected peers seen meanwhile.
fn watch(ses: &Session, id: TorrentId, mut done: impl FnMut() -> bool) -> u32 {
    let deadline = Instant::now() + WAIT;
    let mut seen = 0;
    loop {
        seen |= ses.torrent(id).unwrap().peers().iter().fold(0, |f, p| f | p.info().flags);
        if done() {
            return seen;
        }
        if let Some(a) = ses.wait_for_alert(Duration::from_millis(20)) {
            if a.alert_type() == AlertType::TorrentFinished && a.torrent == id {
                return seen;
            }
        }
        assert!(Instant::now() < deadline, "not done: {:?}", ses.torrent_status(id).unwrap());
    }
}

#[test]
fn lt_downloads_over_utp_from_a_libtorrent_seeder_without_tcp() {
    let dir = tempdir("utp-down");
    let (file, meta) = torrent(&dir.path, 71);
    let seeder = LtPeer::seed(
        &file,
        &dir.path.join("data"),
        &SeedOpts { transport: Some("utp"), ..SeedOpts::default() },
    );
    let ses = Session::new(Settings { download_rate_limit: RATE, enable_outgoing_utp: true, ..settings() })
        .unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.path.join("lt"));
    p.peers.push(local(seeder.port));
    let id = ses.add_torrent(p).unwrap();
    let seen = watch(&ses, id, || false);
    assert_same(&dir.path.join("data"), &dir.path.join("lt"));
    assert_ne!(seen & flags::UTP_SOCKET, 0, "the seeder was connected over uTP");
    assert!(metric(&ses, "utp.utp_payload_pkts_in") > 3000, "the data came in uTP packets");
}

#[test]
fn lt_seeds_over_utp_to_a_libtorrent_downloader_without_tcp() {
    let dir = tempdir("utp-up");
    let (file, meta) = torrent(&dir.path, 72);
    let ses = Session::new(Settings { upload_rate_limit: RATE, ..settings() }).unwrap();
    let id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.path.join("data"))).unwrap();
    let opts = SeedOpts { transport: Some("utp"), ..SeedOpts::default() };
    let mut leecher =
        LtPeer::download_opts(&file, &dir.path.join("back"), &[local(ses.listen_port().unwrap())], &opts);
    let mut report = Err(String::new());
    let seen = watch(&ses, id, || {
        report = leecher.wait_download(Duration::from_millis(1));
        report.is_ok()
    });
    assert!(report.is_ok(), "libtorrent finished");
    assert_same(&dir.path.join("data"), &dir.path.join("back"));
    assert_ne!(seen & flags::UTP_SOCKET, 0, "the downloader was connected over uTP");
    assert!(metric(&ses, "utp.utp_payload_pkts_out") > 3000, "the data left in uTP packets");
    assert_eq!(metric(&ses, "peer.num_tcp_peers"), 0);
}

/// At full speed libtorrent's receiver drops packets on loopback and
/// answers with selective acks as long as its reorder buffer (any number
/// of bytes, not BEP 29's multiple of 4): lt reads them, recovers and
/// finishes. When it refused them, every connection stalled and died.
#[test]
fn lt_seeds_over_utp_to_libtorrent_at_full_speed() {
    let dir = tempdir("utp-full");
    let data = dir.path.join("data");
    make_data(&data, &[("full/a.bin", 24_000_000)], 75);
    let file = dir.path.join("full.torrent");
    make_torrent(&data.join("full"), &file, 256 * 1024, &[], false);
    let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(&file).unwrap()).unwrap());
    let ses = Session::new(settings()).unwrap();
    ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), &data)).unwrap();
    let opts = SeedOpts { transport: Some("utp"), ..SeedOpts::default() };
    let back = dir.path.join("back");
    let mut leecher = LtPeer::download_opts(&file, &back, &[local(ses.listen_port().unwrap())], &opts);
    leecher.wait_download(WAIT).expect("libtorrent finished");
    assert!(files_equal(&data.join("full/a.bin"), &back.join("full/a.bin")));
    assert!(metric(&ses, "utp.utp_payload_pkts_out") > 16_000, "the data left in uTP packets");
}

#[test]
fn lt_downloads_from_a_libtorrent_seeder_forcing_rc4() {
    let dir = tempdir("rc4-down");
    let (file, meta) = torrent(&dir.path, 73);
    let seeder = LtPeer::seed(
        &file,
        &dir.path.join("data"),
        &SeedOpts { encryption: Some("forced"), ..SeedOpts::default() },
    );
    let ses = Session::new(Settings { download_rate_limit: RATE, ..settings() }).unwrap();
    let mut p = AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.path.join("lt"));
    p.peers.push(local(seeder.port));
    let id = ses.add_torrent(p).unwrap();
    let seen = watch(&ses, id, || false);
    assert_same(&dir.path.join("data"), &dir.path.join("lt"));
    assert_ne!(seen & flags::RC4_ENCRYPTED, 0, "the connection was RC4-encrypted");
}

/// lt forces RC4 both ways: libtorrent's downloader (default policy: it
/// offers both levels) gets RC4, and a plain handshake is refused.
#[test]
fn lt_forcing_rc4_seeds_to_libtorrent() {
    let dir = tempdir("rc4-up");
    let (file, meta) = torrent(&dir.path, 74);
    let forced = Settings {
        out_enc_policy: 0,
        in_enc_policy: 0,
        allowed_enc_level: 2,
        upload_rate_limit: RATE,
        ..settings()
    };
    let ses = Session::new(forced).unwrap();
    let id =
        ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), dir.path.join("data"))).unwrap();
    let port = ses.listen_port().unwrap();
    let mut leecher = LtPeer::download(&file, &dir.path.join("back"), &[local(port)]);
    let mut report = Err(String::new());
    let seen = watch(&ses, id, || {
        report = leecher.wait_download(Duration::from_millis(1));
        report.is_ok()
    });
    assert!(report.is_ok(), "libtorrent finished");
    assert_same(&dir.path.join("data"), &dir.path.join("back"));
    assert_ne!(seen & flags::RC4_ENCRYPTED, 0, "the connection was RC4-encrypted");
    assert_eq!(seen & flags::PLAINTEXT_ENCRYPTED, 0);

    // A plain handshake is refused (libtorrent's no_incoming_regular).
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(local(port)).unwrap();
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0; 48]);
    s.write_all(&hs).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(s.read(&mut [0u8; 68]).unwrap_or(0), 0, "closed without an answer");
}
