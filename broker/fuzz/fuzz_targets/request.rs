//! Any frame the wire can carry, through the decoder the server runs on it
//! (`krafty_broker::wire::decode_request`): it must return an error, never panic, and never ask
//! for more memory than libFuzzer's `-malloc_limit_mb` (a crafted count must not allocate).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut frame = Bytes::copy_from_slice(data);
    let _ = krafty_broker::wire::decode_request(&mut frame, 2);
});
