//! Torrent controls that touch storage: move the files, rename one, read a
//! piece back, save resume data. Each checks its arguments at once
//! (an error to the caller), then does the file work on the blocking pool
//! and answers with an alert, as libtorrent does. The torrent keeps
//! running meanwhile: storage makes writers wait while files move.

use std::path::PathBuf;
use std::sync::Arc;

use super::alerts::{AlertKind, ErrorInfo};
use super::error::{Error, ErrorKind, Result};
use super::stats::Metric;
use super::torrent::Torrent;
use crate::proto::metainfo::sanitize_component;

fn io_info(message: impl Into<String>) -> ErrorInfo {
    ErrorInfo { kind: ErrorKind::Io, message: message.into() }
}

/// A new relative file name, checked: every component must already be
/// safe (what sanitizing would leave as it is).
fn checked_name(name: &str) -> Result<PathBuf> {
    let parts: Vec<&str> = name.split('/').collect();
    let safe = !name.is_empty()
        && parts.len() <= crate::proto::metainfo::MAX_PATH_DEPTH
        && parts.iter().all(|p| sanitize_component(p).as_deref() == Some(*p));
    if !safe {
        return Err(Error::invalid_argument(format!(
            "file name '{name}' is not a safe relative path ('/'-separated, no '..', no empty or reserved parts)"
        )));
    }
    Ok(parts.iter().collect())
}

impl Torrent {
    /// Moves the torrent's files to `dir`, answering with a
    /// `storage_moved` or `storage_moved_failed` alert. A magnet's torrent
    /// has no files before its metadata: `NoMetadata`.
    pub fn move_storage(self: &Arc<Self>, dir: PathBuf) -> Result<()> {
        if dir.as_os_str().is_empty() {
            return Err(Error::invalid_argument("the new save path is empty"));
        }
        let storage = self.loaded()?.storage.clone();
        let t = self.clone();
        self.ses.runtime.spawn(async move {
            let to = dir.clone();
            let moved = tokio::task::spawn_blocking(move || storage.move_to(&to)).await;
            let path = dir.to_string_lossy().into_owned();
            match moved {
                Ok(Ok(())) => {
                    t.ses.counters.add(Metric::StorageMoves, 1);
                    tracing::info!(id = t.id.0, path = %path, "storage moved");
                    t.post(AlertKind::StorageMoved { path });
                }
                Ok(Err(e)) => {
                    t.ses.counters.add(Metric::StorageMoveFailures, 1);
                    t.post(AlertKind::StorageMovedFailed { path, error: io_info(e.to_string()) });
                }
                Err(e) => {
                    t.ses.counters.add(Metric::StorageMoveFailures, 1);
                    t.post(AlertKind::StorageMovedFailed { path, error: io_info(e.to_string()) });
                }
            }
        });
        Ok(())
    }

    /// Renames file `file` to `name` (a relative path under the save path),
    /// answering with a `file_renamed` or `file_rename_failed` alert.
    pub fn rename_file(self: &Arc<Self>, file: u32, name: &str) -> Result<()> {
        let loaded = self.loaded()?;
        let n = loaded.meta.files.len();
        if file as usize >= n || loaded.meta.files[file as usize].pad {
            return Err(Error::invalid_argument(format!("file index {file} out of range ({n} files)")));
        }
        let to = checked_name(name)?;
        let t = self.clone();
        let new_name = name.to_string();
        let storage = loaded.storage.clone();
        self.ses.runtime.spawn(async move {
            let renamed = tokio::task::spawn_blocking(move || storage.rename_file(file as usize, &to)).await;
            match renamed {
                Ok(Ok(())) => {
                    t.ses.counters.add(Metric::FilesRenamed, 1);
                    t.post(AlertKind::FileRenamed { file, new_name });
                }
                Ok(Err(e)) => t.post(AlertKind::FileRenameFailed { file, error: io_info(e.to_string()) }),
                Err(e) => t.post(AlertKind::FileRenameFailed { file, error: io_info(e.to_string()) }),
            }
        });
        Ok(())
    }

    /// Each file's path relative to the save path now (after renames);
    /// none before a magnet's metadata.
    pub fn file_paths(&self) -> Vec<PathBuf> {
        self.storage().map(|s| s.file_paths()).unwrap_or_default()
    }

    /// The directory the files are saved in now.
    pub fn save_path(&self) -> PathBuf {
        self.storage().map_or_else(|| self.save_path.clone(), |s| s.save_path())
    }

    /// Reads a piece back from disk, answering with a `read_piece` alert
    /// carrying its bytes (or the error: a piece not downloaded yet).
    pub fn read_piece(self: &Arc<Self>, piece: u32) -> Result<()> {
        let storage = self.loaded()?.storage.clone();
        let n = self.lengths().num_pieces();
        if piece >= n {
            return Err(Error::invalid_argument(format!("piece index {piece} out of range ({n} pieces)")));
        }
        if !self.core.lock().picker.have(piece) {
            let error = ErrorInfo {
                kind: ErrorKind::InvalidArgument,
                message: format!("piece {piece} is not downloaded yet"),
            };
            self.post(AlertKind::ReadPieceFailed { piece, error });
            return Ok(());
        }
        let t = self.clone();
        self.ses.runtime.spawn(async move {
            let read = tokio::task::spawn_blocking(move || storage.read_piece(piece)).await;
            let error = match read {
                Ok(Ok(Some(data))) => {
                    t.ses.counters.add(Metric::PiecesReadForApi, 1);
                    t.post(AlertKind::ReadPiece { piece, data });
                    return;
                }
                Ok(Ok(None)) => io_info(format!("piece {piece} is missing from disk")),
                Ok(Err(e)) => io_info(e.to_string()),
                Err(e) => io_info(e.to_string()),
            };
            t.post(AlertKind::ReadPieceFailed { piece, error });
        });
        Ok(())
    }

    /// Builds the torrent's resume data on the blocking pool, answering
    /// with a `save_resume_data` alert carrying it (bencoded, libtorrent's
    /// field names) or `save_resume_data_failed`.
    pub fn save_resume_data(self: &Arc<Self>) {
        let t = self.clone();
        self.ses.runtime.spawn(async move {
            let t2 = t.clone();
            match tokio::task::spawn_blocking(move || super::resume::save(&t2)).await {
                Ok(data) => {
                    t.ses.counters.add(Metric::ResumeSaved, 1);
                    t.post(AlertKind::SaveResumeData { data });
                }
                Err(e) => {
                    t.ses.counters.add(Metric::ResumeFailed, 1);
                    t.post(AlertKind::SaveResumeDataFailed { error: io_info(e.to_string()) });
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_targets_are_checked() {
        assert_eq!(checked_name("a/b.bin").unwrap(), PathBuf::from("a/b.bin"));
        for bad in ["", "../x", "a/../b", "/abs", "a//b", "con", "a/\u{0}b"] {
            assert!(checked_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
