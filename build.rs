//! Generates include/lt.h from src/ffi with cbindgen, with version macros
//! from Cargo.toml, and sets the shared library's soname.

use std::env;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let major: u32 = env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default().parse().unwrap_or(0);
    let minor: u32 = env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default().parse().unwrap_or(0);
    let patch: u32 = env::var("CARGO_PKG_VERSION_PATCH").unwrap_or_default().parse().unwrap_or(0);
    let abi = 1;
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblt.so.{abi}");
    soname_link(abi);

    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    config.after_includes = Some(format!(
        "\n#define LT_VERSION_MAJOR {major}\n#define LT_VERSION_MINOR {minor}\n#define LT_VERSION_PATCH {patch}\n\
         #define LT_VERSION_NUMBER (((LT_VERSION_MAJOR) << 16) | ((LT_VERSION_MINOR) << 8) | (LT_VERSION_PATCH))\n\
         #define LT_ABI_VERSION {abi}\n"
    ));
    config.trailer = Some(
        "\n/** Initializer that sets struct_size: `lt_stats_t s = LT_STATS_INIT;` */\n\
         #define LT_STATS_INIT { sizeof(lt_stats_t), 0 }\n"
            .to_string(),
    );
    // Only src/ffi is parsed (cbindgen follows its `mod` lines): the header
    // declares the C API and nothing of the engine's own constants.
    let builder = cbindgen::Builder::new().with_config(config).with_src(dir.join("src/ffi/mod.rs"));
    let bindings = builder.generate();
    match bindings {
        Ok(b) => {
            b.write_to_file(dir.join("include/lt.h"));
        }
        Err(e) => {
            // A broken header must not be silent, but cbindgen parse errors in
            // work-in-progress code should not stop `cargo check` either.
            println!("cargo:warning=cbindgen failed, include/lt.h not regenerated: {e}");
        }
    }
}

/// A program linked with `-llt` asks for the soname, `liblt.so.1`, at run
/// time, but cargo writes only `liblt.so`. Put the link an installed library
/// would have beside it in the profile directory (`target/release`,
/// `target/debug`), so a program built against that directory as the README
/// says starts without manual steps. The link is relative and is made
/// before the library exists; it resolves once cargo has linked it.
fn soname_link(abi: u32) {
    let Ok(out) = env::var("OUT_DIR") else { return };
    // OUT_DIR is <profile dir>/build/lt-<hash>/out.
    let Some(profile_dir) = PathBuf::from(out).ancestors().nth(3).map(PathBuf::from) else { return };
    let link = profile_dir.join(format!("liblt.so.{abi}"));
    if std::fs::read_link(&link).is_ok_and(|t| t == std::path::Path::new("liblt.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink("liblt.so", &link) {
        println!("cargo:warning=could not create {}: {e}", link.display());
    }
}
