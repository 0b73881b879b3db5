//! Fetch sessions (KIP-227): a consumer fetching many partitions names them once, in a full
//! fetch that opens a session; its later fetches are incremental: they carry only the
//! partitions whose fetch position changed (and those to forget), and the answer carries only
//! the partitions with records, an error, or a changed high watermark, last stable offset or
//! log start offset.
//!
//! The request's (session id, epoch) say which: epoch -1 fetches without a session (closing
//! session id if it names one), epoch 0 is a full fetch opening a new session (closing the
//! old one it names), a positive epoch is the next incremental fetch of an open session.
//! Sessions are kept up to `max.incremental.fetch.session.cache.slots` (1000); when full, one
//! unused for `min.incremental.fetch.session.eviction.ms` (2 minutes) makes room, else the
//! fetch goes without a session (session id 0 in the answer), as Kafka's cache does.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_response::FetchableTopicResponse;
use kafka_protocol::messages::{FetchRequest, TopicName};

use crate::sync::LockExt;

/// `max.incremental.fetch.session.cache.slots`.
const CACHE_SLOTS: usize = 1000;
/// `min.incremental.fetch.session.eviction.ms`.
const EVICTION_AFTER: Duration = Duration::from_secs(120);

pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
pub const INVALID_FETCH_SESSION_EPOCH: i16 = 71;

/// One partition a fetch reads: topic, partition, fetch offset, partition max bytes.
pub type Wanted = (TopicName, i32, i64, i32);

/// What one session remembers of a partition.
struct Cached {
    fetch_offset: i64,
    max_bytes: i32,
    /// (high watermark, last stable offset, log start offset) last answered.
    answered: Option<(i64, i64, i64)>,
}

struct Session {
    /// The epoch the next incremental fetch must carry.
    next_epoch: i32,
    partitions: BTreeMap<(TopicName, i32), Cached>,
    last_used: Instant,
}

/// How one fetch is to be answered.
pub struct FetchPlan {
    /// The session the answer names (0: none).
    pub session_id: i32,
    /// Answer only what changed (an incremental fetch).
    pub incremental: bool,
    /// The partitions to read (for an incremental fetch, the whole session's).
    pub partitions: Vec<Wanted>,
    /// A session error for the whole fetch (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH).
    pub error: i16,
}

#[derive(Default)]
pub struct FetchSessions {
    sessions: Mutex<HashMap<i32, Session>>,
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

fn requested(req: &FetchRequest) -> Vec<Wanted> {
    req.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.topic.clone(),
                    p.partition,
                    p.fetch_offset,
                    p.partition_max_bytes,
                )
            })
        })
        .collect()
}

impl FetchSessions {
    /// Resolves the request's session fields into what to read and how to answer.
    pub fn plan(&self, req: &FetchRequest, version: i16) -> FetchPlan {
        let full = |session_id: i32| FetchPlan {
            session_id,
            incremental: false,
            partitions: requested(req),
            error: 0,
        };
        if version < 7 {
            return full(0);
        }
        let mut sessions = self.sessions.locked();
        match req.session_epoch {
            -1 => {
                if req.session_id != 0 {
                    sessions.remove(&req.session_id);
                }
                full(0)
            }
            0 => {
                if req.session_id != 0 {
                    sessions.remove(&req.session_id);
                }
                let now = Instant::now();
                if sessions.len() >= CACHE_SLOTS {
                    let idle = sessions
                        .iter()
                        .filter(|(_, s)| now.duration_since(s.last_used) >= EVICTION_AFTER)
                        .min_by_key(|(_, s)| s.last_used)
                        .map(|(id, _)| *id);
                    match idle {
                        Some(id) => {
                            sessions.remove(&id);
                        }
                        None => return full(0),
                    }
                }
                let id = loop {
                    let id = (fastrand::u32(1..i32::MAX as u32)) as i32;
                    if !sessions.contains_key(&id) {
                        break id;
                    }
                };
                let partitions = requested(req)
                    .into_iter()
                    .map(|(t, p, offset, max_bytes)| {
                        let cached = Cached {
                            fetch_offset: offset,
                            max_bytes,
                            answered: None,
                        };
                        ((t, p), cached)
                    })
                    .collect();
                tracing::debug!(session = id, "fetch session opened");
                sessions.insert(
                    id,
                    Session {
                        next_epoch: 1,
                        partitions,
                        last_used: now,
                    },
                );
                full(id)
            }
            epoch => {
                let refuse = |error| FetchPlan {
                    session_id: 0,
                    incremental: false,
                    partitions: Vec::new(),
                    error,
                };
                let Some(session) = sessions.get_mut(&req.session_id) else {
                    return refuse(FETCH_SESSION_ID_NOT_FOUND);
                };
                if epoch != session.next_epoch {
                    return refuse(INVALID_FETCH_SESSION_EPOCH);
                }
                session.next_epoch = next_epoch(epoch);
                session.last_used = Instant::now();
                for (t, p, offset, max_bytes) in requested(req) {
                    let cached = session.partitions.entry((t, p)).or_insert(Cached {
                        fetch_offset: offset,
                        max_bytes,
                        answered: None,
                    });
                    cached.fetch_offset = offset;
                    cached.max_bytes = max_bytes;
                }
                for forgotten in &req.forgotten_topics_data {
                    for p in &forgotten.partitions {
                        session.partitions.remove(&(forgotten.topic.clone(), *p));
                    }
                }
                FetchPlan {
                    session_id: req.session_id,
                    incremental: true,
                    partitions: session
                        .partitions
                        .iter()
                        .map(|((t, p), c)| (t.clone(), *p, c.fetch_offset, c.max_bytes))
                        .collect(),
                    error: 0,
                }
            }
        }
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.sessions.locked().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Notes what the answer to session `id` says of each partition and, for an incremental
    /// fetch, keeps in it only the partitions with records, an error or changed offsets.
    pub fn answered(&self, id: i32, incremental: bool, topics: &mut Vec<FetchableTopicResponse>) {
        if id == 0 {
            return;
        }
        let mut sessions = self.sessions.locked();
        let Some(session) = sessions.get_mut(&id) else {
            return;
        };
        for t in topics.iter_mut() {
            t.partitions.retain(|p| {
                let now = (p.high_watermark, p.last_stable_offset, p.log_start_offset);
                let has_records = p.records.as_ref().is_some_and(|r| !r.is_empty());
                let Some(cached) = session
                    .partitions
                    .get_mut(&(t.topic.clone(), p.partition_index))
                else {
                    return true;
                };
                let changed = cached.answered != Some(now);
                cached.answered = Some(now);
                !incremental || has_records || p.error_code != 0 || changed
            });
        }
        topics.retain(|t| !t.partitions.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_advance_and_wrap_past_the_maximum() {
        assert_eq!(next_epoch(1), 2);
        assert_eq!(next_epoch(i32::MAX), 1);
    }
}
