//! Reading a whole file the application names (a .torrent, resume data,
//! session state) without trusting it: only regular files, opened so that a
//! FIFO cannot block, and read through a limit rather than by its reported
//! size, so a device, a pipe or a file that grows while it is read costs at
//! most `limit` bytes and answers an error at once.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::{Error, ErrorKind, Result};

/// The largest .torrent file lt reads: libtorrent's default
/// (`load_torrent_limits::max_buffer_size`, 10 MB).
pub const MAX_TORRENT_FILE: u64 = 10_000_000;

/// The bytes of the regular file at `path`, at most `limit` of them.
///
/// Errors: `Io` when it cannot be opened or read; `InvalidArgument` when
/// it is not a regular file (a directory, device, FIFO or socket) or holds
/// more than `limit` bytes.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let shown = path.display();
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("{shown}: {e}"));
    // O_NONBLOCK: opening a FIFO with no writer would otherwise wait for
    // one forever. It changes nothing for regular files.
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(Error::invalid_argument(format!(
            "{shown}: not a regular file (a directory, device, FIFO or socket)"
        )));
    }
    let mut data = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > limit {
        return Err(Error::invalid_argument(format!("{shown}: larger than the limit of {limit} bytes")));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_file(&p, 10).unwrap(), b"0123456789");
        let e = read_file(&p, 9).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("larger than the limit of 9 bytes"), "{e}");
    }

    #[test]
    fn refuses_devices_directories_and_fifos_at_once() {
        for p in ["/dev/zero", "/dev/null", "/tmp"] {
            let e = read_file(Path::new(p), 1000).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{p}");
            assert!(e.message().contains("not a regular file"), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = std::time::Instant::now();
        let e = read_file(&fifo, 1000).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "a FIFO must not block");
        let e = read_file(&dir.path().join("missing"), 1000).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
    }
}
