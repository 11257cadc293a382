//! The panic boundary and the helpers every entry point uses.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{lt_error, set_last_error, LT_ERROR_INVALID_ARG, LT_ERROR_NULL_ARG, LT_ERROR_PANIC};

/// What an entry point answers when its body panicked.
pub trait PanicDefault {
    fn panic_default() -> Self;
}

impl PanicDefault for lt_error {
    fn panic_default() -> Self {
        LT_ERROR_PANIC
    }
}

macro_rules! zero_default {
    ($($t:ty),*) => { $(impl PanicDefault for $t { fn panic_default() -> Self { Default::default() } })* };
}
zero_default!((), u32, u64, i64, usize, u16, bool);

impl<T> PanicDefault for *mut T {
    fn panic_default() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> PanicDefault for *const T {
    fn panic_default() -> Self {
        std::ptr::null()
    }
}

/// Runs an entry point's body, turning a panic into the return type's
/// panic value (`LT_ERROR_PANIC`, NULL or 0) and recording the message.
pub fn ffi_call<R: PanicDefault>(f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(format!("internal error (panic): {what}"));
            R::panic_default()
        }
    }
}

/// Borrows a C string argument as UTF-8. NULL and invalid UTF-8 are errors
/// (recorded as the thread's last error).
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for the call.
pub unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, lt_error> {
    if p.is_null() {
        set_last_error(format!("{what} is NULL"));
        return Err(LT_ERROR_NULL_ARG);
    }
    // SAFETY: the caller promises a valid NUL-terminated string.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| {
        set_last_error(format!("{what} is not valid UTF-8"));
        LT_ERROR_INVALID_ARG
    })
}

/// The engine's static name (an operation, an announce event, a lookup
/// kind) as a C string that lives as long as the library: made once per
/// name and kept, so a caller may hold the pointer forever.
pub fn static_cstr(name: &'static str) -> *const c_char {
    static NAMES: once_cell::sync::Lazy<
        parking_lot::Mutex<std::collections::HashMap<&'static str, Box<CStr>>>,
    > = once_cell::sync::Lazy::new(Default::default);
    let mut names = NAMES.lock();
    names.entry(name).or_insert_with(|| super::error::cstring(name).into_boxed_c_str()).as_ptr()
}

/// Checks that a pointer argument is not NULL.
pub fn non_null<T>(p: *const T, what: &str) -> Result<(), lt_error> {
    if p.is_null() {
        set_last_error(format!("{what} is NULL"));
        Err(LT_ERROR_NULL_ARG)
    } else {
        Ok(())
    }
}

/// Checks a bytes out-parameter pair and clears it (NULL, 0), so a caller
/// sees no stale buffer when the call fails (C-API.md: out-parameters are
/// cleared on entry, written only on success).
///
/// # Safety
/// Each pointer must be NULL or writable.
pub unsafe fn clear_bytes_out(data_out: *mut *mut u8, len_out: *mut usize) -> Result<(), lt_error> {
    non_null(data_out, "data_out")?;
    non_null(len_out, "len_out")?;
    // SAFETY: both checked non-NULL; the caller promises they are writable.
    unsafe {
        *data_out = std::ptr::null_mut();
        *len_out = 0;
    }
    Ok(())
}

/// Turns a `Result<(), lt_error>` body into the code it answers.
pub fn code(r: Result<(), lt_error>) -> lt_error {
    match r {
        Ok(()) => super::error::LT_OK,
        Err(e) => e,
    }
}

/// Copies `s` into a fixed C char array, NUL-terminated, truncated at a
/// UTF-8 character boundary when it does not fit.
pub fn copy_to_array(s: &str, dst: &mut [c_char]) {
    if dst.is_empty() {
        return;
    }
    let mut n = s.len().min(dst.len() - 1);
    while n > 0 && !s.is_char_boundary(n) {
        n -= 1;
    }
    for (d, b) in dst.iter_mut().zip(s.as_bytes()[..n].iter()) {
        *d = *b as c_char;
    }
    dst[n] = 0;
}

/// Copies `s` into a caller buffer of `cap` bytes (NUL-terminated,
/// truncated at a character boundary) and answers the full length
/// without the NUL, like snprintf.
///
/// # Safety
/// `buf` must be NULL or valid for `cap` bytes.
pub unsafe fn copy_to_buf(s: &str, buf: *mut c_char, cap: usize) -> usize {
    if !buf.is_null() && cap > 0 {
        // SAFETY: the caller promises `buf` is valid for `cap` bytes.
        let dst = unsafe { std::slice::from_raw_parts_mut(buf, cap) };
        copy_to_array(s, dst);
    }
    s.len()
}

/// Writes at most `cap` converted `items` to the caller's array `out` of
/// plain values (ids, counters: never structs, which use
/// `fill_struct_array`) and the total number of items to `*count_out`
/// (which may exceed `cap`). `out` may be NULL when `cap` is 0.
///
/// # Safety
/// `out` must be valid for `cap` elements; `count_out` writable.
pub unsafe fn fill_array<T, U>(
    items: &[T],
    out: *mut U,
    cap: usize,
    count_out: *mut usize,
    what: &str,
    convert: impl Fn(&T) -> U,
) -> Result<(), lt_error> {
    non_null(count_out, "count_out")?;
    if cap > 0 {
        non_null(out, what)?;
    }
    for (i, item) in items.iter().take(cap).enumerate() {
        // SAFETY: i < cap elements, as the caller promises.
        unsafe { out.add(i).write(convert(item)) };
    }
    // SAFETY: checked non-NULL.
    unsafe { *count_out = items.len() };
    Ok(())
}

/// An output struct that can grow: its first field is `struct_size`, the
/// number of bytes the library wrote, so a program built against an older
/// (smaller) struct and one built against a newer (larger) struct both
/// work with any version of the library.
pub trait GrowableStruct: Sized {
    /// Records `n`, the bytes of the struct the library writes.
    fn set_struct_size(&mut self, n: u32);
}

/// Implements [`GrowableStruct`] for output structs whose first field is
/// `struct_size: u32`, as every one of them is.
macro_rules! growable_struct {
    ($($t:ty),+ $(,)?) => {
        $(impl $crate::ffi::boundary::GrowableStruct for $t {
            fn set_struct_size(&mut self, n: u32) {
                self.struct_size = n;
            }
        })+
    };
}
pub(crate) use growable_struct;

/// The smallest struct size a caller may pass: `struct_size` plus the
/// padding after it.
pub const MIN_STRUCT_SIZE: usize = 8;

/// Writes `min(size, sizeof(T))` bytes of `value` to `dst`, with
/// `struct_size` set to that number: a newer library never writes past an
/// older program's struct, and a newer program sees which fields an older
/// library filled. Answers the number of bytes written.
///
/// # Safety
/// `dst` must be valid for `size` bytes (it need not be aligned).
pub unsafe fn write_struct<T: GrowableStruct>(mut value: T, dst: *mut u8, size: usize) -> usize {
    let n = size.min(std::mem::size_of::<T>());
    value.set_struct_size(n as u32);
    // SAFETY: value is a valid T of at least n bytes; dst is valid for
    // size >= n bytes, as the caller promises; they cannot overlap.
    unsafe { std::ptr::copy_nonoverlapping(&value as *const T as *const u8, dst, n) };
    n
}

/// Checks a caller's struct size against `MIN_STRUCT_SIZE`.
pub fn check_struct_size(size: usize, what: &str) -> Result<(), lt_error> {
    if size < MIN_STRUCT_SIZE {
        super::error::set_last_error(format!(
            "{what}: size {size} is too small; pass sizeof the struct from lt.h"
        ));
        return Err(super::error::LT_ERROR_BUFFER_TOO_SMALL);
    }
    Ok(())
}

/// Writes at most `cap` converted `items` to the caller's array `out`, whose
/// elements are `elem_size` bytes apart (the caller's `sizeof`): each gets
/// `min(elem_size, sizeof(U))` bytes, as `write_struct` writes them. The
/// total number of items goes to `*count_out` (it may exceed `cap`). `out`
/// may be NULL when `cap` is 0.
///
/// # Safety
/// `out` must be valid for `cap * elem_size` bytes; `count_out` writable.
pub unsafe fn fill_struct_array<T, U: GrowableStruct>(
    items: &[T],
    out: *mut U,
    elem_size: usize,
    cap: usize,
    count_out: *mut usize,
    what: &str,
    convert: impl Fn(&T) -> U,
) -> Result<(), lt_error> {
    non_null(count_out, "count_out")?;
    if cap > 0 {
        non_null(out, what)?;
        check_struct_size(elem_size, what)?;
    }
    for (i, item) in items.iter().take(cap).enumerate() {
        // SAFETY: element i < cap starts i * elem_size bytes in, within the
        // cap * elem_size bytes the caller promises.
        unsafe { write_struct(convert(item), (out as *mut u8).add(i * elem_size), elem_size) };
    }
    // SAFETY: checked non-NULL.
    unsafe { *count_out = items.len() };
    Ok(())
}

/// Frees an object the library handed out with `Box::into_raw` (every
/// `lt_*_free` of a boxed object calls this); NULL is a no-op.
///
/// # Safety
/// `p` must be NULL or from `Box::into_raw` of a `T`, not yet freed.
pub unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: the caller promises p came from Box::into_raw, once.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Allocates a copy of `data` with malloc, for the caller to release with
/// `lt_free`.
pub fn malloc_copy(data: &[u8]) -> *mut u8 {
    // SAFETY: malloc of a positive size; the result is checked for NULL.
    let p = unsafe { libc::malloc(data.len().max(1)) } as *mut u8;
    if !p.is_null() {
        // SAFETY: p has room for data.len() bytes and does not overlap data.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_codes() {
        let r: lt_error = ffi_call(|| panic!("boom"));
        assert_eq!(r, LT_ERROR_PANIC);
        let p: *mut u8 = ffi_call(|| panic!("boom"));
        assert!(p.is_null());
    }

    #[test]
    fn truncation_keeps_utf8() {
        let mut buf = [0 as c_char; 4];
        copy_to_array("aé€", &mut buf);
        let bytes: Vec<u8> = buf.iter().map(|c| *c as u8).collect();
        assert_eq!(&bytes, &[b'a', 0xc3, 0xa9, 0]);
    }
}
