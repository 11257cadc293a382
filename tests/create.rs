//! Creating torrents, checked against the tools people compare us with:
//! mktorrent (v1 info dictionary byte for byte), libtorrent 2.0 (v2 and
//! hybrid: the same info dictionary, pieces roots and piece layers), and
//! libtorrent downloading what lt made and seeds. Needs Debian's mktorrent
//! and python3-libtorrent.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{files_equal, free_port, tempdir, LtPeer};
use lt::engine::create::{create_torrent, create_torrent_filtered, CreateOptions, Format};
use lt::engine::{AddTorrentParams, ErrorKind, Session, Settings, TorrentSource, TorrentState};
use lt::proto::bencode::{self, Value};
use lt::proto::metainfo::Metainfo;
use sha1::{Digest, Sha1};
use sha2::Sha256;

const WAIT: Duration = Duration::from_secs(240);

/// Deterministic bytes that differ per file.
fn write(path: &Path, len: usize, seed: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(path, data).unwrap();
}

/// A directory with nested files, an empty file and sizes that are not
/// multiples of any piece size.
fn make_tree(root: &Path) {
    write(&root.join("a.bin"), 300_007, 1);
    write(&root.join("empty"), 0, 2);
    write(&root.join("sub/b.bin"), 70_000, 3);
    write(&root.join("sub/c"), 1000, 4);
    write(&root.join("sub.txt"), 40_000, 5);
    write(&root.join("z/deep/d.bin"), 16_384, 6);
}

fn raw_info(torrent: &[u8]) -> Vec<u8> {
    let v = bencode::decode(torrent).unwrap();
    v.get("info").unwrap().encode()
}

fn mktorrent(path: &Path, out: &Path, piece_log2: u32) -> Vec<u8> {
    let status = Command::new("mktorrent")
        .args(["-l", &piece_log2.to_string(), "-o"])
        .arg(out)
        .arg(path)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("mktorrent runs");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

fn v1(piece_length: u32) -> CreateOptions {
    CreateOptions { piece_length: Some(piece_length), ..Default::default() }
}

#[test]
fn v1_info_dictionary_is_mktorrents() {
    let dir = tempdir("create-mk");
    let tree = dir.path.join("tree");
    make_tree(&tree);
    write(&dir.path.join("single.iso"), 1_000_001, 9);
    for (path, log2) in [(tree.as_path(), 15u32), (&dir.path.join("single.iso"), 16)] {
        let theirs = mktorrent(path, &dir.path.join(format!("mk{log2}.torrent")), log2);
        let ours = create_torrent(path, &v1(1 << log2), &mut |_, _| {}).unwrap();
        assert_eq!(raw_info(&ours), raw_info(&theirs), "info dict of {}", path.display());
        assert_eq!(
            Metainfo::from_bytes(&ours).unwrap().info_hash,
            Metainfo::from_bytes(&theirs).unwrap().info_hash
        );
    }
}

/// Makes a torrent of `path` with libtorrent (no creation date, no
/// creator: only the info dictionary and piece layers are compared).
fn libtorrent_create(path: &Path, out: &Path, piece_length: u32, format: Format) {
    let flags = match format {
        Format::V1 => "lt.create_torrent.v1_only",
        Format::V2 => "lt.create_torrent.v2_only",
        Format::Hybrid => "0",
    };
    let script = format!(
        "import libtorrent as lt, sys, os\n\
         fs = lt.file_storage()\n\
         lt.add_files(fs, sys.argv[1])\n\
         ct = lt.create_torrent(fs, {piece_length}, flags={flags})\n\
         lt.set_piece_hashes(ct, os.path.dirname(sys.argv[1]))\n\
         open(sys.argv[2], 'wb').write(lt.bencode(ct.generate()))\n"
    );
    let status = Command::new("/usr/bin/python3").arg("-c").arg(script).arg(path).arg(out).status().unwrap();
    assert!(status.success(), "libtorrent made the torrent");
}

/// libtorrent's view of a torrent: per file its path and pieces root (hex,
/// empty for none), then the v1 and v2 info-hashes.
fn libtorrent_load(torrent: &Path) -> Vec<String> {
    let script = "import libtorrent as lt, sys\n\
        ti = lt.torrent_info(sys.argv[1])\n\
        fs = ti.files()\n\
        for i in range(fs.num_files()):\n\
        \x20   r = fs.root(i)\n\
        \x20   print(fs.file_path(i), '' if r.is_all_zeros() else r.to_bytes().hex())\n\
        print(ti.info_hashes().v1.to_bytes().hex(), ti.info_hashes().v2.to_bytes().hex())\n";
    let out = Command::new("/usr/bin/python3").arg("-c").arg(script).arg(torrent).output().unwrap();
    assert!(
        out.status.success(),
        "libtorrent loads {}: {}",
        torrent.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn v2_and_hybrid_match_libtorrent() {
    let dir = tempdir("create-v2");
    let tree = dir.path.join("tree");
    make_tree(&tree);
    write(&dir.path.join("one.bin"), 200_000, 7);
    for format in [Format::V2, Format::Hybrid] {
        for (path, piece_length) in [(tree.as_path(), 32768u32), (&dir.path.join("one.bin"), 65536)] {
            let what = format!("{format:?} {}", path.display());
            let theirs_path = dir.path.join("lt.torrent");
            libtorrent_create(path, &theirs_path, piece_length, format);
            let theirs = std::fs::read(&theirs_path).unwrap();
            let opts = CreateOptions { piece_length: Some(piece_length), format, ..Default::default() };
            let ours = create_torrent(path, &opts, &mut |_, _| {}).unwrap();
            let ours_path = dir.path.join("ours.torrent");
            std::fs::write(&ours_path, &ours).unwrap();

            // The same info dictionary means the same v1 and v2 info-hashes.
            let (info_ours, info_theirs) = (raw_info(&ours), raw_info(&theirs));
            assert_eq!(info_ours, info_theirs, "{what}");
            let layers = |t: &[u8]| bencode::decode(t).unwrap().get("piece layers").unwrap().encode();
            assert_eq!(layers(&ours), layers(&theirs), "{what}: piece layers");

            // libtorrent loads ours and sees the roots and hashes it made.
            let seen = libtorrent_load(&ours_path);
            assert_eq!(seen, libtorrent_load(&theirs_path), "{what}");
            let hashes = seen.last().unwrap();
            let v1_hex = hex(&Sha1::digest(&info_ours));
            let v2_hex = hex(&Sha256::digest(&info_ours));
            let expect_v1 = if format == Format::Hybrid { v1_hex } else { "0".repeat(40) };
            assert_eq!(hashes, &format!("{expect_v1} {v2_hex}"), "{what}");
            let roots = seen[..seen.len() - 1]
                .iter()
                .filter(|l| l.split(' ').nth(1).is_some_and(|r| r.len() == 64))
                .count();
            let nonempty = if path.is_dir() { 5 } else { 1 };
            assert_eq!(roots, nonempty, "{what}: a root per non-empty file: {seen:?}");
        }
    }
}

#[test]
fn optional_fields_round_trip() {
    let dir = tempdir("create-opts");
    write(&dir.path.join("f.bin"), 50_000, 1);
    let opts = CreateOptions {
        piece_length: None,
        trackers: vec![vec!["http://a/ann".into(), "http://b/ann".into()], vec!["udp://c:80".into()]],
        web_seeds: vec!["http://w/f.bin".into()],
        dht_nodes: vec![("router.example".into(), 6881)],
        comment: Some("hello".into()),
        created_by: Some("lt test".into()),
        creation_date: Some(1_700_000_000),
        source: Some("SRC".into()),
        private: true,
        format: Format::V1,
    };
    let bytes = create_torrent(&dir.path.join("f.bin"), &opts, &mut |_, _| {}).unwrap();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.trackers, opts.trackers);
    assert_eq!(m.web_seeds, opts.web_seeds);
    assert_eq!(m.comment.as_deref(), Some("hello"));
    assert_eq!(m.created_by.as_deref(), Some("lt test"));
    assert_eq!(m.creation_date, Some(1_700_000_000));
    assert!(m.private);
    assert_eq!(m.lengths.piece_length(), 16384, "libtorrent's choice for 50 kB");
    let v = bencode::decode(&bytes).unwrap();
    assert_eq!(v.get("info").unwrap().get("source").unwrap().as_bytes().unwrap(), b"SRC");
    let nodes = v.get("nodes").unwrap().as_list().unwrap();
    assert_eq!(nodes[0].as_list().unwrap()[0], Value::Bytes(b"router.example"));
    assert_eq!(nodes[0].as_list().unwrap()[1], Value::Int(6881));
    assert_eq!(bencode::decode(&bytes).unwrap().encode(), bytes, "canonical bencode");
}

#[test]
fn filter_cancel_and_bad_inputs() {
    let dir = tempdir("create-bad");
    let tree = dir.path.join("tree");
    make_tree(&tree);
    std::os::unix::fs::symlink(tree.join("a.bin"), tree.join("link.bin")).unwrap();

    // The filter sees relative paths; a refused directory is not entered;
    // the link is left out.
    let mut seen = Vec::new();
    let filter = |p: &str| p != "sub" && !p.ends_with(".txt");
    let bytes = create_torrent_filtered(&tree, &v1(16384), &filter, &mut |_, _| true).unwrap();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    for f in &m.files {
        seen.push(f.path.to_string_lossy().into_owned());
    }
    assert_eq!(seen, ["tree/a.bin", "tree/empty", "tree/z/deep/d.bin"]);

    // Cancelling from the progress callback.
    let mut calls = 0;
    let e = create_torrent_filtered(&tree, &v1(16384), &|_| true, &mut |done, total| {
        calls += 1;
        assert!(done <= total);
        done < 3
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(calls, 3);

    let empty = dir.path.join("void");
    std::fs::create_dir_all(empty.join("inner")).unwrap();
    std::fs::write(empty.join("inner/zero"), b"").unwrap();
    let e = create_torrent(&empty, &v1(16384), &mut |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("nothing to share"), "{e}");
    let e = create_torrent(&dir.path.join("absent"), &v1(16384), &mut |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("absent"), "{e}");
    for bad in [1000, 16384 + 1, 3 << 14, 256 << 20] {
        let e = create_torrent(&tree, &v1(bad), &mut |_, _| {}).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "piece length {bad}");
    }
    let e = create_torrent(&tree.join("link.bin"), &v1(16384), &mut |_, _| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "a link given as the path");
}

#[test]
fn libtorrent_downloads_a_torrent_lt_created() {
    let dir = tempdir("create-seed");
    let seed_dir = dir.path.join("seed");
    let content = seed_dir.join("content");
    write(&content.join("a.bin"), 3_000_007, 11);
    write(&content.join("b/c.bin"), 1_500_003, 12);
    let bytes = create_torrent(&content, &v1(256 * 1024), &mut |_, _| {}).unwrap();
    let torrent = dir.path.join("t.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let settings =
        Settings { listen_interfaces: format!("127.0.0.1:{}", free_port()), ..Settings::default() };
    let ses = Session::new(settings).unwrap();
    let meta = Arc::new(Metainfo::from_bytes(&bytes).unwrap());
    let id = ses.add_torrent(AddTorrentParams::new(TorrentSource::Metainfo(meta), &seed_dir)).unwrap();
    let deadline = Instant::now() + WAIT;
    while ses.torrent_status(id).unwrap().state != TorrentState::Seeding {
        assert!(Instant::now() < deadline, "lt did not finish checking its own torrent");
        std::thread::sleep(Duration::from_millis(100));
    }
    let port = ses.listen_port().unwrap();
    let back = dir.path.join("back");
    let mut leecher = LtPeer::download(&torrent, &back, &[format!("127.0.0.1:{port}").parse().unwrap()]);
    leecher.wait_download(WAIT).expect("libtorrent finished downloading from lt");
    assert!(files_equal(&content.join("a.bin"), &back.join("content/a.bin")));
    assert!(files_equal(&content.join("b/c.bin"), &back.join("content/b/c.bin")));
}
