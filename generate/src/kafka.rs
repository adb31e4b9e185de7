//! Sending records to a Kafka topic: creating it when missing, and a producer that waits
//! when its queue is full and, at the end, for every acknowledgement, failing with the
//! first error the broker gave.

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Creates the topic with `partitions` partitions unless it exists.
pub async fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("cannot create a Kafka admin client")?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .with_context(|| format!("cannot reach Kafka at {bootstrap}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Counts deliveries the broker did not acknowledge, keeping the first error.
#[derive(Default)]
struct DeliveryCheck {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryCheck {}

impl ProducerContext for DeliveryCheck {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first_error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// A producer into one topic.
pub struct KafkaSink {
    producer: ThreadedProducer<DeliveryCheck>,
    topic: String,
}

impl KafkaSink {
    /// A producer for `topic` at `bootstrap`, batching and compressing for throughput.
    pub fn new(bootstrap: &str, topic: &str) -> Result<Self> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("linger.ms", "20")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .set("compression.type", "lz4")
            .set("acks", "all")
            .set("message.timeout.ms", "120000")
            .create_with_context(DeliveryCheck::default())
            .with_context(|| format!("cannot create a Kafka producer for {bootstrap}"))?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Queues one message, waiting while the producer's queue is full.
    pub fn send(&self, key: Option<&str>, payload: &str) -> Result<()> {
        let mut record = BaseRecord::<str, str>::to(&self.topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => bail!("cannot send to {}: {e}", self.topic),
            }
        }
    }

    /// Waits for every acknowledgement of the `sent` messages.
    pub fn finish(self, sent: u64) -> Result<()> {
        self.producer
            .flush(Duration::from_secs(120))
            .context("Kafka did not acknowledge every message within 120 s")?;
        let check = self.producer.context();
        let failed = check.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let first = check
                .first_error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .unwrap_or_default();
            bail!(
                "{failed} of {sent} messages were not delivered to {}: {first}",
                self.topic
            );
        }
        Ok(())
    }
}
