//! Records as a `futures_core::Stream` ([`KafkaConsumer::stream`]): each item is one
//! [`KafkaConsumer::recv`], so a stream dropped while it waits has taken nothing it did not
//! return.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::{ConsumerRecord, KafkaConsumer};
use crate::error::Result;

type RecvFuture<K, V> = Pin<Box<dyn Future<Output = Result<ConsumerRecord<K, V>>> + Send>>;

/// Records as a `Stream` (see [`KafkaConsumer::stream`]).
pub struct RecordStream<K, V> {
    consumer: KafkaConsumer<K, V>,
    /// The `recv` under way, kept across `Pending`s.
    next: Option<RecvFuture<K, V>>,
    /// An error ended the stream.
    done: bool,
}

impl<K, V> RecordStream<K, V> {
    pub(super) fn new(consumer: KafkaConsumer<K, V>) -> Self {
        RecordStream {
            consumer,
            next: None,
            done: false,
        }
    }
}

impl<K: Send + 'static, V: Send + 'static> Stream for RecordStream<K, V> {
    type Item = Result<ConsumerRecord<K, V>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.next.is_none() {
            let consumer = self.consumer.clone();
            self.next = Some(Box::pin(async move { consumer.recv().await }));
        }
        let fut = self.next.as_mut().expect("set above");
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                self.next = None;
                if r.is_err() {
                    self.done = true;
                }
                Poll::Ready(Some(r))
            }
        }
    }
}
