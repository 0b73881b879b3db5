//! What one client's connections did, counted as it happens (the Java client's
//! `connection-creation-total`, `successful-reauthentication-total` and
//! `failed-reauthentication-total`), read as a snapshot in the producer's and consumer's
//! metrics.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct NetworkMetrics {
    connections_created: AtomicU64,
    reauthentications: AtomicU64,
    failed_reauthentications: AtomicU64,
}

/// A point-in-time view of [`NetworkMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionMetrics {
    /// Connections opened (and authenticated) to any broker.
    pub connection_creation_total: u64,
    /// Sessions renewed on their connection before the broker's session lifetime ran out
    /// (KIP-368).
    pub successful_reauthentication_total: u64,
    /// Re-authentications refused; each closed its connection.
    pub failed_reauthentication_total: u64,
}

impl NetworkMetrics {
    pub fn connection_created(&self) {
        self.connections_created.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reauthenticated(&self, ok: bool) {
        let counter = if ok {
            &self.reauthentications
        } else {
            &self.failed_reauthentications
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ConnectionMetrics {
        ConnectionMetrics {
            connection_creation_total: self.connections_created.load(Ordering::Relaxed),
            successful_reauthentication_total: self.reauthentications.load(Ordering::Relaxed),
            failed_reauthentication_total: self.failed_reauthentications.load(Ordering::Relaxed),
        }
    }
}
