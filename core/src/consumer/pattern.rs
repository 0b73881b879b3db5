//! Pattern subscriptions (`subscribe_pattern`): the regex matches whole topic names, and is
//! resolved against the cluster's full topic list (internal topics excluded) when the
//! subscription starts and again every few seconds from `poll`. A change in the matching
//! topics makes the member rejoin with the new list.

use std::collections::BTreeSet;
use std::time::Duration;

use regex::Regex;
use tokio::time::Instant;

use super::coordinator::Coordinator;
use super::{KafkaConsumer, State, Subscription};
use crate::error::{KafkaError, Result};

/// How often `poll` resolves the pattern again.
const RECHECK: Duration = Duration::from_secs(3);

/// The pattern as a regex matching whole topic names.
pub(super) fn compile(pattern: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| KafkaError::IllegalState(format!("invalid pattern: {e}")))
}

impl<K: Send + 'static, V: Send + 'static> KafkaConsumer<K, V> {
    /// The topics a pattern subscription matches, resolved again when due; a changed list
    /// asks the group for a rejoin.
    pub(super) async fn pattern_topics(
        &self,
        st: &mut State,
        c: &Coordinator,
    ) -> Result<BTreeSet<String>> {
        let Subscription::Pattern(regex, current) = &st.subscription else {
            return Ok(BTreeSet::new());
        };
        if current.is_empty() || st.last_pattern_check.elapsed() > RECHECK {
            let regex = regex.clone();
            let found = self.resolve_pattern(&regex).await?;
            st.last_pattern_check = Instant::now();
            if let Subscription::Pattern(_, current) = &mut st.subscription {
                if *current != found {
                    *current = found;
                    c.request_rejoin();
                }
            }
        }
        match &st.subscription {
            Subscription::Pattern(_, t) => Ok(t.clone()),
            _ => Ok(BTreeSet::new()),
        }
    }

    /// Topics matching the pattern, from the cluster's full topic list.
    async fn resolve_pattern(&self, regex: &Regex) -> Result<BTreeSet<String>> {
        Ok(self
            .all_topics()
            .await?
            .into_keys()
            .filter(|n| regex.is_match(n))
            .collect())
    }
}
