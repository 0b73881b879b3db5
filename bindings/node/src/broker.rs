//! `DevBroker`: the bundled Kafka-protocol broker, in this process, on the core's runtime.

use std::sync::{Arc, Mutex};

use krafty::KafkaError;
use krafty_broker::{Broker, BrokerHandle};
use napi::bindgen_prelude::PromiseRaw;
use napi::Env;
use napi_derive::napi;

use crate::config::{properties, Config};
use crate::errors::to_napi;
use crate::on_core;

/// Where and how to start a dev broker.
#[napi(object)]
#[derive(Default)]
pub struct DevBrokerOptions {
    /// Port on 127.0.0.1; 0 or absent: any free port.
    pub port: Option<u32>,
    /// Keep logs and committed offsets here (absent: in memory only).
    pub data_dir: Option<String>,
    /// Broker settings by Kafka's names (`{ "num.partitions": 3 }`).
    #[napi(ts_type = "Record<string, string | number | boolean>")]
    pub config: Option<Config>,
    /// Replaces the one plaintext listener, Kafka's way
    /// (`"PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"`).
    pub listeners: Option<String>,
}

/// A running dev broker.
#[napi]
pub struct DevBroker {
    handle: Arc<Mutex<Option<Arc<BrokerHandle>>>>,
    bootstrap: String,
}

impl DevBroker {
    fn with<T>(&self, f: impl FnOnce(&BrokerHandle) -> T) -> napi::Result<T> {
        match self.handle.lock().unwrap().as_ref() {
            Some(h) => Ok(f(h)),
            None => Err(to_napi(&KafkaError::IllegalState(
                "the dev broker was stopped".into(),
            ))),
        }
    }
}

#[napi]
impl DevBroker {
    /// Starts a broker; rejects with a KraftyError naming a bad setting, or the OS error.
    #[napi(ts_return_type = "Promise<DevBroker>")]
    pub fn start(
        env: &Env,
        options: Option<DevBrokerOptions>,
    ) -> napi::Result<PromiseRaw<'_, DevBroker>> {
        let o = options.unwrap_or_default();
        let mut builder = match o.listeners {
            Some(spec) => Broker::builder().listeners(spec),
            None => Broker::builder().listen(format!("127.0.0.1:{}", o.port.unwrap_or(0))),
        };
        if let Some(dir) = o.data_dir {
            builder = builder.data_dir(dir);
        }
        for (k, v) in o.config.as_ref().map(properties).unwrap_or_default() {
            builder = builder.config(k, v);
        }
        builder.build_config().map_err(|e| {
            to_napi(&KafkaError::Config {
                property: e.property,
                reason: e.reason,
            })
        })?;
        env.spawn_future(on_core(async move {
            let handle = builder.start().await.map_err(|e| KafkaError::Network {
                broker: "dev broker".into(),
                reason: e.to_string(),
            })?;
            Ok(DevBroker {
                bootstrap: handle.bootstrap_servers(),
                handle: Arc::new(Mutex::new(Some(Arc::new(handle)))),
            })
        }))
    }

    /// `host:port` for `bootstrap.servers`.
    #[napi(getter)]
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// The port it listens on.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.bootstrap
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// `host:port` of the listener named `name` (`"SASL_PLAINTEXT"`), or null.
    #[napi]
    pub fn listener_bootstrap(&self, name: String) -> napi::Result<Option<String>> {
        self.with(|h| h.listener_bootstrap(&name))
    }

    /// The PEM of the CA that signed the generated TLS certificate, when there is one.
    #[napi]
    pub fn tls_ca_pem(&self) -> napi::Result<Option<String>> {
        self.with(|h| h.tls_ca_pem().map(str::to_string))
    }

    /// The next `count` (default 1) requests of API `apiKey` fail with Kafka error `errorCode`
    /// (only `topic`'s / `partition`'s entries, when given).
    #[napi]
    pub fn fail_next(
        &self,
        api_key: i16,
        error_code: i16,
        count: Option<u32>,
        topic: Option<String>,
        partition: Option<i32>,
    ) -> napi::Result<()> {
        self.with(|h| {
            h.faults().fail_next(
                api_key,
                error_code,
                count.unwrap_or(1),
                topic.as_deref(),
                partition,
            )
        })
    }

    /// Every request of `apiKey` waits `millis` first (0 removes the delay).
    #[napi]
    pub fn add_latency(&self, api_key: i16, millis: u32) -> napi::Result<()> {
        self.with(|h| h.faults().add_latency(api_key, u64::from(millis)))
    }

    /// After `requests` more answers, the next request is handled but its connection closed.
    #[napi]
    pub fn drop_connection_after(&self, requests: u32) -> napi::Result<()> {
        self.with(|h| h.faults().drop_connection_after(requests))
    }

    /// Removes every injected fault that has not fired yet.
    #[napi]
    pub fn clear_faults(&self) -> napi::Result<()> {
        self.with(|h| h.faults().clear())
    }

    /// How many injected errors the broker has answered so far.
    #[napi]
    pub fn errors_fired(&self) -> napi::Result<i64> {
        self.with(|h| h.faults().errors_fired() as i64)
    }

    /// Injected errors not answered yet.
    #[napi]
    pub fn errors_pending(&self) -> napi::Result<i64> {
        self.with(|h| h.faults().errors_pending() as i64)
    }

    /// How many connections `dropConnectionAfter` has dropped so far.
    #[napi]
    pub fn connections_dropped(&self) -> napi::Result<i64> {
        self.with(|h| h.faults().connections_dropped() as i64)
    }

    /// Stops the broker, flushing its logs (idempotent).
    #[napi]
    pub fn stop<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let handle = self.handle.lock().unwrap().take();
        env.spawn_future(on_core(async move {
            if let Some(h) = handle {
                h.shutdown().await;
            }
            Ok(())
        }))
    }
}
