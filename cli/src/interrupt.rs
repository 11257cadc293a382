//! Ctrl-C and SIGTERM: the first one asks the running command to stop
//! cleanly (the loops poll [`requested`]); a second one exits at once, for a
//! user who does not want to wait for trackers and disks.
//!
//! The `ctrlc` crate rather than tokio's signal support: the command loops
//! are plain blocking code over the engine's synchronous API, so a flag set
//! from ctrlc's own thread is all they need, and the tokio `signal` feature
//! would also be switched on for the library in every workspace build.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler. Call once, before starting a session.
pub fn install() -> Result<(), String> {
    ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(crate::EXIT_INTERRUPTED));
        }
    })
    .map_err(|e| format!("installing the Ctrl-C handler: {e}"))
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
