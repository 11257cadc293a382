//! Library version.

use std::ffi::c_char;

/// The ABI version: bumped when a released function or struct changes
/// incompatibly. Also in the header as `LT_ABI_VERSION`.
pub const LT_ABI: u32 = 1;

/// The library version, "MAJOR.MINOR.PATCH" (the header's
/// `LT_VERSION_MAJOR/MINOR/PATCH` describe the header you compiled against).
///
/// **Returns** a static string; never NULL, never to be freed.
#[no_mangle]
pub extern "C" fn lt_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// The library's ABI version, to compare with the header's `LT_ABI_VERSION`.
#[no_mangle]
pub extern "C" fn lt_abi_version() -> u32 {
    LT_ABI
}

/// The library version as a number: `(MAJOR << 16) | (MINOR << 8) | PATCH`,
/// to compare with the header's `LT_VERSION_NUMBER`.
#[no_mangle]
pub extern "C" fn lt_version_number() -> u32 {
    let p = |s: &str| s.parse::<u32>().unwrap_or(0);
    (p(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
        | (p(env!("CARGO_PKG_VERSION_MINOR")) << 8)
        | p(env!("CARGO_PKG_VERSION_PATCH"))
}
