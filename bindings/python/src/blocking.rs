//! Running core futures from Python threads.
//!
//! Every blocking call releases the GIL and runs on the clients' runtime (`runtime.rs`) in
//! short slices, checking for signals between them, so Ctrl-C interrupts a poll or a flush
//! (the future is dropped, which is how every core operation is cancelled).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

const SLICE: Duration = Duration::from_millis(100);

/// Runs `fut` to completion on the clients' runtime with the GIL released.
pub fn wait<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    wait_on(py, crate::runtime::clients(), fut)
}

/// Runs `fut` to completion on `rt` (the clients' or the DevBrokers') with the GIL released.
pub fn wait_on<F>(py: Python<'_>, rt: &'static Runtime, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut fut = pin!(fut);
    loop {
        let slice = py.detach(|| {
            crate::runtime::block_on(rt, async { tokio::time::timeout(SLICE, &mut fut).await })
        });
        match slice {
            Ok(out) => return Ok(out),
            Err(_) => py.check_signals()?,
        }
    }
}

/// Like [`wait`], but first polls once with the GIL held: a send that has room in the
/// buffer completes without a thread switch, which is most of a send loop's cost.
pub fn wait_fast<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut fut = pin!(fut);
    let polled = {
        // Not cached: after a fork the child's runtime is a new one.
        let _rt = crate::runtime::handle().enter();
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    };
    match polled {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => wait(py, fut),
    }
}
