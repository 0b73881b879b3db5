//! One TCP connection to a broker, with many requests in flight.
//!
//! Requests are written under a lock (so frames never interleave) after registering their
//! correlation id; a reader task matches each response frame to its waiter. Kafka answers a
//! connection's requests in order, but matching by id keeps this honest even if it did not.
//! When the socket dies every waiter gets a network error, which the caller may retry.
//! A response that carries a throttle time (KIP-219) holds the connection's later requests
//! back until it has passed (`throttle.rs`).
//! On a SASL_PLAINTEXT connection `connect` authenticates (`sasl/`) after ApiVersions, before
//! the connection is handed out, so no other request ever goes out unauthenticated.
//! On SSL and SASL_SSL the TCP stream is wrapped in TLS (`tls.rs`) before the split, so the
//! reader task and the writer (vectored writes included) work on the TLS stream alike.
//! A SASL session with a lifetime is renewed before it ends (`reauthentication.rs`): the check
//! runs before each request is written, and authentication's own requests bypass it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::frame::{Frame, FrameBuilder};
use super::metrics::NetworkMetrics;
use super::reauthentication::Reauthentication;
use super::throttle::{self, Throttle};
use super::versions;
use crate::error::{KafkaError, Result};

type Waiters = Arc<Mutex<HashMap<i32, oneshot::Sender<Bytes>>>>;

/// The write half: a TCP write half, or the write half of a TLS stream.
type Writer = Box<dyn AsyncWrite + Send + Unpin>;
type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// A request on the wire, waiting for its response.
pub struct Pending {
    correlation: i32,
    rx: oneshot::Receiver<Bytes>,
}

/// A live connection.
pub struct Connection {
    /// `host:port`, for errors.
    pub addr: String,
    writer: tokio::sync::Mutex<Writer>,
    waiters: Waiters,
    next_correlation: AtomicI32,
    /// Shared, so a request header takes a reference count rather than a copy.
    client_id: StrBytes,
    /// The broker's supported range per API key.
    broker_versions: HashMap<i16, (i16, i16)>,
    /// The cluster-wide feature levels the broker reported (KIP-584), e.g. `transaction.version`.
    finalized_features: HashMap<String, i16>,
    closed: Arc<AtomicBool>,
    in_flight: AtomicUsize,
    reader: tokio::task::JoinHandle<()>,
    /// A write that cannot finish within this (`request.timeout.ms`) closes the connection:
    /// a broker that stopped reading must not hold a writer forever.
    write_timeout: Duration,
    /// Until when the broker asked this connection to stay quiet (KIP-219).
    throttle: Throttle,
    /// Set by the reader when TLS failed after the handshake (a broker refusing the client's
    /// certificate says so only then, in TLS 1.3), so the caller gets that, not "closed".
    tls_failure: Arc<Mutex<Option<KafkaError>>>,
    /// The credentials to renew the session with, on a SASL connection.
    sasl: Option<super::SaslConfig>,
    reauth: Reauthentication,
    metrics: Arc<NetworkMetrics>,
}

/// How to reach and authenticate to a broker: what every connection of a client shares.
pub struct ConnectOptions<'a> {
    pub client_id: &'a str,
    pub setup_timeout: Duration,
    pub request_timeout: Duration,
    pub tls: Option<&'a super::TlsConfig>,
    pub sasl: Option<&'a super::SaslConfig>,
    pub(crate) metrics: &'a Arc<NetworkMetrics>,
}

fn net_err(addr: &str, reason: impl std::fmt::Display) -> KafkaError {
    KafkaError::Network {
        broker: addr.to_string(),
        reason: reason.to_string(),
    }
}

impl Connection {
    /// Connects, with `tls` runs the TLS handshake, negotiates API versions (ApiVersions v3,
    /// falling back to v0) and, with `sasl`, authenticates.
    pub async fn connect(addr: &str, options: &ConnectOptions<'_>) -> Result<Connection> {
        let ConnectOptions {
            client_id,
            setup_timeout,
            request_timeout,
            tls,
            sasl,
            metrics,
        } = *options;
        let (rd, wr): (Reader, Writer) = tokio::time::timeout(setup_timeout, async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| net_err(addr, e))?;
            let _ = stream.set_nodelay(true);
            let halves: (Reader, Writer) = match tls {
                None => {
                    let (rd, wr) = stream.into_split();
                    (Box::new(rd), Box::new(wr))
                }
                Some(tls) => {
                    let (rd, wr) = tokio::io::split(tls.connect(addr, stream).await?);
                    (Box::new(rd), Box::new(wr))
                }
            };
            Ok::<_, KafkaError>(halves)
        })
        .await
        .map_err(|_| net_err(addr, "connection setup timed out"))??;
        let mut rd = rd;
        let waiters: Waiters = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let tls_failure: Arc<Mutex<Option<KafkaError>>> = Arc::default();
        let reader = {
            let waiters = waiters.clone();
            let closed = closed.clone();
            let tls_failure = tls_failure.clone();
            let addr = addr.to_string();
            tokio::spawn(async move {
                loop {
                    let size = match rd.read_i32().await {
                        Ok(n) if n >= 4 => n as usize,
                        Ok(_) => break,
                        Err(e) => {
                            *tls_failure.lock().unwrap() = super::tls::handshake_error(&addr, &e);
                            break;
                        }
                    };
                    let mut frame = BytesMut::zeroed(size);
                    if rd.read_exact(&mut frame).await.is_err() {
                        break;
                    }
                    let correlation = i32::from_be_bytes(frame[..4].try_into().unwrap());
                    let waiter = waiters.lock().unwrap().remove(&correlation);
                    match waiter {
                        Some(tx) => {
                            let _ = tx.send(frame.freeze());
                        }
                        None => {
                            tracing::debug!(broker = %addr, correlation, "response for an abandoned request")
                        }
                    }
                }
                closed.store(true, Ordering::SeqCst);
                // Dropping the senders wakes every waiter with an error.
                waiters.lock().unwrap().clear();
            })
        };
        let mut conn = Connection {
            addr: addr.to_string(),
            writer: tokio::sync::Mutex::new(wr),
            waiters,
            next_correlation: AtomicI32::new(1),
            client_id: StrBytes::from_string(client_id.to_string()),
            broker_versions: HashMap::new(),
            finalized_features: HashMap::new(),
            closed,
            in_flight: AtomicUsize::new(0),
            reader,
            write_timeout: request_timeout,
            throttle: Throttle::default(),
            tls_failure,
            sasl: sasl.cloned(),
            reauth: Reauthentication::default(),
            metrics: metrics.clone(),
        };
        (conn.broker_versions, conn.finalized_features) =
            match conn.negotiate(request_timeout).await {
                Ok(v) => v,
                Err(e) if tls.is_some() => return Err(conn.tls_failure_or(e).await),
                Err(e) => return Err(e),
            };
        if let Some(sasl) = sasl {
            let lifetime = super::sasl::authenticate(&conn, sasl, request_timeout).await?;
            conn.reauth.session_started(lifetime);
        }
        metrics.connection_created();
        Ok(conn)
    }

    /// Renews the SASL session if it is due (KIP-368). A refused renewal closes the connection,
    /// as the broker would at the session's end: its error goes to the request that found it.
    async fn reauthenticate_if_due(&self) -> Result<()> {
        let Some(sasl) = &self.sasl else {
            return Ok(());
        };
        if !self.reauth.is_due() {
            return Ok(());
        }
        let _one = self.reauth.running.lock().await;
        if !self.reauth.is_due() {
            return Ok(());
        }
        tracing::debug!(broker = %self.addr, mechanism = sasl.mechanism.name(), "re-authenticating");
        match super::sasl::authenticate(self, sasl, self.write_timeout).await {
            Ok(lifetime) => {
                self.reauth.session_started(lifetime);
                self.metrics.reauthenticated(true);
                Ok(())
            }
            Err(e) => {
                self.metrics.reauthenticated(false);
                self.close_now();
                Err(e)
            }
        }
    }

    /// Marks the connection unusable and wakes every request waiting on it with an error.
    fn close_now(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.reader.abort();
        self.waiters.lock().unwrap().clear();
    }

    /// A request of the SASL exchange: sent even while a renewal is due (it is the renewal).
    pub(super) async fn authentication_request<R: Request>(
        &self,
        req: R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response>
    where
        R::Response: 'static,
    {
        let hint = req.compute_size(version).unwrap_or(0);
        let pending = self
            .start_now::<R>(version, hint, |f| encode_body(&req, f, version))
            .await?;
        self.finish::<R>(pending, version, timeout).await
    }

    /// `e`, or the TLS failure that closed the connection: a broker refusing the client's
    /// certificate sends its alert after the client's handshake finished, so the first
    /// request's write or read fails, possibly before the reader has seen the alert.
    async fn tls_failure_or(&self, e: KafkaError) -> KafkaError {
        for _ in 0..50 {
            if let Some(failure) = self.tls_failure.lock().unwrap().clone() {
                return failure;
            }
            if self.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.tls_failure.lock().unwrap().clone().unwrap_or(e)
    }

    /// ApiVersions: the broker's version range per API key, and its finalized features.
    async fn negotiate(
        &self,
        timeout: Duration,
    ) -> Result<(HashMap<i16, (i16, i16)>, HashMap<String, i16>)> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("krafty"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut resp: ApiVersionsResponse = self.request_at(req.clone(), 3, timeout).await?;
        if resp.error_code == 35 {
            resp = self
                .request_at(ApiVersionsRequest::default(), 0, timeout)
                .await?;
        }
        if resp.error_code != 0 {
            return Err(KafkaError::broker(resp.error_code));
        }
        let versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        let features = resp
            .finalized_features
            .iter()
            .map(|f| (f.name.to_string(), f.max_version_level))
            .collect();
        Ok((versions, features))
    }

    /// The level of a finalized feature (KIP-584) as this broker reported it, if any.
    pub fn finalized_feature(&self, name: &str) -> Option<i16> {
        self.finalized_features.get(name).copied()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Until when the broker throttles this connection, while that is in the future.
    pub fn throttled_until(&self) -> Option<tokio::time::Instant> {
        self.throttle.until()
    }

    /// The highest version of `key` both sides support.
    pub fn version_for(&self, key: ApiKey) -> Result<i16> {
        self.version_up_to(key, i16::MAX)
    }

    /// The highest version of `key` both sides support, at most `cap` (a version whose
    /// meaning the caller has not opted into, as Produce v12's implicit transaction add).
    pub fn version_up_to(&self, key: ApiKey, cap: i16) -> Result<i16> {
        let (broker_min, broker_max) = self
            .broker_versions
            .get(&(key as i16))
            .copied()
            .ok_or_else(|| {
                KafkaError::Protocol(format!("broker {} does not support {key:?}", self.addr))
            })?;
        let (ours_min, ours_max) = versions::supported(key);
        let v = ours_max.min(broker_max).min(cap);
        if v < ours_min.max(broker_min) {
            return Err(KafkaError::Protocol(format!(
                "no common {key:?} version: broker {broker_min}-{broker_max}, client {ours_min}-{ours_max}"
            )));
        }
        Ok(v)
    }

    /// The frame of a request: its header, then the body `body` writes.
    fn frame<R: Request>(
        &self,
        version: i16,
        correlation: i32,
        size_hint: usize,
        body: impl FnOnce(&mut FrameBuilder) -> Result<()>,
    ) -> Result<Frame> {
        let key =
            ApiKey::try_from(R::KEY).map_err(|_| KafkaError::Protocol("unknown api key".into()))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(self.client_id.clone()));
        let mut frame = FrameBuilder::with_capacity(64 + self.client_id.len() + size_hint);
        header
            .encode(frame.buf(), key.request_header_version(version))
            .map_err(|e| {
                KafkaError::Protocol(format!("encoding {key:?} v{version} header: {e}"))
            })?;
        body(&mut frame)?;
        Ok(frame.finish())
    }

    async fn write(&self, mut frame: Frame) -> Result<()> {
        let written = tokio::time::timeout(self.write_timeout, async {
            let mut w = self.writer.lock().await;
            // Vectored: a Produce frame's record batches are written from their own buffers.
            w.write_all_buf(&mut frame).await?;
            // TLS may hold the last record until flushed; a no-op on TCP.
            w.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(net_err(&self.addr, e)),
            Err(_) => {
                // Part of a frame may be on the wire: the connection cannot be used again.
                self.close_now();
                Err(net_err(
                    &self.addr,
                    format!("a write did not finish within {:?}", self.write_timeout),
                ))
            }
        }
    }

    /// Sends a request at `version` and waits for its response.
    pub async fn request_at<R: Request>(
        &self,
        req: R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response>
    where
        R::Response: 'static,
    {
        let pending = self.start::<R>(req, version).await?;
        self.finish::<R>(pending, version, timeout).await
    }

    /// Writes a request and registers its waiter; the response is awaited with `finish`.
    /// Requests started one after another reach the broker in that order.
    ///
    /// While the connection is throttled the request waits here, before anything is written:
    /// as Java's client, which does not send to a throttled node at all, and as the broker,
    /// which would not read it before then anyway. Its timeout (`finish`) starts once it is
    /// written, so the throttle (bounded by the broker's quota window) is not counted against
    /// it; a caller with a deadline of its own (a producer batch's `delivery.timeout.ms`, a
    /// blocking call's timeout) still counts the wait.
    pub async fn start<R: Request>(&self, req: R, version: i16) -> Result<Pending> {
        let hint = req.compute_size(version).unwrap_or(0);
        self.start_written::<R>(version, hint, |f| encode_body(&req, f, version))
            .await
    }

    /// `start` for a request whose body `body` writes itself (Produce: record batches by
    /// reference, see `frame.rs`); `R` names the API and its response.
    pub async fn start_written<R: Request>(
        &self,
        version: i16,
        size_hint: usize,
        body: impl FnOnce(&mut FrameBuilder) -> Result<()>,
    ) -> Result<Pending> {
        self.reauthenticate_if_due().await?;
        self.start_now::<R>(version, size_hint, body).await
    }

    /// `start_written` without the session check.
    async fn start_now<R: Request>(
        &self,
        version: i16,
        size_hint: usize,
        body: impl FnOnce(&mut FrameBuilder) -> Result<()>,
    ) -> Result<Pending> {
        self.throttle.wait().await;
        if self.is_closed() {
            return Err(net_err(&self.addr, "connection closed"));
        }
        let correlation = self.next_correlation.fetch_add(1, Ordering::Relaxed);
        let frame = self.frame::<R>(version, correlation, size_hint, body)?;
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap().insert(correlation, tx);
        // The reader marks the connection closed, then drops every waiter: a waiter inserted
        // after that would wait out the whole request timeout. Checked after the insert, a
        // close either comes later (and drops this waiter) or is seen here.
        if self.is_closed() {
            self.waiters.lock().unwrap().remove(&correlation);
            return Err(net_err(&self.addr, "connection closed"));
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.write(frame).await {
            self.waiters.lock().unwrap().remove(&correlation);
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(e);
        }
        Ok(Pending { correlation, rx })
    }

    /// Waits for the response of a started request, decodes it, and records the throttle time
    /// it carries.
    pub async fn finish<R: Request>(
        &self,
        pending: Pending,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response>
    where
        R::Response: 'static,
    {
        let result = match tokio::time::timeout(timeout, pending.rx).await {
            Err(_) => Err(KafkaError::Timeout(format!(
                "request to {} timed out after {timeout:?}",
                self.addr
            ))),
            Ok(Err(_)) => Err(net_err(
                &self.addr,
                "connection closed before the response arrived",
            )),
            Ok(Ok(bytes)) => Ok(bytes),
        };
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if result.is_err() {
            self.waiters.lock().unwrap().remove(&pending.correlation);
        }
        let mut bytes = result?;
        let key =
            ApiKey::try_from(R::KEY).map_err(|_| KafkaError::Protocol("unknown api key".into()))?;
        let response = ResponseHeader::decode(&mut bytes, key.response_header_version(version))
            .and_then(|_| R::Response::decode(&mut bytes, version))
            .map_err(|e| {
                KafkaError::Protocol(format!(
                    "decoding {key:?} v{version} response from {}: {e}",
                    self.addr
                ))
            })?;
        if let Some(time) = throttle::client_throttle(&response, version) {
            tracing::debug!(broker = %self.addr, ?key, ?time, "throttled by the broker");
            self.throttle.record(time);
        }
        Ok(response)
    }

    /// Sends a request that has no response (Produce acks=0), its body written by `body`.
    pub async fn send_only_written<R: Request>(
        &self,
        version: i16,
        body: impl FnOnce(&mut FrameBuilder) -> Result<()>,
    ) -> Result<()> {
        self.reauthenticate_if_due().await?;
        self.throttle.wait().await;
        let correlation = self.next_correlation.fetch_add(1, Ordering::Relaxed);
        let frame = self.frame::<R>(version, correlation, 0, body)?;
        self.write(frame).await
    }
}

/// Writes `req`'s body with the protocol crate's encoder.
fn encode_body<R: Request>(req: &R, frame: &mut FrameBuilder, version: i16) -> Result<()> {
    req.encode(frame.buf(), version).map_err(|e| {
        KafkaError::Protocol(format!(
            "encoding {:?} v{version}: {e}",
            ApiKey::try_from(R::KEY).ok()
        ))
    })
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
