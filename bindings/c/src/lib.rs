//! libkrafty: the C API of Krafty (`include/krafty.h`, generated from this crate by cbindgen).
//!
//! Conversions only: C buffers, strings and callbacks in, the `krafty` core and the
//! `krafty-broker` dev broker underneath. Every exported function is a panic boundary (a
//! panic becomes `KRAFTY_RESP_ERR__INTERNAL`, never an unwind into C), checks its pointers
//! for NULL, and reports failures as a stable numeric code plus a message (`errstr` buffers,
//! `krafty_last_error()`).

mod broker;
mod config;
mod consumer;
mod errors;
mod message;
mod producer;
mod transactions;

pub use broker::*;
pub use config::*;
pub use consumer::*;
pub use errors::*;
pub use message::*;
pub use producer::*;
pub use transactions::*;

use std::ffi::c_char;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: krafty_broker::ServerAllocator = krafty_broker::ServerAllocator;

/// libkrafty's version, e.g. "0.1.0" (static; never NULL).
#[no_mangle]
pub extern "C" fn krafty_version_str() -> *const c_char {
    static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}
