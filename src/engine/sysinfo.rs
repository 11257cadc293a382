//! Process and system figures read from Linux's procfs: resident memory,
//! CPU load of the process and of the machine, cores, memory. Sampled by
//! the session once a second; each read is a few small file reads.
//! On a system without procfs the figures stay 0 (and `available()` says so).

use std::time::Instant;

/// One sample of the figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysFigures {
    /// Resident set size of this process.
    pub rss_bytes: i64,
    /// CPU time used by this process over the last period, per mille of
    /// the whole machine (1000 = every core busy).
    pub process_cpu_permille: i64,
    /// CPU time used by everything over the last period, per mille of the
    /// whole machine.
    pub system_cpu_permille: i64,
    pub cpu_cores: i64,
    pub memory_total_bytes: i64,
    /// Memory available for new work (MemAvailable).
    pub memory_available_bytes: i64,
}

/// Keeps the previous readings so loads are computed over the period.
pub struct SysSampler {
    last_at: Option<Instant>,
    last_proc_ticks: u64,
    last_sys: (u64, u64),
    ticks_per_sec: f64,
    page_size: i64,
    cores: i64,
}

impl Default for SysSampler {
    fn default() -> Self {
        SysSampler::new()
    }
}

/// A procfs file as text, read through a limit like every file lt reads.
fn procfs(path: &str) -> Option<String> {
    let bytes = super::bounded_read::read_file(std::path::Path::new(path), 1 << 20).ok()?;
    String::from_utf8(bytes).ok()
}

/// utime + stime of this process, in clock ticks.
fn process_ticks() -> Option<u64> {
    let s = procfs("/proc/self/stat")?;
    // The command name (field 2) may hold spaces: fields start after ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')' field 3 (state) is index 0, so utime (14) is 11, stime 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (busy, total) jiffies of all CPUs.
fn system_ticks() -> Option<(u64, u64)> {
    let s = procfs("/proc/stat")?;
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is inside user)
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn meminfo() -> Option<(i64, i64)> {
    let s = procfs("/proc/meminfo")?;
    let get = |key: &str| -> Option<i64> {
        let l = s.lines().find(|l| l.starts_with(key))?;
        l.split_whitespace().nth(1)?.parse::<i64>().ok().map(|kb| kb * 1024)
    };
    Some((get("MemTotal:")?, get("MemAvailable:")?))
}

fn rss_pages() -> Option<i64> {
    let s = procfs("/proc/self/statm")?;
    s.split_whitespace().nth(1)?.parse().ok()
}

impl SysSampler {
    pub fn new() -> SysSampler {
        // SAFETY: sysconf only reads configuration values.
        let (tps, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        let cores = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1);
        SysSampler {
            last_at: None,
            last_proc_ticks: process_ticks().unwrap_or(0),
            last_sys: system_ticks().unwrap_or((0, 0)),
            ticks_per_sec: if tps > 0 { tps as f64 } else { 100.0 },
            page_size: if page > 0 { page } else { 4096 },
            cores,
        }
    }

    /// Whether procfs answers on this system.
    pub fn available() -> bool {
        process_ticks().is_some()
    }

    /// Reads the figures; loads cover the time since the previous call.
    pub fn sample(&mut self) -> SysFigures {
        let now = Instant::now();
        let mut f = SysFigures { cpu_cores: self.cores, ..SysFigures::default() };
        f.rss_bytes = rss_pages().unwrap_or(0) * self.page_size;
        if let Some((total, avail)) = meminfo() {
            f.memory_total_bytes = total;
            f.memory_available_bytes = avail;
        }
        let proc_ticks = process_ticks().unwrap_or(self.last_proc_ticks);
        let sys = system_ticks().unwrap_or(self.last_sys);
        if let Some(last) = self.last_at {
            let secs = now.duration_since(last).as_secs_f64();
            if secs > 0.0 {
                let cpu_secs = proc_ticks.saturating_sub(self.last_proc_ticks) as f64 / self.ticks_per_sec;
                f.process_cpu_permille =
                    ((cpu_secs / secs / self.cores as f64) * 1000.0).round().clamp(0.0, 1000.0) as i64;
            }
            let (busy, total) =
                (sys.0.saturating_sub(self.last_sys.0), sys.1.saturating_sub(self.last_sys.1));
            if let Some(permille) = (busy * 1000).checked_div(total) {
                f.system_cpu_permille = permille as i64;
            }
        }
        self.last_at = Some(now);
        self.last_proc_ticks = proc_ticks;
        self.last_sys = sys;
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_plausible() {
        assert!(SysSampler::available());
        let mut s = SysSampler::new();
        s.sample();
        // Burn CPU for a while so the process load is visible.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let f = s.sample();
        assert!(f.rss_bytes > 1 << 20, "{f:?}");
        assert!(f.cpu_cores >= 1);
        assert!(f.memory_total_bytes > f.memory_available_bytes && f.memory_available_bytes > 0, "{f:?}");
        assert!(f.process_cpu_permille > 0 && f.process_cpu_permille <= 1000, "{f:?}");
        assert!(f.system_cpu_permille >= f.process_cpu_permille / 2, "{f:?}");
    }
}
