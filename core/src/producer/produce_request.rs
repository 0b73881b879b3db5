//! The Produce request body, written by hand for versions 3 to 12 (v12 is v11 on the wire:
//! KIP-890 gave it a meaning, the leader adding the partition to the transaction).
//!
//! The protocol crate's encoder copies every record batch into the request buffer; this
//! writer hands the batches to the frame by reference (`network::FrameBuilder`), so a batch
//! is written to the socket from the buffer it was built in. Its output is checked byte for
//! byte against the crate's encoder for every version below.

use std::sync::Arc;

use bytes::{BufMut, Bytes};

use crate::error::{KafkaError, Result};
use crate::network::FrameBuilder;

/// Produce v9 and later use compact strings, arrays and bytes, and tagged fields.
const FIRST_FLEXIBLE: i16 = 9;

/// One Produce request: the batches for one leader, grouped by topic.
pub struct ProduceRequestBody {
    pub transactional_id: Option<Arc<str>>,
    pub acks: i16,
    pub timeout_ms: i32,
    /// Each topic once.
    pub topics: Vec<TopicBatches>,
}

/// A topic's partitions in a request, each with its encoded record batch.
pub type TopicBatches = (Arc<str>, Vec<(i32, Bytes)>);

impl ProduceRequestBody {
    /// Writes the body at `version` into `frame`.
    pub fn write(&self, frame: &mut FrameBuilder, version: i16) -> Result<()> {
        if !(3..=12).contains(&version) {
            return Err(KafkaError::Protocol(format!(
                "Produce v{version} is not written by this client"
            )));
        }
        let flexible = version >= FIRST_FLEXIBLE;
        let buf = frame.buf();
        put_nullable_string(buf, self.transactional_id.as_deref(), flexible)?;
        buf.put_i16(self.acks);
        buf.put_i32(self.timeout_ms);
        put_array_len(buf, self.topics.len(), flexible)?;
        for (topic, partitions) in &self.topics {
            let buf = frame.buf();
            put_nullable_string(buf, Some(topic), flexible)?;
            put_array_len(buf, partitions.len(), flexible)?;
            for (partition, records) in partitions {
                let buf = frame.buf();
                buf.put_i32(*partition);
                let len = i32::try_from(records.len())
                    .map_err(|_| KafkaError::Protocol("a record batch over 2 GiB".into()))?;
                if flexible {
                    put_uvarint(buf, len as u32 + 1);
                } else {
                    buf.put_i32(len);
                }
                frame.put_shared(records.clone());
                if flexible {
                    frame.buf().put_u8(0); // no tagged fields
                }
            }
            if flexible {
                frame.buf().put_u8(0);
            }
        }
        if flexible {
            frame.buf().put_u8(0);
        }
        Ok(())
    }
}

fn put_nullable_string(buf: &mut impl BufMut, s: Option<&str>, flexible: bool) -> Result<()> {
    match s {
        None if flexible => buf.put_u8(0),
        None => buf.put_i16(-1),
        Some(s) => {
            let len = i16::try_from(s.len())
                .map_err(|_| KafkaError::Protocol(format!("a string of {} bytes", s.len())))?;
            if flexible {
                put_uvarint(buf, len as u32 + 1);
            } else {
                buf.put_i16(len);
            }
            buf.put_slice(s.as_bytes());
        }
    }
    Ok(())
}

fn put_array_len(buf: &mut impl BufMut, n: usize, flexible: bool) -> Result<()> {
    let n = i32::try_from(n).map_err(|_| KafkaError::Protocol("an array too long".into()))?;
    if flexible {
        put_uvarint(buf, n as u32 + 1);
    } else {
        buf.put_i32(n);
    }
    Ok(())
}

fn put_uvarint(buf: &mut impl BufMut, mut n: u32) {
    while n >= 0x80 {
        buf.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    buf.put_u8(n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName, TransactionalId};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn body(transactional_id: Option<&str>) -> ProduceRequestBody {
        let batch =
            |n: usize, seed: u8| Bytes::from((0..n).map(|i| seed ^ i as u8).collect::<Vec<u8>>());
        ProduceRequestBody {
            transactional_id: transactional_id.map(Arc::from),
            acks: -1,
            timeout_ms: 30_000,
            topics: vec![
                (
                    Arc::from("orders"),
                    vec![(0, batch(100, 1)), (3, batch(4000, 2))],
                ),
                (Arc::from("t".repeat(200)), vec![(7, batch(70_000, 3))]),
                (Arc::from("empty-batch"), vec![(1, Bytes::new())]),
            ],
        }
    }

    fn crate_encoding(b: &ProduceRequestBody, version: i16) -> Vec<u8> {
        let req = ProduceRequest::default()
            .with_transactional_id(
                b.transactional_id
                    .as_ref()
                    .map(|t| TransactionalId(StrBytes::from_string(t.to_string()))),
            )
            .with_acks(b.acks)
            .with_timeout_ms(b.timeout_ms)
            .with_topic_data(
                b.topics
                    .iter()
                    .map(|(t, parts)| {
                        TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partition_data(
                                parts
                                    .iter()
                                    .map(|(p, r)| {
                                        PartitionProduceData::default()
                                            .with_index(*p)
                                            .with_records(Some(r.clone()))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let mut buf = BytesMut::new();
        req.encode(&mut buf, version).unwrap();
        let mut framed = (buf.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&buf);
        framed
    }

    #[test]
    fn every_version_matches_the_protocol_crates_encoding() {
        for txn in [None, Some("payments-tx")] {
            let b = body(txn);
            for version in 3..=12 {
                let mut frame = FrameBuilder::with_capacity(0);
                b.write(&mut frame, version).unwrap();
                assert_eq!(
                    frame.finish().to_vec(),
                    crate_encoding(&b, version),
                    "Produce v{version}, transactional id {txn:?}"
                );
            }
        }
    }

    #[test]
    fn versions_it_does_not_write_are_refused() {
        let mut frame = FrameBuilder::with_capacity(0);
        assert!(body(None).write(&mut frame, 13).is_err());
        assert!(body(None).write(&mut frame, 2).is_err());
    }
}
