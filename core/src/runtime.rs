//! Where the client's background tasks run.
//!
//! Inside a tokio runtime the client uses it; from plain threads (and from the Python, Node and
//! C bindings) it uses one process-wide runtime it owns, so no caller needs a runtime.

/// The runtime handle background tasks are spawned on.
pub fn handle() -> tokio::runtime::Handle {
    todo!("runtime")
}
