//! Forwarding the engine's `tracing` events to a C callback.

use std::ffi::{c_char, c_void};
use std::fmt::Write as _;

use once_cell::sync::OnceCell;
use parking_lot::RwLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use super::boundary::{code, ffi_call};
use super::error::{cstring, fail_with, lt_error, LT_ERROR_INVALID_ARG};
use super::session::UserData;

/// Log levels for `lt_set_log_callback`.
pub const LT_LOG_ERROR: i32 = 1;
/// Log level: warnings and errors.
pub const LT_LOG_WARN: i32 = 2;
/// Log level: informational events and above.
pub const LT_LOG_INFO: i32 = 3;
/// Log level: debug events and above.
pub const LT_LOG_DEBUG: i32 = 4;
/// Log level: everything.
pub const LT_LOG_TRACE: i32 = 5;

/// A log callback: `level` is an `LT_LOG_*` value, `target` the engine
/// module ("lt::engine::peer"), `message` the event with its fields
/// ("peer disconnected addr=1.2.3.4:6881"). Both strings are valid only
/// during the call. It runs on library threads, must be quick, must not
/// call back into the library, and must not unwind or longjmp.
pub type lt_log_fn = Option<
    unsafe extern "C" fn(user: *mut c_void, level: i32, target: *const c_char, message: *const c_char),
>;

struct Sink {
    f: unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const c_char),
    user: UserData,
    max_level: i32,
}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);
static INSTALLED: OnceCell<bool> = OnceCell::new();

fn level_number(l: &Level) -> i32 {
    match *l {
        Level::ERROR => LT_LOG_ERROR,
        Level::WARN => LT_LOG_WARN,
        Level::INFO => LT_LOG_INFO,
        Level::DEBUG => LT_LOG_DEBUG,
        Level::TRACE => LT_LOG_TRACE,
    }
}

struct CLayer;

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for CLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let sink = SINK.read();
        let Some(sink) = sink.as_ref() else { return };
        let level = level_number(event.metadata().level());
        if level > sink.max_level {
            return;
        }
        let mut v = MessageVisitor(String::new());
        event.record(&mut v);
        let target = cstring(event.metadata().target());
        let message = cstring(&v.0);
        // SAFETY: the host's callback, with the user pointer it registered;
        // both strings outlive the call.
        unsafe { (sink.f)(sink.user.0, level, target.as_ptr(), message.as_ptr()) };
    }
}

/// Sends the library's log events at `level` (`LT_LOG_*`) and more severe
/// to `fn_`; a NULL `fn_` stops logging. Process-wide: it covers every
/// session. The first call installs the library's `tracing` subscriber if
/// the process has none yet (a Rust host with its own subscriber keeps it,
/// and then receives the events itself).
///
/// **Returns** `LT_OK`; `LT_ERROR_INVALID_ARG` for a level outside 1..=5.
///
/// # Safety
/// `user` must stay valid while the callback is installed.
#[no_mangle]
pub unsafe extern "C" fn lt_set_log_callback(fn_: lt_log_fn, user: *mut c_void, level: i32) -> lt_error {
    ffi_call(|| {
        code((|| {
            if !(LT_LOG_ERROR..=LT_LOG_TRACE).contains(&level) {
                return Err(fail_with(LT_ERROR_INVALID_ARG, format!("log level {level} is not 1..=5")));
            }
            INSTALLED.get_or_init(|| tracing_subscriber::registry().with(CLayer).try_init().is_ok());
            *SINK.write() = fn_.map(|f| Sink { f, user: UserData(user), max_level: level });
            Ok(())
        })())
    })
}
