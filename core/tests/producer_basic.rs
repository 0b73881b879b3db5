//! The producer against the in-process dev broker over TCP.

mod common;

use std::time::Duration;

use krafty::producer::{murmur2_partition, KafkaProducer, ProducerConfig, ProducerRecord};
use krafty::serialization::StringSerde;
use krafty::KafkaError;

async fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> KafkaProducer<String, String> {
    let mut props = vec![("bootstrap.servers", bootstrap)];
    props.extend_from_slice(extra);
    KafkaProducer::new(
        ProducerConfig::from_properties(props).unwrap(),
        StringSerde,
        StringSerde,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_by_murmur2_in_order_with_exact_offsets() {
    let broker = common::broker(3).await;
    let p = producer(&broker.bootstrap_servers(), &[]).await;
    let mut futures = Vec::new();
    for i in 0..300 {
        let r = ProducerRecord::new("orders", format!("value-{i}"))
            .with_key(format!("key-{}", i % 10))
            .with_header("n", i.to_string());
        futures.push(p.send(r).await.unwrap());
    }
    let mut per_partition = vec![Vec::new(); 3];
    for (i, f) in futures.into_iter().enumerate() {
        let md = f.await.unwrap();
        let key = format!("key-{}", i % 10);
        assert_eq!(md.partition, murmur2_partition(key.as_bytes(), 3), "{key}");
        per_partition[md.partition as usize].push((md.offset, i));
    }
    for (partition, sent) in per_partition.iter().enumerate() {
        let offsets: Vec<i64> = sent.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..sent.len() as i64).collect::<Vec<_>>(),
            "dense offsets in send order"
        );
        let stored =
            common::read_all(&broker.bootstrap_servers(), "orders", partition as i32).await;
        assert_eq!(stored.len(), sent.len());
        for (rec, (_, i)) in stored.iter().zip(sent) {
            assert_eq!(rec.value.as_deref(), Some(format!("value-{i}").as_bytes()));
            assert_eq!(
                rec.key.as_deref(),
                Some(format!("key-{}", i % 10).as_bytes())
            );
            assert_eq!(
                rec.headers[0].value.as_deref(),
                Some(i.to_string().as_bytes())
            );
        }
    }
    p.close(Duration::from_secs(5)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acks_level_and_codec_delivers() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let mut expected = 0;
    for acks in ["0", "1", "all"] {
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
            let p = producer(
                &bs,
                &[
                    ("acks", acks),
                    ("compression.type", codec),
                    ("linger.ms", "2"),
                ],
            )
            .await;
            let mut fs = Vec::new();
            for i in 0..20 {
                fs.push(
                    p.send(ProducerRecord::new("codecs", format!("{acks}-{codec}-{i}")))
                        .await
                        .unwrap(),
                );
            }
            for f in fs {
                let md = f.await.unwrap();
                if acks == "0" {
                    assert_eq!(md.offset, -1, "acks=0 has no offset");
                } else {
                    assert!(md.offset >= 0);
                }
            }
            p.close(Duration::from_secs(5)).await.unwrap();
            expected += 20;
        }
    }
    // acks=0 gives no acknowledgement: wait until the broker has everything.
    let mut stored = Vec::new();
    for _ in 0..50 {
        stored = common::read_all(&bs, "codecs", 0).await;
        if stored.len() == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored.len(), expected);
    let values: Vec<String> = stored
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(values[0], "0-none-0");
    assert_eq!(values[expected - 1], "all-zstd-19");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_records_and_unknown_topics_fail_with_kafka_codes() {
    let broker = common::broker(1).await;
    let bs = broker.bootstrap_servers();
    let p = producer(
        &bs,
        &[("max.request.size", "1000"), ("max.block.ms", "300")],
    )
    .await;
    let err = p
        .send(ProducerRecord::new("t", "x".repeat(2000)))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            KafkaError::RecordTooLarge {
                limit_name: "max.request.size",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), Some(10));
    let err = p
        .send(ProducerRecord::new("t", "v".to_string()).with_partition(7))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Some(3));
    p.close(Duration::from_secs(5)).await.unwrap();
    broker.shutdown().await;

    let broker = krafty_broker::Broker::builder()
        .listen("127.0.0.1:0")
        .config("auto.create.topics.enable", "false")
        .start()
        .await
        .unwrap();
    let p = producer(&broker.bootstrap_servers(), &[("max.block.ms", "300")]).await;
    let err = p
        .send(ProducerRecord::new("missing", "v".to_string()))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Some(3), "{err}");
    p.close(Duration::from_secs(5)).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_all_reports_each_record_and_stops_at_the_first_it_cannot_enqueue() {
    let broker = common::broker(2).await;
    let p = producer(&broker.bootstrap_servers(), &[]).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let records: Vec<_> = (0..100)
        .map(|i| ProducerRecord::new("bulk", format!("v{i}")).with_partition(1))
        .chain([ProducerRecord::new("bulk", "late".to_string()).with_partition(9)])
        .chain([ProducerRecord::new("bulk", "never".to_string()).with_partition(0)])
        .collect();
    let err = p
        .send_all(records, move |i, r| tx.send((i, r)).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.0, 100,
        "the record for partition 9 is the first refused"
    );
    assert_eq!(err.1.code(), Some(3), "UNKNOWN_TOPIC_OR_PARTITION");
    let mut outcomes = Vec::new();
    while outcomes.len() < 100 {
        outcomes.push(rx.recv().await.unwrap());
    }
    outcomes.sort_by_key(|(i, _)| *i);
    for (i, r) in outcomes {
        let md = r.unwrap();
        assert_eq!((md.partition, md.offset), (1, i as i64), "record {i}");
    }
    let stored = common::read_all(&broker.bootstrap_servers(), "bulk", 1).await;
    let values: Vec<_> = stored.iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(
        values,
        (0..100).map(|i| format!("v{i}")).collect::<Vec<_>>()
    );
    assert!(common::read_all(&broker.bootstrap_servers(), "bulk", 0)
        .await
        .is_empty());
    let ok = p
        .send_all(
            vec![ProducerRecord::new("bulk", "x".to_string())],
            |_, _| {},
        )
        .await;
    assert_eq!(ok.unwrap(), 1);
    p.close(Duration::from_secs(5)).await.unwrap();
}
