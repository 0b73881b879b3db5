//! Writes `include/krafty.h` from this crate's exported items (cbindgen). The header is
//! committed; it is rewritten only when its content changes, and CI checks it for drift.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=include/krafty.h");
    // The shared library's soname, for `libkrafty.so.0` installs.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libkrafty.so.0");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let header = match cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
    {
        Ok(h) => h,
        Err(e) => {
            // A source that does not parse yet: rustc reports the real error.
            println!("cargo:warning=cbindgen: {e}");
            return;
        }
    };
    let mut text = Vec::new();
    header.write(&mut text);
    let out = dir.join("include/krafty.h");
    if std::fs::read(&out).ok().as_deref() != Some(&text[..]) {
        std::fs::create_dir_all(dir.join("include")).expect("include dir");
        std::fs::write(&out, text).expect("write include/krafty.h");
    }
}
