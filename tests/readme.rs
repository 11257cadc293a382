//! The README's C example, run as a user would: extracted from README.md,
//! compiled against include/lt.h and the library in the profile directory
//! (nothing linked by hand: the build puts `liblt.so.1` there), then run to
//! completion against a libtorrent seeder found through opentracker on
//! 127.0.0.1. Needs cc, python3-libtorrent and opentracker (.ci/run).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{files_equal, make_data, make_torrent, tempdir, LtPeer, Opentracker, SeedOpts};
use lt::proto::metainfo::Metainfo;

/// The first ```c block of README.md.
fn readme_c_example() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("```c\n").expect("README.md has a C example") + 5;
    let len = readme[start..].find("```").expect("the C example ends");
    readme[start..start + len].to_string()
}

/// target/<profile>, where cargo put liblt.so for this test run.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

#[test]
fn readme_c_example_downloads_from_a_local_seeder() {
    let lib_dir = profile_dir();
    assert!(lib_dir.join("liblt.so").exists(), "build the library first (cargo build)");
    // The soname link exists and resolves without anyone making it.
    assert_eq!(std::fs::read_link(lib_dir.join("liblt.so.1")).unwrap(), Path::new("liblt.so"));
    assert!(lib_dir.join("liblt.so.1").exists());

    let dir = tempdir("readme");
    std::fs::write(dir.path.join("app.c"), readme_c_example()).unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let cc = Command::new("cc")
        .current_dir(&dir.path)
        .args(["app.c", "-Wall", "-Werror", "-I"])
        .arg(&include)
        .arg("-L")
        .arg(&lib_dir)
        .args(["-llt", "-o", "app"])
        .output()
        .expect("run cc");
    assert!(
        cc.status.success(),
        "the README example does not compile: {}",
        String::from_utf8_lossy(&cc.stderr)
    );

    // A seeder announced on a local tracker that the torrent names.
    let seed_dir = dir.path.join("seed");
    let layout: &[(&str, u64)] = &[("data/a.bin", 3_000_001), ("data/b.bin", 1_500_000)];
    make_data(&seed_dir, layout, 7);
    let probe = dir.path.join("probe.torrent");
    make_torrent(&seed_dir.join("data"), &probe, 64 * 1024, &[], false);
    let ih = Metainfo::from_bytes(&std::fs::read(&probe).unwrap()).unwrap().info_hash;
    let tracker = Opentracker::start(&[ih.to_hex()]);
    let torrent = dir.path.join("ubuntu.torrent");
    make_torrent(&seed_dir.join("data"), &torrent, 64 * 1024, &[tracker.http_announce_url()], false);
    let _seeder = LtPeer::seed(&torrent, &seed_dir, &SeedOpts::default());
    tracker.wait_lists_seed(&ih);

    // Run it as the README says: the library found through LD_LIBRARY_PATH.
    let mut app = Command::new(dir.path.join("app"))
        .current_dir(&dir.path)
        .arg("ubuntu.torrent")
        .env("LD_LIBRARY_PATH", &lib_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = app.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = app.kill();
            let out = app.wait_with_output().unwrap();
            panic!("the example did not finish: {}", String::from_utf8_lossy(&out.stdout));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = app.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(status.success(), "exit {status}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("torrent_finished: "), "{stdout}");
    for (name, _) in layout {
        assert!(files_equal(&seed_dir.join(name), &dir.path.join("downloads").join(name)), "{name} differs");
    }
}
