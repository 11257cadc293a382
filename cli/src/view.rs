//! What `lt download` and `lt seed` show while they run: a progress bar per
//! torrent when stdout is a terminal, else one plain line per torrent every
//! `--interval` seconds (for logs and pipes, where redrawn bars would be
//! noise). Every figure comes from the engine's torrent status.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lt::engine::{TorrentState, TorrentStatus};

/// Bars are redrawn at most this often.
const REFRESH_HZ: u8 = 4;

/// The display of every torrent of one run.
pub struct View {
    mode: Mode,
    /// Per torrent, whether it is shown as a seed (upload figures) rather
    /// than as a download: a seed from the start, or a download that
    /// completed in a run that keeps seeding.
    seeding: Vec<bool>,
    /// Per torrent, whether its completion was reported (or needs no report).
    reported_complete: Vec<bool>,
    started: Instant,
}

enum Mode {
    Bars { multi: MultiProgress, bars: Vec<ProgressBar> },
    Lines { interval: Duration, last: Option<Instant> },
}

fn bar_style(seeding: bool) -> ProgressStyle {
    let template = if seeding {
        "{prefix:20!} {spinner} {msg}"
    } else {
        "{prefix:20!} [{bar:25}] {percent:>3}% {bytes:>10}/{total_bytes:<10} {msg}"
    };
    ProgressStyle::with_template(template).expect("the templates above are valid").progress_chars("#>-")
}

impl View {
    /// Bars when stdout is a terminal, plain lines every `interval` otherwise.
    pub fn new(interval: Duration) -> View {
        let mode = if std::io::stdout().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(REFRESH_HZ));
            Mode::Bars { multi, bars: Vec::new() }
        } else {
            Mode::Lines { interval, last: None }
        };
        View { mode, seeding: Vec::new(), reported_complete: Vec::new(), started: Instant::now() }
    }

    /// Adds a torrent's line, as a download or as a seed; torrents are then
    /// referred to by their order.
    pub fn add(&mut self, label: &str, seeding: bool) {
        self.seeding.push(seeding);
        self.reported_complete.push(seeding);
        if let Mode::Bars { multi, bars } = &mut self.mode {
            let bar = ProgressBar::new(0).with_style(bar_style(seeding)).with_prefix(printable(label, false));
            bars.push(multi.add(bar));
        }
    }

    /// Prints a message above the bars, or as a line of its own.
    pub fn note(&self, message: &str) {
        let message = printable(message, false);
        match &self.mode {
            Mode::Bars { multi, .. } => {
                // Only fails when the terminal is gone; the message then has nowhere to go.
                let _ = multi.println(message);
            }
            Mode::Lines { .. } => println!("{message}"),
        }
    }

    /// Shows the torrents' statuses (in the order they were added). A
    /// download that completes is reported once; with `keep_seeding` it is
    /// shown as a seed from then on.
    pub fn update(&mut self, statuses: &[TorrentStatus], keep_seeding: bool) {
        for (i, st) in statuses.iter().enumerate() {
            if !is_complete(st) || self.reported_complete[i] {
                continue;
            }
            self.reported_complete[i] = true;
            self.seeding[i] = keep_seeding;
            let message = format!(
                "{}: complete, {} in {:.1} s",
                st.name,
                HumanBytes(st.total_wanted),
                self.started.elapsed().as_secs_f64()
            );
            if let Mode::Bars { bars, .. } = &self.mode {
                if keep_seeding {
                    bars[i].set_style(bar_style(true));
                } else {
                    bars[i].set_length(st.total_wanted);
                    bars[i].set_position(st.total_wanted_done);
                    bars[i].finish_with_message("complete");
                }
            }
            self.note(&message);
        }
        match &mut self.mode {
            Mode::Bars { bars, .. } => {
                for ((bar, st), seeding) in bars.iter().zip(statuses).zip(&self.seeding) {
                    if bar.is_finished() {
                        continue;
                    }
                    bar.set_prefix(printable(&st.name, false));
                    if *seeding {
                        bar.set_message(seed_figures(st));
                        bar.tick();
                    } else {
                        bar.set_length(st.total_wanted);
                        bar.set_position(st.total_wanted_done);
                        bar.set_message(download_figures(st, true));
                    }
                }
            }
            Mode::Lines { interval, last } => {
                if last.is_some_and(|t| t.elapsed() < *interval) {
                    return;
                }
                *last = Some(Instant::now());
                for (st, seeding) in statuses.iter().zip(&self.seeding) {
                    if *seeding {
                        println!("{}: {} {}", printable(&st.name, false), state_name(st), seed_figures(st));
                    } else {
                        println!(
                            "{}: {} {:.1}% {}/{} {}",
                            printable(&st.name, false),
                            state_name(st),
                            st.progress * 100.0,
                            HumanBytes(st.total_wanted_done),
                            HumanBytes(st.total_wanted),
                            download_figures(st, false)
                        );
                    }
                }
            }
        }
    }

    /// Leaves the bars on the screen as they are.
    pub fn finish(&self) {
        if let Mode::Bars { bars, .. } = &self.mode {
            for bar in bars {
                bar.abandon();
            }
        }
    }
}

/// `text` made safe for a terminal: control characters shown escaped
/// (`\u{1b}`), line breaks kept when `keep_lines`. Text from outside (a
/// tracker's failure reason, a magnet link's name, a comment, another
/// session's JSON) could otherwise carry escape sequences that rewrite the
/// screen.
pub fn printable(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && !(keep_lines && c == '\n') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every wanted byte is verified.
pub fn is_complete(st: &TorrentStatus) -> bool {
    matches!(st.state, TorrentState::Seeding | TorrentState::Finished)
}

/// The state as a user reads it.
fn state_name(st: &TorrentStatus) -> &'static str {
    if st.error.is_some() {
        return "error";
    }
    if st.paused || st.session_paused {
        return "paused";
    }
    match st.state {
        TorrentState::CheckingFiles => "checking",
        TorrentState::DownloadingMetadata => "metadata",
        TorrentState::Downloading => "downloading",
        TorrentState::Finished => "finished",
        TorrentState::Seeding => "seeding",
    }
}

/// Rates, peers and ETA of a download; `short` for a bar's line, where
/// arrows stand for "down" and "up" so that it fits 120 columns.
fn download_figures(st: &TorrentStatus, short: bool) -> String {
    let down = HumanBytes(st.download_payload_rate.max(0) as u64);
    let up = HumanBytes(st.upload_payload_rate.max(0) as u64);
    let mut out = match short {
        true => format!("\u{2193}{down}/s \u{2191}{up}/s {} peers", st.num_peers),
        false => format!("down {down}/s up {up}/s peers {}", st.num_peers),
    };
    if st.state == TorrentState::DownloadingMetadata {
        out.push_str(" (fetching metadata)");
    } else if st.eta_s >= 0 && !is_complete(st) {
        out.push_str(&format!(" eta {}", duration(st.eta_s as u64)));
    }
    out
}

/// What a seed has sent, and to how many.
fn seed_figures(st: &TorrentStatus) -> String {
    let ratio = match st.total_size {
        0 => 0.0,
        size => st.total_payload_upload.max(0) as f64 / size as f64,
    };
    format!(
        "uploaded {} (ratio {ratio:.2}) up {}/s peers {}",
        HumanBytes(st.total_payload_upload.max(0) as u64),
        HumanBytes(st.upload_payload_rate.max(0) as u64),
        st.num_peers
    )
}

/// "45s", "3m05s", "2h07m".
pub fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, printable};

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(printable("a\u{1b}[2Jb", false), "a\\u{1b}[2Jb");
        assert_eq!(printable("one\ntwo\r", true), "one\ntwo\\r");
        assert_eq!(printable("one\ntwo", false), "one\\ntwo");
        assert_eq!(printable("caf\u{e9} \u{2193}", false), "caf\u{e9} \u{2193}");
    }

    #[test]
    fn durations_read_shortly() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(185), "3m05s");
        assert_eq!(duration(7620), "2h07m");
    }
}
