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
