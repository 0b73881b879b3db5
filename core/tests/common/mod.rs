//! Shared helpers for the client's integration tests: an in-process dev broker and a raw
//! reader that fetches a partition with plain Fetch requests (independent of the consumer).
#![allow(dead_code)]

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use krafty::config::ClientConfig;
use krafty::network::NetworkClient;
use krafty::record::{decode_batches, ConsumerRecordData};
use krafty_broker::{Broker, BrokerHandle};

pub async fn broker(partitions: i32) -> BrokerHandle {
    Broker::builder()
        .listen("127.0.0.1:0")
        .config("num.partitions", partitions.to_string())
        .start()
        .await
        .expect("broker starts")
}

pub fn client_config(bootstrap: &str) -> ClientConfig {
    ClientConfig {
        bootstrap_servers: vec![bootstrap.to_string()],
        ..ClientConfig::default()
    }
}

/// Every record of `topic`-`partition`, read with raw Fetch requests.
pub async fn read_all(bootstrap: &str, topic: &str, partition: i32) -> Vec<ConsumerRecordData> {
    let client = NetworkClient::connect(client_config(bootstrap))
        .await
        .unwrap();
    let node = client.metadata().brokers[0].node_id;
    let mut offset = 0;
    let mut out = Vec::new();
    loop {
        let req = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(50 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(50 << 20)])]);
        let (resp, _) = client.send(node, req).await.unwrap();
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch error");
        let data: Bytes = p.records.clone().unwrap_or_default();
        let (records, next) = decode_batches(&data, offset, true, None).unwrap();
        out.extend(records);
        match next {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
        if offset >= p.high_watermark {
            break;
        }
    }
    client.close().await;
    out
}
