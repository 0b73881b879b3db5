//! Rebalances as the application sees them: subscribing, the join round started from `poll`,
//! the assignment applied when it completes, and the listener calls around it, in Kafka's
//! order, on the polling thread.
//!
//! Eager assignors: everything owned is revoked (`on_partitions_revoked`, after an auto
//! commit) before the join starts. Cooperative ones (KIP-429): the member keeps reading what
//! it owns while the group settles; when the assignment arrives, only the partitions that
//! moved away are revoked, and the member rejoins at once so they can move. A membership that
//! was lost gives its partitions up through `on_partitions_lost`, without committing.

use std::sync::Arc;

use tokio::time::Instant;

use super::coordinator::Coordinator;
use super::listener::{ConsumerRebalanceListener, RebalanceContext};
use super::{KafkaConsumer, State, Subscription};
use crate::error::{KafkaError, Result};
use crate::topic_partition::TopicPartition;

type ListenerCall =
    fn(&mut dyn ConsumerRebalanceListener, &mut RebalanceContext<'_>, &[TopicPartition]);

impl<K: Send + 'static, V: Send + 'static> KafkaConsumer<K, V> {
    /// `subscribe` / `subscribe_pattern`: the new subscription takes effect with a rejoin on the
    /// next poll (a join under way for the old one is stopped).
    pub(super) async fn subscribe_to(
        &self,
        subscription: Subscription,
        listener: Option<Box<dyn ConsumerRebalanceListener>>,
    ) -> Result<()> {
        let mut st = self.inner.state.lock().await;
        // `subscribe` after `assign` is refused; `subscribe_pattern` replaces the assignment.
        if matches!(subscription, Subscription::Topics(_))
            && matches!(st.subscription, Subscription::Manual)
        {
            return Err(KafkaError::IllegalState(
                "subscribe() after assign(): call unsubscribe() first".into(),
            ));
        }
        self.cancel_join(&mut st).await;
        st.subscription = subscription;
        if listener.is_some() {
            st.listener = listener;
        }
        match &self.inner.coordinator {
            Some(c) => c.request_rejoin(),
            // No group: the next poll assigns every partition of the subscription.
            None => st.groupless_due = None,
        }
        Ok(())
    }

    /// `unsubscribe` and `close`: stops a join under way, revokes what the group assigned
    /// (auto commit, then the listener), and leaves the group.
    pub(super) async fn leave_group(&self, st: &mut State) {
        self.cancel_join(st).await;
        self.revoke_all(st).await;
        if let Some(c) = &self.inner.coordinator {
            c.leave().await;
        }
    }

    /// Calls a listener method with a context, then performs the seeks and the deferred
    /// commits it asked for (a commit it made "now" has already been answered).
    pub(super) async fn with_listener(
        &self,
        st: &mut State,
        partitions: &[TopicPartition],
        call: ListenerCall,
    ) {
        let Some(mut listener) = st.listener.take() else {
            return;
        };
        let positions = st.fetcher.positions();
        let mut ctx = RebalanceContext {
            positions: &positions,
            commits: Default::default(),
            seeks: Default::default(),
            group: self.group().cloned(),
            group_managed: st.subscription.group_managed(),
        };
        call(listener.as_mut(), &mut ctx, partitions);
        let commits = std::mem::take(&mut ctx.commits);
        let seeks = std::mem::take(&mut ctx.seeks);
        st.listener = Some(listener);
        for (tp, offset) in seeks {
            if let Err(e) = st.fetcher.seek(&tp, offset) {
                tracing::warn!("seek from the rebalance listener ignored: {e}");
            }
        }
        if let (false, Some(c)) = (commits.is_empty(), &self.inner.coordinator) {
            if let Err(e) = c.commit(&commits, st.subscription.group_managed()).await {
                tracing::warn!("commit from the rebalance listener failed: {e}");
            }
        }
    }

    /// Stops a join under way (the subscription changed, or the consumer is leaving); waits
    /// until its task has stopped, so nothing it does lands after what the caller does next.
    pub(super) async fn cancel_join(&self, st: &mut State) {
        if let Some((task, _)) = st.joining.take() {
            let parked = !task.is_finished();
            task.abort();
            let _ = task.await;
            if let (true, Some(c)) = (parked, &self.inner.coordinator) {
                // Its JoinGroup or SyncGroup may still be parked at the coordinator, which
                // answers a connection's requests in order: what comes next (LeaveGroup on
                // close) goes out on a fresh connection instead of waiting for the rebalance.
                c.drop_connection();
            }
        }
    }

    /// Revokes every owned partition (eager rebalance, unsubscribe, close).
    async fn revoke_all(&self, st: &mut State) {
        let owned = st.fetcher.assignment();
        if owned.is_empty() || !st.subscription.group_managed() {
            return;
        }
        self.auto_commit_now(st, Some(&owned)).await;
        self.with_listener(st, &owned, |l, c, p| l.on_partitions_revoked(c, p))
            .await;
        st.fetcher.assign(&[]);
    }

    /// Starts a rebalance the group asked for (revoking first where eager), and finishes one
    /// under way if it completes by `deadline`.
    pub(super) async fn maybe_rebalance(&self, st: &mut State, deadline: Instant) -> Result<()> {
        let Some(c) = self.inner.coordinator.clone() else {
            return self.maybe_assign_all(st).await;
        };
        if st.joining.is_none() && !self.start_join(st, &c).await? {
            return Ok(());
        }
        self.finish_join(st, &c, deadline).await
    }

    /// Revokes or loses what it must, then starts the join in the background; false when no
    /// rebalance is due.
    async fn start_join(&self, st: &mut State, c: &Arc<Coordinator>) -> Result<bool> {
        // The common case, checked before anything is copied: a settled topic subscription.
        if matches!(st.subscription, Subscription::Topics(_)) && c.is_stable() {
            return Ok(false);
        }
        let topics = match &st.subscription {
            Subscription::Topics(t) => t.clone(),
            Subscription::Pattern(..) => self.pattern_topics(st, c).await?,
            _ => return Ok(false),
        };
        let lost = c.take_lost();
        if !lost && c.is_stable() {
            return Ok(false);
        }
        let mut owned = st.fetcher.assignment();
        if lost && !owned.is_empty() {
            tracing::info!(group = %c.group_id, "partitions lost: {owned:?}");
            self.with_listener(st, &owned, |l, c, p| l.on_partitions_lost(c, p))
                .await;
            st.fetcher.assign(&[]);
            owned.clear();
        } else if !c.cooperative() && !owned.is_empty() {
            self.revoke_all(st).await;
            owned.clear();
        }
        let (group, assignors, from) = (c.clone(), self.inner.assignors.clone(), owned.clone());
        let task = tokio::spawn(async move { group.join(&topics, &from, &assignors).await });
        st.joining = Some((task, owned));
        Ok(true)
    }

    /// Waits until `deadline` (or a `wakeup`) for the join under way; once it is done, applies
    /// the assignment and runs the listener on this thread.
    async fn finish_join(&self, st: &mut State, c: &Coordinator, deadline: Instant) -> Result<()> {
        let Some((task, _)) = st.joining.as_mut() else {
            return Ok(());
        };
        // With partitions still owned (cooperative), poll goes on serving them and looks again
        // on its next pass; with none it may as well wait.
        let until = if st.fetcher.assignment().is_empty() {
            deadline
        } else {
            Instant::now()
        };
        let woken = self.inner.wake.notified();
        let joined = tokio::select! {
            joined = tokio::time::timeout_at(until, task) => match joined {
                Ok(joined) => joined,
                Err(_) => return Ok(()),
            },
            _ = woken => return Ok(()),
        };
        let (_, owned) = st.joining.take().expect("checked above");
        let assigned = joined
            .map_err(|e| KafkaError::IllegalState(format!("the group join task failed: {e}")))??;
        if c.cooperative() {
            let revoked: Vec<TopicPartition> = owned
                .iter()
                .filter(|tp| !assigned.contains(tp))
                .cloned()
                .collect();
            let added: Vec<TopicPartition> = assigned
                .iter()
                .filter(|tp| !owned.contains(tp))
                .cloned()
                .collect();
            if !revoked.is_empty() {
                self.auto_commit_now(st, Some(&revoked)).await;
                self.with_listener(st, &revoked, |l, c, p| l.on_partitions_revoked(c, p))
                    .await;
                // KIP-429: give the revoked partitions up, then rejoin so they can move.
                c.request_rejoin();
            }
            st.fetcher.assign(&assigned);
            self.with_listener(st, &added, |l, c, p| l.on_partitions_assigned(c, p))
                .await;
        } else {
            st.fetcher.assign(&assigned);
            self.with_listener(st, &assigned, |l, c, p| l.on_partitions_assigned(c, p))
                .await;
        }
        tracing::debug!(group = %c.group_id, generation = c.generation(), ?assigned, "joined group");
        Ok(())
    }
}
