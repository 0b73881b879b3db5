//! When a connection's SASL session must be renewed (KIP-368).
//!
//! A broker with `connections.max.reauth.ms` tells each session's lifetime in its
//! SaslAuthenticate response and closes a connection whose session has ended as soon as it
//! carries anything but a new authentication. The client therefore runs the exchange again on
//! the same connection before then: at a random point between 85% and 95% of the lifetime (as
//! Java's client, so many connections made together do not all renew at once), checked before
//! each request is written, so an idle connection costs nothing. Requests wait while the
//! renewal runs; responses to requests already sent arrive as usual.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Never due.
const NEVER: u64 = u64::MAX;

pub(super) struct Reauthentication {
    /// Milliseconds after `base` when the session is to be renewed, or [`NEVER`].
    due_ms: AtomicU64,
    base: Instant,
    /// One renewal at a time; a request that finds one due waits on it.
    pub running: tokio::sync::Mutex<()>,
}

impl Default for Reauthentication {
    fn default() -> Self {
        Reauthentication {
            due_ms: AtomicU64::new(NEVER),
            base: Instant::now(),
            running: tokio::sync::Mutex::new(()),
        }
    }
}

impl Reauthentication {
    /// A session began now, lasting `lifetime` (`None`: it does not expire).
    pub fn session_started(&self, lifetime: Option<Duration>) {
        let due = match lifetime {
            None => NEVER,
            Some(l) => {
                let at = self.base.elapsed() + l.mul_f64(0.85 + 0.10 * fastrand::f64());
                at.as_millis() as u64
            }
        };
        self.due_ms.store(due, Ordering::Relaxed);
    }

    pub fn is_due(&self) -> bool {
        let due = self.due_ms.load(Ordering::Relaxed);
        due != NEVER && self.base.elapsed().as_millis() as u64 >= due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_between_85_and_95_percent_of_the_lifetime() {
        let r = Reauthentication::default();
        assert!(!r.is_due());
        r.session_started(None);
        assert!(!r.is_due());
        for _ in 0..100 {
            r.session_started(Some(Duration::from_secs(100)));
            let due = r.due_ms.load(Ordering::Relaxed);
            assert!((85_000..=95_010).contains(&due), "{due}");
        }
        r.session_started(Some(Duration::ZERO));
        assert!(r.is_due());
    }
}
