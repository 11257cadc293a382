//! Storage: where a torrent's pieces live. `FsStorage` maps pieces onto the
//! torrent's files under the save path with positional I/O (`pread` /
//! `pwrite`, no shared seek state); `MemoryStorage` keeps them in memory
//! for tests. Calls block: the engine runs them on the blocking pool.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::proto::types::Lengths;

/// One file of a torrent as storage sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageFile {
    /// Relative path, already sanitized.
    pub path: PathBuf,
    pub length: u64,
    /// A BEP 47 padding file: never written, reads as zeros.
    pub pad: bool,
    /// For a BEP 47 symlink (length 0), the relative path, like `path`, of
    /// the file or directory it points to. A link whose target is its own
    /// path (metainfo's mark for a target outside the torrent) is never
    /// created.
    pub symlink: Option<PathBuf>,
}

/// A failed file operation, with the path and what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{op} '{path}': {source}")]
pub struct StorageError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Blocking piece storage.
pub trait Storage: Send + Sync {
    /// Writes a verified piece, splitting it across the files it spans.
    fn write_piece(&self, piece: u32, data: &[u8]) -> Result<(), StorageError>;
    /// Reads `buf.len()` bytes at `begin` within `piece`.
    fn read(&self, piece: u32, begin: u32, buf: &mut [u8]) -> Result<(), StorageError>;
    /// Reads a whole piece; `Ok(None)` when a file it needs is missing or short.
    fn read_piece(&self, piece: u32) -> Result<Option<Vec<u8>>, StorageError>;
    /// Creates the torrent's empty files (they never get a write).
    fn create_empty_files(&self) -> Result<(), StorageError>;
    /// Whether any of the torrent's (non-pad) files exists.
    fn any_file_exists(&self) -> bool;
    /// Removes the torrent's files and the directories that became empty.
    fn delete_files(&self) -> Result<(), StorageError>;
    /// Flushes written data and closes open files.
    fn flush(&self) -> Result<(), StorageError>;
    /// The directory the files live under.
    fn save_path(&self) -> PathBuf;
    /// Moves every existing file (and nothing else) under `dir`, removing
    /// the directories left empty; later reads and writes go there.
    fn move_to(&self, dir: &Path) -> Result<(), StorageError>;
    /// Renames file `file` to the relative path `to` (sanitized by the
    /// caller), moving it on disk if it exists.
    fn rename_file(&self, file: usize, to: &Path) -> Result<(), StorageError>;
    /// Each file's relative path now.
    fn file_paths(&self) -> Vec<PathBuf>;
    /// Size and modification time (ns since the epoch) of each file on
    /// disk; `None` for a file that does not exist.
    fn file_stats(&self) -> Vec<Option<(u64, i64)>>;
}

/// Where a byte range of the torrent lands: file index, offset in the
/// file, and the length of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    file: usize,
    offset: u64,
    len: usize,
}

/// The torrent's files laid end to end.
#[derive(Debug, Clone)]
struct Layout {
    files: Vec<StorageFile>,
    starts: Vec<u64>,
    lengths: Lengths,
}

impl Layout {
    fn new(files: Vec<StorageFile>, lengths: Lengths) -> Layout {
        let mut starts = Vec::with_capacity(files.len());
        let mut at = 0u64;
        for f in &files {
            starts.push(at);
            at = at.saturating_add(f.length);
        }
        Layout { files, starts, lengths }
    }

    /// The runs covering `len` bytes at torrent offset `offset`.
    fn runs(&self, offset: u64, len: usize) -> Vec<Run> {
        let mut out = Vec::new();
        let mut pos = offset;
        let mut left = len as u64;
        // The last file starting at or before `pos` (empty files skipped).
        let mut i = self.starts.partition_point(|s| *s <= pos).saturating_sub(1);
        while left > 0 && i < self.files.len() {
            let start = self.starts[i];
            let flen = self.files[i].length;
            if pos >= start + flen {
                i += 1;
                continue;
            }
            let in_file = pos - start;
            let n = (flen - in_file).min(left);
            out.push(Run { file: i, offset: in_file, len: n as usize });
            pos += n;
            left -= n;
            i += 1;
        }
        out
    }
}

/// Checks that a relative path has only normal components.
fn safe_join(root: &Path, rel: &Path) -> Result<PathBuf, StorageError> {
    let ok = !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(root.join(rel))
    } else {
        Err(StorageError {
            op: "refusing unsafe path",
            path: rel.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "path leaves the save directory"),
        })
    }
}

/// Creates the directory `path` will live in.
fn create_parent(path: &Path) -> Result<(), StorageError> {
    match path.parent() {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|source| StorageError {
            op: "creating directory for",
            path: path.to_path_buf(),
            source,
        }),
        None => Ok(()),
    }
}

/// Moves a file, across file systems too (copy, then remove). Answers
/// false when there was nothing to move.
fn move_file(from: &Path, to: &Path) -> Result<bool, StorageError> {
    if !from.exists() {
        return Ok(false);
    }
    if to.exists() {
        return Err(StorageError {
            op: "moving to",
            path: to.to_path_buf(),
            source: io::Error::new(io::ErrorKind::AlreadyExists, "a file is in the way"),
        });
    }
    create_parent(to)?;
    if std::fs::rename(from, to).is_err() {
        std::fs::copy(from, to).map_err(|source| StorageError {
            op: "copying to",
            path: to.to_path_buf(),
            source,
        })?;
        std::fs::remove_file(from).map_err(|source| StorageError {
            op: "removing",
            path: from.to_path_buf(),
            source,
        })?;
    }
    Ok(true)
}

/// Removes the directories between `root` and each of `paths` that are
/// empty now (deepest first); anything else in them stays.
fn remove_empty_dirs(root: &Path, paths: &[PathBuf]) {
    let mut dirs = Vec::new();
    for path in paths {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == root || !d.starts_with(root) {
                break;
            }
            dirs.push(d.to_path_buf());
            dir = d.parent();
        }
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    for d in dirs {
        let _ = std::fs::remove_dir(&d);
    }
}

/// The relative path from directory `from` to `to`, both relative to the
/// same root and made of normal components only: `../` for each level of
/// `from` that `to` does not share, then the rest of `to`.
fn relative_to(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    out.extend(&to[common..]);
    out
}

/// Creates the BEP 47 symlink `link` (relative to `root`) pointing at
/// `target` (relative to `root` too, a file or directory of the torrent), as
/// libtorrent does: the link holds the path relative to its own directory,
/// so the files still work after they are moved together.
///
/// A relative link is only safe where its `..` steps land where they appear
/// to: the link's directory must be the real directory of that name under
/// `root`, not reached through another symlink (a link inside a linked
/// directory would climb out of the save path). Such a link is refused. The
/// target itself may pass through the torrent's other links; each of them
/// was made by this same rule, so every step stays under `root`.
fn create_symlink(root: &Path, link: &Path, target: &Path) -> Result<(), StorageError> {
    let fail = |op: &'static str, source: io::Error| StorageError { op, path: link.to_path_buf(), source };
    let refuse = || {
        fail(
            "refusing symlink",
            io::Error::new(io::ErrorKind::InvalidInput, "its directory is reached through another symlink"),
        )
    };
    let at = safe_join(root, link)?;
    safe_join(root, target)?;
    let dir = link.parent().unwrap_or(Path::new(""));
    // Before creating directories: an existing link on the way (perhaps
    // dangling, as a link to a directory not yet downloaded is) refuses.
    let mut walked = root.to_path_buf();
    for part in dir.components() {
        walked.push(part);
        match std::fs::symlink_metadata(&walked) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(refuse()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(fail("inspecting the directory of", e)),
        }
    }
    create_parent(&at)?;
    let real_root = std::fs::canonicalize(root).map_err(|e| fail("resolving the save path for", e))?;
    let real_dir =
        std::fs::canonicalize(root.join(dir)).map_err(|e| fail("resolving the directory of", e))?;
    if real_dir != real_root.join(dir) {
        return Err(refuse());
    }
    let value = relative_to(dir, target);
    match std::os::unix::fs::symlink(&value, &at) {
        Ok(()) => Ok(()),
        // Made before (a restart, a recheck): fine if it points the same way.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match std::fs::read_link(&at) {
            Ok(existing) if existing == value => Ok(()),
            _ => Err(fail("creating symlink", e)),
        },
        Err(e) => Err(fail("creating symlink", e)),
    }
}

/// Open files kept at most.
const MAX_OPEN_FILES: usize = 64;

/// The largest write that piece data goes to the page cache in, and the
/// file-offset alignment of each write: one BitTorrent block.
///
/// Why not one write per piece: Linux (6.x, ext4 and xfs) gives a buffered
/// write a page-cache folio as large as the write (traced here: order 6 for
/// 256 KiB writes, order 2 for 16 KiB ones), and the kernel's copy into
/// large folios (`copy_folio_from_iter_atomic`) is slow in some states of
/// the machine. On this project's 2-core VM (kernel 6.18, virtio-balloon
/// free page reporting) it took a third of a download's CPU under heavy
/// concurrent load, most likely because the first touch of each page faults
/// on the host (memory the guest had reported free); small folios never
/// did. 1 GiB downloads, each after another was read back and deleted: one
/// write per piece cost 0.8-2.7 s of system time depending on that state,
/// 16 KiB writes 0.9-1.4 s, level with libtorrent (0.9-1.4 s), whose write
/// size this is (both were slower together once, when every process on the
/// machine was). On a calm machine the large writes are the cheaper by
/// 0.2 s; 4 KiB writes cost twice the syscalls for nothing.
const WRITE_CHUNK: u64 = 16 * 1024;

/// Writes `data` at `offset` in `f` in writes of at most `WRITE_CHUNK`
/// bytes, each ending on a `WRITE_CHUNK` boundary of the file (so a run
/// that starts mid-block still gets aligned folios after its first write).
fn write_in_chunks(f: &File, data: &[u8], offset: u64) -> io::Result<()> {
    let mut at = 0usize;
    while at < data.len() {
        let pos = offset + at as u64;
        let n = ((WRITE_CHUNK - pos % WRITE_CHUNK) as usize).min(data.len() - at);
        f.write_all_at(&data[at..at + n], pos)?;
        at += n;
    }
    Ok(())
}

/// Where the files are: the save path and each file's relative path.
/// Changes only by `move_to` and `rename_file`.
#[derive(Clone, Debug)]
struct Place {
    root: PathBuf,
    paths: Vec<PathBuf>,
}

/// Files on disk under a save path.
pub struct FsStorage {
    place: RwLock<Place>,
    layout: Layout,
    open: Mutex<HashMap<usize, (Arc<File>, bool)>>,
    /// Writes go one at a time: the kernel serializes writes to a file on
    /// its inode lock anyway, and threads spinning on that lock cost more
    /// CPU than the copy itself (measured: 20% of a 1 GiB download).
    write_lock: Mutex<()>,
}

impl FsStorage {
    pub fn new(save_path: PathBuf, files: Vec<StorageFile>, lengths: Lengths) -> FsStorage {
        let paths = files.iter().map(|f| f.path.clone()).collect();
        FsStorage {
            place: RwLock::new(Place { root: save_path, paths }),
            layout: Layout::new(files, lengths),
            open: Mutex::new(HashMap::new()),
            write_lock: Mutex::new(()),
        }
    }

    fn path_of(&self, file: usize) -> Result<PathBuf, StorageError> {
        let place = self.place.read();
        safe_join(&place.root, &place.paths[file])
    }

    /// The real (non-pad) files, by index.
    fn real_files(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.layout.files.len()).filter(|i| !self.layout.files[*i].pad)
    }

    /// An open handle for `file`; for writing, the file and its directory
    /// are created as needed. Reading a file that does not exist answers
    /// `Ok(None)`.
    fn handle(&self, file: usize, write: bool) -> Result<Option<Arc<File>>, StorageError> {
        {
            let open = self.open.lock();
            if let Some((f, writable)) = open.get(&file) {
                if *writable || !write {
                    return Ok(Some(f.clone()));
                }
            }
        }
        let path = self.path_of(file)?;
        let f = if write {
            create_parent(&path)?;
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|source| StorageError { op: "opening", path: path.clone(), source })?
        } else {
            match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(source) => return Err(StorageError { op: "opening", path, source }),
            }
        };
        let f = Arc::new(f);
        let mut open = self.open.lock();
        if open.len() >= MAX_OPEN_FILES {
            if let Some(k) = open.keys().next().copied() {
                open.remove(&k);
            }
        }
        open.insert(file, (f.clone(), write));
        Ok(Some(f))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<bool, StorageError> {
        let mut at = 0usize;
        for run in self.layout.runs(offset, buf.len()) {
            let dst = &mut buf[at..at + run.len];
            at += run.len;
            if self.layout.files[run.file].pad {
                dst.fill(0);
                continue;
            }
            let Some(f) = self.handle(run.file, false)? else { return Ok(false) };
            match f.read_exact_at(dst, run.offset) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(source) => {
                    return Err(StorageError { op: "reading", path: self.path_of(run.file)?, source })
                }
            }
        }
        Ok(at == buf.len())
    }
}

impl Storage for FsStorage {
    fn write_piece(&self, piece: u32, data: &[u8]) -> Result<(), StorageError> {
        let offset = self.layout.lengths.piece_offset(piece);
        let _serial = self.write_lock.lock();
        let mut at = 0usize;
        for run in self.layout.runs(offset, data.len()) {
            let src = &data[at..at + run.len];
            at += run.len;
            if self.layout.files[run.file].pad {
                continue;
            }
            if let Some(f) = self.handle(run.file, true)? {
                write_in_chunks(&f, src, run.offset).map_err(|source| StorageError {
                    op: "writing",
                    path: self.path_of(run.file).unwrap_or_default(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    fn read(&self, piece: u32, begin: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        let offset = self.layout.lengths.piece_offset(piece) + begin as u64;
        if self.read_at(offset, buf)? {
            Ok(())
        } else {
            Err(StorageError {
                op: "reading",
                path: self.save_path(),
                source: io::Error::new(io::ErrorKind::UnexpectedEof, format!("piece {piece} is not on disk")),
            })
        }
    }

    fn read_piece(&self, piece: u32) -> Result<Option<Vec<u8>>, StorageError> {
        let size = self.layout.lengths.piece_size(piece) as usize;
        let mut buf = vec![0u8; size];
        let offset = self.layout.lengths.piece_offset(piece);
        Ok(self.read_at(offset, &mut buf)?.then_some(buf))
    }

    fn create_empty_files(&self) -> Result<(), StorageError> {
        for (i, f) in self.layout.files.iter().enumerate() {
            if f.length == 0 && !f.pad {
                if let Some(target) = &f.symlink {
                    let rel = self.place.read().paths[i].clone();
                    if *target != rel {
                        create_symlink(&self.save_path(), &rel, target)?;
                    }
                    continue;
                }
                let path = self.path_of(i)?;
                create_parent(&path)?;
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(|source| StorageError { op: "creating", path, source })?;
            }
        }
        Ok(())
    }

    fn any_file_exists(&self) -> bool {
        (0..self.layout.files.len())
            .filter(|i| !self.layout.files[*i].pad && self.layout.files[*i].length > 0)
            .any(|i| self.path_of(i).is_ok_and(|p| p.exists()))
    }

    fn delete_files(&self) -> Result<(), StorageError> {
        self.open.lock().clear();
        let mut paths = Vec::new();
        for i in self.real_files() {
            let path = self.path_of(i)?;
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(StorageError { op: "deleting", path, source }),
            }
            paths.push(path);
        }
        remove_empty_dirs(&self.save_path(), &paths);
        Ok(())
    }

    fn save_path(&self) -> PathBuf {
        self.place.read().root.clone()
    }

    fn move_to(&self, dir: &Path) -> Result<(), StorageError> {
        // Writers wait, and new handles are not opened, until the move is done.
        let _serial = self.write_lock.lock();
        let mut place = self.place.write();
        if place.root == dir {
            return Ok(());
        }
        let mut moved = Vec::new();
        let mut result = Ok(());
        for i in self.real_files() {
            let from = safe_join(&place.root, &place.paths[i])?;
            let to = safe_join(dir, &place.paths[i])?;
            match move_file(&from, &to) {
                Ok(true) => moved.push((from, to)),
                Ok(false) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.open.lock().clear();
        if let Err(e) = result {
            // Put back what was moved, so the torrent stays whole in one place.
            for (from, to) in moved.iter().rev() {
                let _ = move_file(to, from);
            }
            return Err(e);
        }
        let old: Vec<PathBuf> = moved.into_iter().map(|(from, _)| from).collect();
        remove_empty_dirs(&place.root, &old);
        place.root = dir.to_path_buf();
        Ok(())
    }

    fn rename_file(&self, file: usize, to: &Path) -> Result<(), StorageError> {
        let _serial = self.write_lock.lock();
        let mut place = self.place.write();
        if file >= place.paths.len() || self.layout.files[file].pad {
            return Err(StorageError {
                op: "renaming",
                path: to.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, format!("no file with index {file}")),
            });
        }
        let from = safe_join(&place.root, &place.paths[file])?;
        let dest = safe_join(&place.root, to)?;
        if place.paths.iter().enumerate().any(|(i, p)| i != file && p == to) {
            return Err(StorageError {
                op: "renaming",
                path: dest,
                source: io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "another file of the torrent has that name",
                ),
            });
        }
        move_file(&from, &dest)?;
        self.open.lock().remove(&file);
        let root = place.root.clone();
        remove_empty_dirs(&root, &[from]);
        place.paths[file] = to.to_path_buf();
        Ok(())
    }

    fn file_paths(&self) -> Vec<PathBuf> {
        self.place.read().paths.clone()
    }

    fn file_stats(&self) -> Vec<Option<(u64, i64)>> {
        (0..self.layout.files.len())
            .map(|i| {
                let meta = std::fs::metadata(self.path_of(i).ok()?).ok()?;
                let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
                Some((meta.len(), mtime.as_nanos() as i64))
            })
            .collect()
    }

    fn flush(&self) -> Result<(), StorageError> {
        let open: Vec<(usize, Arc<File>, bool)> =
            self.open.lock().drain().map(|(i, (f, w))| (i, f, w)).collect();
        for (i, f, writable) in open {
            if writable {
                f.sync_data().map_err(|source| StorageError {
                    op: "flushing",
                    path: self.path_of(i).unwrap_or_default(),
                    source,
                })?;
            }
        }
        Ok(())
    }
}

/// A torrent's bytes in memory, for tests.
pub struct MemoryStorage {
    layout: Layout,
    data: Mutex<Vec<u8>>,
    written: Mutex<Vec<bool>>,
}

impl MemoryStorage {
    pub fn new(files: Vec<StorageFile>, lengths: Lengths) -> MemoryStorage {
        MemoryStorage {
            data: Mutex::new(vec![0; lengths.total_length() as usize]),
            written: Mutex::new(vec![false; lengths.num_pieces() as usize]),
            layout: Layout::new(files, lengths),
        }
    }
}

impl Storage for MemoryStorage {
    fn write_piece(&self, piece: u32, data: &[u8]) -> Result<(), StorageError> {
        let at = self.layout.lengths.piece_offset(piece) as usize;
        let mut d = self.data.lock();
        if let Some(dst) = d.get_mut(at..at + data.len()) {
            dst.copy_from_slice(data);
        }
        if let Some(w) = self.written.lock().get_mut(piece as usize) {
            *w = true;
        }
        Ok(())
    }

    fn read(&self, piece: u32, begin: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        let at = self.layout.lengths.piece_offset(piece) as usize + begin as usize;
        let d = self.data.lock();
        match d.get(at..at + buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(StorageError {
                op: "reading",
                path: PathBuf::from("memory"),
                source: io::Error::new(io::ErrorKind::UnexpectedEof, "out of range"),
            }),
        }
    }

    fn read_piece(&self, piece: u32) -> Result<Option<Vec<u8>>, StorageError> {
        if !self.written.lock().get(piece as usize).copied().unwrap_or(false) {
            return Ok(None);
        }
        let mut buf = vec![0u8; self.layout.lengths.piece_size(piece) as usize];
        self.read(piece, 0, &mut buf)?;
        Ok(Some(buf))
    }

    fn create_empty_files(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn any_file_exists(&self) -> bool {
        self.written.lock().iter().any(|w| *w)
    }

    fn delete_files(&self) -> Result<(), StorageError> {
        self.written.lock().iter_mut().for_each(|w| *w = false);
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn save_path(&self) -> PathBuf {
        PathBuf::from("memory")
    }

    fn move_to(&self, _dir: &Path) -> Result<(), StorageError> {
        Ok(())
    }

    fn rename_file(&self, _file: usize, _to: &Path) -> Result<(), StorageError> {
        Ok(())
    }

    fn file_paths(&self) -> Vec<PathBuf> {
        self.layout.files.iter().map(|f| f.path.clone()).collect()
    }

    fn file_stats(&self) -> Vec<Option<(u64, i64)>> {
        vec![None; self.layout.files.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<StorageFile> {
        vec![
            StorageFile { path: "t/a.bin".into(), length: 40_000, pad: false, symlink: None },
            StorageFile { path: "t/empty".into(), length: 0, pad: false, symlink: None },
            StorageFile { path: "t/.pad/1".into(), length: 1_000, pad: true, symlink: None },
            StorageFile { path: "t/sub/b.bin".into(), length: 30_000, pad: false, symlink: None },
        ]
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn pieces_span_files_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let lengths = Lengths::new(71_000, 16_384).unwrap();
        let st = FsStorage::new(dir.path().to_path_buf(), files(), lengths);
        let mut all = data(71_000);
        all[40_000..41_000].fill(0); // the pad file's bytes are zeros
        assert!(!st.any_file_exists());
        assert_eq!(st.read_piece(0).unwrap(), None);
        for piece in (0..lengths.num_pieces()).rev() {
            let at = lengths.piece_offset(piece) as usize;
            st.write_piece(piece, &all[at..at + lengths.piece_size(piece) as usize]).unwrap();
        }
        st.create_empty_files().unwrap();
        st.flush().unwrap();
        assert!(st.any_file_exists());
        for piece in 0..lengths.num_pieces() {
            let at = lengths.piece_offset(piece) as usize;
            assert_eq!(
                st.read_piece(piece).unwrap().unwrap(),
                &all[at..at + lengths.piece_size(piece) as usize]
            );
        }
        let mut b = vec![0u8; 100];
        st.read(2, 7_000, &mut b).unwrap();
        assert_eq!(&b[..], &all[2 * 16_384 + 7_000..2 * 16_384 + 7_100]);
        assert_eq!(std::fs::metadata(dir.path().join("t/a.bin")).unwrap().len(), 40_000);
        assert_eq!(std::fs::metadata(dir.path().join("t/empty")).unwrap().len(), 0);
        assert!(!dir.path().join("t/.pad").exists());
        assert_eq!(std::fs::read(dir.path().join("t/sub/b.bin")).unwrap(), &all[41_000..]);
    }

    #[test]
    fn chunked_writes_land_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).unwrap();
        // Starts mid-block and ends mid-block, spanning several whole blocks.
        let payload = data(70_001);
        write_in_chunks(&f, &payload, 5_000).unwrap();
        write_in_chunks(&f, &[], 90_000).unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), 75_001);
        assert!(on_disk[..5_000].iter().all(|b| *b == 0));
        assert_eq!(&on_disk[5_000..], &payload[..]);
    }

    #[test]
    fn missing_file_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let lengths = Lengths::new(71_000, 16_384).unwrap();
        let st = FsStorage::new(dir.path().to_path_buf(), files(), lengths);
        st.write_piece(0, &data(16_384)).unwrap();
        assert!(st.read_piece(0).unwrap().is_some());
        assert_eq!(st.read_piece(3).unwrap(), None, "piece 3 lies in b.bin, which does not exist");
        assert!(st.read(3, 0, &mut [0u8; 10]).is_err());
    }

    #[test]
    fn errors_carry_path_and_operation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blocker"), b"x").unwrap();
        let lengths = Lengths::new(71_000, 16_384).unwrap();
        let st = FsStorage::new(dir.path().join("blocker/sub"), files(), lengths);
        let e = st.write_piece(0, &data(16_384)).unwrap_err();
        assert_eq!(e.op, "creating directory for");
        assert!(e.to_string().contains("blocker/sub/t/a.bin"), "{e}");
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bad = vec![StorageFile { path: "../escape".into(), length: 10, pad: false, symlink: None }];
        let st = FsStorage::new(dir.path().join("x"), bad, Lengths::new(10, 16_384).unwrap());
        assert!(st.write_piece(0, &[0; 10]).is_err());
        assert!(!dir.path().join("escape").exists());
    }

    fn link(path: &str, target: &str) -> StorageFile {
        StorageFile { path: path.into(), length: 0, pad: false, symlink: Some(target.into()) }
    }

    #[test]
    fn symlinks_are_relative_and_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            StorageFile { path: "t/a/b/bar".into(), length: 10, pad: false, symlink: None },
            link("t/a/b/foo", "t/a/b/bar"),
            link("t/top", "t/a/b/bar"),
            link("t/dir", "t/a"),
            // metainfo's mark for a target outside the torrent
            link("t/out", "t/out"),
        ];
        let st = FsStorage::new(dir.path().to_path_buf(), files, Lengths::new(10, 16_384).unwrap());
        // As the engine does: links first (dangling until the data comes),
        // then the data; a second start finds the links in place.
        st.create_empty_files().unwrap();
        st.write_piece(0, b"0123456789").unwrap();
        st.create_empty_files().unwrap();
        let root = dir.path();
        assert_eq!(std::fs::read_link(root.join("t/a/b/foo")).unwrap(), PathBuf::from("bar"));
        assert_eq!(std::fs::read_link(root.join("t/top")).unwrap(), PathBuf::from("a/b/bar"));
        assert_eq!(std::fs::read_link(root.join("t/dir")).unwrap(), PathBuf::from("a"));
        assert_eq!(std::fs::read(root.join("t/top")).unwrap(), b"0123456789");
        assert_eq!(std::fs::read(root.join("t/dir/b/foo")).unwrap(), b"0123456789");
        assert!(std::fs::symlink_metadata(root.join("t/out")).is_err(), "a self-link is never made");
    }

    #[test]
    fn symlink_inside_a_linked_directory_is_refused() {
        // "t/d" links to the directory "t/a"; a link at "t/d/e" would really
        // sit in "t/a", and its "../" steps would count from the wrong place.
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            StorageFile { path: "t/a/x".into(), length: 10, pad: false, symlink: None },
            link("t/d", "t/a"),
            link("t/d/e", "t/a/x"),
        ];
        let st = FsStorage::new(dir.path().to_path_buf(), files, Lengths::new(10, 16_384).unwrap());
        let e = st.create_empty_files().unwrap_err();
        assert_eq!(e.op, "refusing symlink");
        assert_eq!(e.path, PathBuf::from("t/d/e"));
        assert!(std::fs::symlink_metadata(dir.path().join("t/a/e")).is_err());
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative_to(Path::new("t/a/b"), Path::new("t/a/b/bar")), PathBuf::from("bar"));
        assert_eq!(relative_to(Path::new("t/a/b"), Path::new("t/c")), PathBuf::from("../../c"));
        assert_eq!(relative_to(Path::new(""), Path::new("t/c")), PathBuf::from("t/c"));
        assert_eq!(relative_to(Path::new("t/x"), Path::new("t")), PathBuf::from(".."));
    }

    #[test]
    fn delete_removes_only_the_torrent() {
        let dir = tempfile::tempdir().unwrap();
        let lengths = Lengths::new(71_000, 16_384).unwrap();
        let st = FsStorage::new(dir.path().to_path_buf(), files(), lengths);
        for piece in 0..lengths.num_pieces() {
            st.write_piece(piece, &data(lengths.piece_size(piece) as usize)).unwrap();
        }
        st.create_empty_files().unwrap();
        std::fs::write(dir.path().join("t/sub/foreign.txt"), b"keep").unwrap();
        st.delete_files().unwrap();
        assert!(!dir.path().join("t/a.bin").exists());
        assert!(!dir.path().join("t/empty").exists());
        assert!(dir.path().join("t/sub/foreign.txt").exists());
        assert!(dir.path().exists());
    }

    #[test]
    fn memory_storage() {
        let lengths = Lengths::new(71_000, 16_384).unwrap();
        let st = MemoryStorage::new(files(), lengths);
        assert_eq!(st.read_piece(1).unwrap(), None);
        st.write_piece(1, &data(16_384)).unwrap();
        assert_eq!(st.read_piece(1).unwrap().unwrap(), data(16_384));
    }
}
