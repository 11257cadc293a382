//! The `lt` command line as a user runs it: downloads from libtorrent (by
//! URL, file), Ctrl-C with resume data, seeding to libtorrent, create and
//! info against mktorrent and libtorrent, `lt stats` against a session's
//! endpoint, and the terminal view through tmux. All on 127.0.0.1, always
//! with --no-dht.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use lt::proto::metainfo::Metainfo;

/// Options that keep a session on loopback, with a status line a second.
const LOOPBACK: [&str; 5] = ["--no-dht", "--listen", "127.0.0.1:0", "--interval", "1"];
const LONG: Duration = Duration::from_secs(300);

fn info_hash_hex(torrent: &Path) -> String {
    Metainfo::from_bytes(&std::fs::read(torrent).unwrap()).unwrap().info_hash.to_hex()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `lt` to its end; answers the exit code and stdout.
fn lt(args: &[&str]) -> (i32, String) {
    let mut p = Proc::lt(args);
    let status = p.wait_exit(LONG);
    (status.code().expect("exited, not killed"), p.output())
}

#[test]
fn downloads_a_url_from_libtorrent_and_a_second_run_resumes() {
    let root = tempdir("download");
    let seed = root.path.join("seed");
    let files = ["album/a.bin", "album/sub/b.bin", "album/c.txt"];
    make_data(&seed, &[(files[0], 1_500_000), (files[1], 700_001), (files[2], 10)], 7);
    let tracker = stub_tracker();
    let torrent = root.path.join("album.torrent");
    mktorrent(&seed.join("album"), &torrent, 15, &tracker.url("/announce"), &[]);
    let pieces = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap().lengths.num_pieces();
    let (_seeder, port) = libtorrent_seeder(&torrent, &seed);
    let web = HttpStub::start(std::fs::read(&torrent).unwrap());
    let out = root.path.join("out");
    let peer = format!("127.0.0.1:{port}");
    let url = web.url("/album.torrent");
    let mut args = vec!["download", &url, "-o", s(&out), "--peer", &peer];
    args.extend(LOOPBACK);

    let (code, output) = lt(&args);
    assert_eq!(code, 0, "{output}");
    assert!(web.saw("GET /album.torrent"), "the .torrent was not fetched");
    assert!(output.contains("album: complete"), "{output}");
    assert!(same_files(&seed, &out, &files), "the downloaded files differ from the seed's");
    let resume = out.join(".lt-resume").join(format!("{}.resume", info_hash_hex(&torrent)));
    assert!(resume.is_file(), "no resume data at {}", resume.display());

    // A damaged resume file is ignored with a note: the files are checked.
    std::fs::write(&resume, b"d4:junk").unwrap();
    let (code, output) = lt(&args);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("album: ignoring") && output.contains("album: complete"), "{output}");

    // The same command again, seeding: the resume data vouches for every
    // piece (no check), and the complete download goes on as a seed.
    args.push("--seed");
    let mut again = Proc::lt(&args);
    let want = format!("with {pieces} of {pieces} pieces");
    again.wait_line("the resumed line", LONG, |l| l.contains("resumed from") && l.contains(&want));
    again.wait_line("the complete line", LONG, |l| l.starts_with("album: complete"));
    again.wait_line("a seeding line", LONG, |l| l.starts_with("album: seeding uploaded"));
    again.interrupt();
    assert_eq!(again.wait_exit(Duration::from_secs(60)).code(), Some(130), "{}", again.output());
}

#[test]
fn ctrl_c_tells_the_tracker_saves_resume_data_and_the_next_run_resumes() {
    let root = tempdir("interrupt");
    let seed = root.path.join("seed");
    make_data(&seed, &[("movie.bin", 6 << 20)], 11);
    let tracker = stub_tracker();
    let torrent = root.path.join("movie.torrent");
    mktorrent(&seed.join("movie.bin"), &torrent, 15, &tracker.url("/announce"), &[]);
    let (_seeder, port) = libtorrent_seeder(&torrent, &seed);
    let out = root.path.join("out");
    let peer = format!("127.0.0.1:{port}");
    let mut args = vec!["download", s(&torrent), "-o", s(&out), "--peer", &peer];
    args.extend(LOOPBACK);

    // About 15 s for 6 MiB at 400 KiB/s: time to interrupt it midway.
    let mut slow = args.clone();
    slow.extend(["--download-limit", "400K"]);
    let mut p = Proc::lt(&slow);
    p.wait_line("a status line between 10% and 90%", LONG, |l| {
        l.starts_with("movie.bin: downloading") && percent(l).is_some_and(|p| (10.0..90.0).contains(&p))
    });
    p.interrupt();
    let status = p.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "{}", p.output());
    assert!(tracker.saw("event=stopped"), "the tracker was not told: {:?}", tracker.requests.lock().unwrap());

    let resume = out.join(".lt-resume").join(format!("{}.resume", info_hash_hex(&torrent)));
    let data = std::fs::read(&resume).expect("resume data saved at Ctrl-C");
    let saved = lt::proto::resume::ResumeData::decode(&data).unwrap();
    let have = saved.pieces.iter().filter(|h| **h).count();
    assert!(have > 0 && have < saved.pieces.len(), "{have} of {} pieces saved", saved.pieces.len());

    let (code, output) = lt(&args);
    assert_eq!(code, 0, "{output}");
    let want = format!("with {have} of {} pieces", saved.pieces.len());
    assert!(output.contains("resumed from") && output.contains(&want), "wanted '{want}' in:\n{output}");
    assert!(same_files(&seed, &out, &["movie.bin"]));
}

#[test]
fn seeds_to_libtorrent_and_serves_its_stats() {
    let root = tempdir("seed");
    let data = root.path.join("data");
    make_data(&data, &[("shared.bin", 1 << 20)], 3);
    let tracker = stub_tracker();
    let torrent = root.path.join("shared.torrent");
    mktorrent(&data.join("shared.bin"), &torrent, 15, &tracker.url("/announce"), &[]);

    let (code, _) = lt(&["seed", s(&torrent), s(&root.path.join("nothing-here")), "--no-dht"]);
    assert_eq!(code, 1, "seeding a directory without the data must fail");

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut seeder = Proc::lt(&[
        "seed",
        s(&torrent),
        s(&data),
        "--no-dht",
        "--listen",
        &listen,
        "--interval",
        "1",
        "--stats-listen",
        "127.0.0.1:0",
    ]);
    let line = seeder.wait_line("the stats address", LONG, |l| l.starts_with("statistics: "));
    let stats_url = line.trim_start_matches("statistics: ").to_string();
    seeder.wait_line("the seeding line", LONG, |l| l.contains("seeding until Ctrl-C"));

    let out = root.path.join("out");
    let mut leech = libtorrent_downloader(&torrent, &out, &listen);
    leech.wait_line("libtorrent's finished line", LONG, |l| l.contains("\"finished\""));
    assert!(same_files(&data, &out, &["shared.bin"]));
    seeder.wait_line("a line counting the upload", LONG, |l| l.contains("uploaded 1.00 MiB"));

    // `lt stats` reads the running seed's endpoint.
    let base = stats_url.trim_end_matches("/stats");
    let (code, output) = lt(&["stats", base]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("torrents  1 (0 downloading, 1 seeding"), "{output}");
    assert!(output.contains("shared.bin  seeding 100.0%"), "{output}");

    seeder.interrupt();
    let status = seeder.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "{}", seeder.output());

    // Seeding again: the resume data saved at Ctrl-C spares the check;
    // SIGTERM stops it as Ctrl-C does.
    let mut again = Proc::lt(&["seed", s(&torrent), s(&data), "--no-dht", "--listen", "127.0.0.1:0"]);
    again.wait_line("the resumed line", LONG, |l| {
        l.contains("resumed from") && l.contains("with 32 of 32 pieces")
    });
    again.wait_line("the seeding line", LONG, |l| l.contains("seeding until Ctrl-C"));
    assert!(!again.output().contains("checking the files"), "{}", again.output());
    again.signal("-TERM");
    assert_eq!(again.wait_exit(Duration::from_secs(60)).code(), Some(130), "{}", again.output());
}

#[test]
fn downloads_a_magnet_link_from_libtorrent() {
    let root = tempdir("magnet");
    let seed = root.path.join("seed");
    make_data(&seed, &[("tune.ogg", 700_000)], 21);
    let tracker = stub_tracker();
    let torrent = root.path.join("tune.torrent");
    mktorrent(&seed.join("tune.ogg"), &torrent, 15, &tracker.url("/announce"), &[]);
    let (_seeder, port) = libtorrent_seeder(&torrent, &seed);
    let hash = info_hash_hex(&torrent);
    let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=tune.ogg&x.pe=127.0.0.1:{port}");
    let out = root.path.join("out");
    let mut args = vec!["download", &magnet, "-o", s(&out)];
    args.extend(LOOPBACK);
    let (code, output) = lt(&args);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("tune.ogg: complete"), "{output}");
    assert!(same_files(&seed, &out, &["tune.ogg"]));
    // The resume data carries the metadata: the next run needs no peer for it.
    let saved = std::fs::read(out.join(".lt-resume").join(format!("{hash}.resume"))).unwrap();
    assert!(lt::proto::resume::ResumeData::decode(&saved).unwrap().info.is_some());
    let (code, output) = lt(&args);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("resumed from") && output.contains("with 22 of 22 pieces"), "{output}");

    // A file written since: the resume data is not trusted, the files are checked.
    let file = std::fs::OpenOptions::new().append(true).open(out.join("tune.ogg")).unwrap();
    file.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)).unwrap();
    drop(file);
    let (code, output) = lt(&args);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("resume data not trusted, checking files"), "{output}");
    assert!(!output.contains("resumed from"), "{output}");

    // A damaged resume file: a magnet link fetches its metadata again.
    std::fs::write(out.join(".lt-resume").join(format!("{hash}.resume")), b"d4:junk").unwrap();
    let (code, output) = lt(&args);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("tune.ogg: complete") && !output.contains("resumed from"), "{output}");
    assert!(same_files(&seed, &out, &["tune.ogg"]));
}

#[test]
fn stats_reads_an_embedding_sessions_endpoint() {
    use lt::engine::{AddTorrentParams, Session, Settings, TorrentSource};

    let root = tempdir("stats");
    make_data(&root.path, &[("numbers.bin", 100_000)], 5);
    let opts = lt::engine::create::CreateOptions::default();
    let bytes =
        lt::engine::create::create_torrent(&root.path.join("numbers.bin"), &opts, &mut |_, _| {}).unwrap();
    let meta = std::sync::Arc::new(Metainfo::from_bytes(&bytes).unwrap());
    let settings = Settings {
        listen_interfaces: "127.0.0.1:0".into(),
        stats_listen: "127.0.0.1:0".into(),
        ..Settings::default()
    };
    let session = Session::new(settings).unwrap();
    let mut params = AddTorrentParams::new(TorrentSource::Metainfo(meta), &root.path);
    params.seed_mode = true;
    session.add_torrent(params).unwrap();
    let addr = session.stats_listen_addr().expect("the endpoint listens").to_string();

    let (code, output) = lt(&["stats", &addr]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("torrents  1 "), "{output}");
    assert!(output.contains("numbers.bin  seeding 100.0%"), "{output}");

    let (code, output) = lt(&["stats", "--json", &addr]);
    assert_eq!(code, 0, "{output}");
    let v: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(v["torrents"][0]["name"], "numbers.bin");
    assert_eq!(v["session"]["ses.num_torrents"], 1);

    // With a token required: refused without it or with a wrong one (exit
    // 1, nothing printed on stdout), read with it.
    let mut settings = session.settings();
    settings.stats_token = "s3cret".into();
    session.apply_settings(settings).unwrap();
    let (code, output) = lt(&["stats", &addr]);
    assert_eq!((code, output.as_str()), (1, ""));
    let (code, output) = lt(&["stats", "--token", "wrong", &addr]);
    assert_eq!((code, output.as_str()), (1, ""));
    let (code, output) = lt(&["stats", "--token", "s3cret", &addr]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("numbers.bin  seeding 100.0%"), "{output}");

    drop(session);
    let (code, _) = lt(&["stats", &addr]);
    assert_eq!(code, 1, "a closed endpoint is a runtime failure");
}

#[test]
fn create_matches_mktorrent_and_info_reads_it_back() {
    let root = tempdir("create");
    let pack = root.path.join("pack");
    make_data(&pack, &[("one.bin", 200_000), ("dir/two.bin", 70_000), ("three.txt", 5)], 9);
    let tracker = "http://127.0.0.1:1/announce";
    let theirs = root.path.join("mktorrent.torrent");
    mktorrent(&pack, &theirs, 15, tracker, &["-p"]);
    // lt's resume folder, made after mktorrent ran: lt create leaves it out.
    make_data(&pack, &[(".lt-resume/x.resume", 10)], 1);
    let ours = root.path.join("ours.torrent");
    let (code, output) = lt(&[
        "create",
        s(&pack),
        "-o",
        s(&ours),
        "--v1",
        "--piece-size",
        "32K",
        "--tracker",
        tracker,
        "--private",
        "--comment",
        "made by a test",
    ]);
    assert_eq!(code, 0, "{output}");
    let (v1, v2) = libtorrent_info_hashes(&theirs);
    assert_eq!(
        libtorrent_info_hashes(&ours),
        (v1.clone(), v2),
        "lt's info dictionary differs from mktorrent's"
    );
    assert!(output.contains(&format!("info-hash v1: {v1}")), "{output}");

    let (code, output) = lt(&["info", "--json", s(&ours)]);
    assert_eq!(code, 0, "{output}");
    let info: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(info["info_hash_v1"], v1.as_str());
    assert_eq!(info["info_hash_v2"], serde_json::Value::Null);
    assert_eq!(info["name"], "pack");
    assert_eq!(info["total_size"], 270_005);
    assert_eq!(info["piece_length"], 32768);
    assert_eq!(info["num_pieces"], 270_005u64.div_ceil(32768));
    assert_eq!(info["private"], true);
    assert_eq!(info["files"].as_array().unwrap().len(), 3);
    assert_eq!(info["trackers"][0][0], tracker);
    assert_eq!(info["comment"], "made by a test");

    let (code, text) = lt(&["info", s(&ours)]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("info-hash v1: {v1}")) && text.contains("name:         pack"), "{text}");
    assert!(text.contains("magnet:?xt=urn:btih:"), "{text}");

    // Hybrid: both hashes, as libtorrent computes them; the size leaves the pad files out.
    let hybrid = root.path.join("hybrid.torrent");
    let (code, output) = lt(&["create", s(&pack), "-o", s(&hybrid), "--hybrid"]);
    assert_eq!(code, 0, "{output}");
    let (h1, h2) = libtorrent_info_hashes(&hybrid);
    let (_, output) = lt(&["info", "--json", s(&hybrid)]);
    let info: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!((info["info_hash_v1"].as_str(), info["info_hash_v2"].as_str()), (Some(&*h1), Some(&*h2)));
    assert_eq!(info["total_size"], 270_005);

    // The output is not replaced without --force.
    let (code, _) = lt(&["create", s(&pack), "-o", s(&hybrid)]);
    assert_eq!(code, 1);
    let (code, _) = lt(&["create", s(&pack), "-o", s(&hybrid), "--force"]);
    assert_eq!(code, 0);

    // A magnet link.
    let magnet = format!("magnet:?xt=urn:btih:{v1}&dn=pack&tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce");
    let (code, output) = lt(&["info", "--json", &magnet]);
    assert_eq!(code, 0, "{output}");
    let info: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!((info["kind"].as_str(), info["info_hash_v1"].as_str()), (Some("magnet"), Some(&*v1)));
    assert_eq!(info["trackers"][0], tracker);

    // Text from outside reaches the terminal with its control characters escaped.
    let hostile = format!("magnet:?xt=urn:btih:{v1}&dn=a%1B%5B2Jb");
    let (code, text) = lt(&["info", &hostile]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("name:         a\\u{1b}[2Jb") && !text.contains('\u{1b}'), "{text:?}");
}

#[test]
fn exit_codes_follow_the_help() {
    let (code, _) = lt(&["download"]);
    assert_eq!(code, 2, "a missing argument is a usage error");
    let (code, _) = lt(&["create", ".", "-o", "x.torrent", "--piece-size", "1000"]);
    assert_eq!(code, 2, "a bad piece size is a usage error");
    let (code, _) = lt(&["info", "/nonexistent/file.torrent"]);
    assert_eq!(code, 1);
    let (code, _) = lt(&["info", "magnet:?xt=urn:btih:nothex"]);
    assert_eq!(code, 1);
    let (code, help) = lt(&["--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("130  interrupted"), "{help}");
}

/// Stops a tmux server (and what runs in it) when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("timeout");
        c.args(["30", "tmux", "-L", &self.socket]);
        c
    }

    /// Captures the screen until `done` holds for it; answers it.
    fn wait_screen(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + LONG;
        loop {
            let shot = self.cmd().args(["capture-pane", "-p"]).output().unwrap();
            let screen = String::from_utf8_lossy(&shot.stdout).into_owned();
            if done(&screen) {
                return screen;
            }
            assert!(std::time::Instant::now() < deadline, "no {what} on the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

#[test]
fn the_terminal_shows_a_bar_per_torrent_and_takes_ctrl_c() {
    assert!(
        Path::new("/usr/bin/tmux").exists(),
        "tmux is missing: install the Debian package tmux (.ci/run does)"
    );
    let root = tempdir("tmux");
    let seed = root.path.join("seed");
    let names = ["barshow.bin", "second.iso"];
    make_data(&seed, &[(names[0], 4 << 20), (names[1], 3 << 20)], 13);
    let tracker = stub_tracker();
    let torrents: Vec<_> = names.iter().map(|n| root.path.join(format!("{n}.torrent"))).collect();
    for (name, torrent) in names.iter().zip(&torrents) {
        mktorrent(&seed.join(name), torrent, 15, &tracker.url("/announce"), &[]);
    }
    let (_seeder, port) = libtorrent_seeder_of(&[&torrents[0], &torrents[1]], &seed);
    let out = root.path.join("out");
    // 256 KiB/s for 7 MiB: half a minute of bars, ended by Ctrl-C.
    let shell = format!(
        "{} download {} {} -o {} --peer 127.0.0.1:{port} --no-dht --listen 127.0.0.1:0 --download-limit 256K; \
         echo \"exit code $?\"; sleep 600",
        lt_bin(),
        s(&torrents[0]),
        s(&torrents[1]),
        s(&out)
    );
    let tmux = Tmux { socket: format!("lt-cli-test-{}", std::process::id()) };
    let status =
        tmux.cmd().args(["new-session", "-d", "-x", "120", "-y", "30"]).arg(&shell).status().unwrap();
    assert!(status.success(), "tmux new-session failed");
    let screen = tmux.wait_screen("a bar line for each torrent", |screen| {
        names.iter().all(|name| {
            screen.lines().any(|l| {
                l.starts_with(name)
                    && l.contains('[')
                    && l.contains("MiB")
                    && percent(l).is_some_and(|p| p > 0.0 && p < 100.0)
            })
        })
    });
    assert!(!screen.contains("exit code"), "lt ended early:\n{screen}");
    // Ctrl-C as a user types it, to the terminal's foreground process.
    assert!(tmux.cmd().args(["send-keys", "C-c"]).status().unwrap().success());
    tmux.wait_screen("exit code 130", |screen| screen.contains("exit code 130"));
}

/// The README's `lt` lines, run as written in a directory holding an
/// `album` directory, with free ports in place of 6881 and 9100; the line
/// ending in `&` runs in the background until the end.
#[test]
fn the_readme_lines_run_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split("\n## Command line\n").nth(1).expect("a Command line section in README.md");
    let section = section.split("\n## ").next().unwrap();
    let lines: Vec<&str> = section.lines().filter(|l| l.starts_with("    lt ")).map(str::trim).collect();
    let commands: Vec<&str> = lines.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(commands, ["create", "info", "seed", "download", "stats"]);

    let root = tempdir("readme");
    let files = ["album/one.flac", "album/two.flac"];
    make_data(&root.path, &[(files[0], 900_000), (files[1], 400_000)], 17);
    let peer_port = free_port().to_string();
    let stats_port = loop {
        let p = free_port().to_string();
        if p != peer_port {
            break p;
        }
    };
    let mut seed = None;
    let mut outputs = Vec::new();
    for line in lines {
        let line = line.replace("6881", &peer_port).replace("9100", &stats_port);
        let (line, background) = match line.strip_suffix(" &") {
            Some(l) => (l.to_string(), true),
            None => (line, false),
        };
        let mut cmd = Command::new(lt_bin());
        cmd.args(line.split_whitespace().skip(1)).current_dir(&root.path);
        let mut p = Proc::spawn(cmd);
        if background {
            p.wait_line("the seed's seeding line", LONG, |l| l.contains("seeding until Ctrl-C"));
            seed = Some(p);
        } else {
            let status = p.wait_exit(LONG);
            assert_eq!(status.code(), Some(0), "{line}:\n{}", p.output());
            outputs.push(p.output());
        }
    }
    assert!(same_files(&root.path, &root.path.join("copy"), &files), "the copy differs");
    assert!(outputs[1].contains("name:         album"), "lt info:\n{}", outputs[1]);
    assert!(outputs[3].contains("album  seeding 100.0%"), "lt stats:\n{}", outputs[3]);
    let mut seed = seed.expect("the seed ran");
    seed.interrupt();
    assert_eq!(seed.wait_exit(Duration::from_secs(60)).code(), Some(130), "{}", seed.output());
}
