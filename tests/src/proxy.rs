//! A TCP proxy in front of a one-node cluster, so a test can make the broker unreachable or
//! lose an answer on any broker, a real Kafka included, and see what the client wrote while a
//! Produce answer's throttle time (KIP-219) was running.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{MetadataResponse, ProduceResponse, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PRODUCE: i16 = 0;
const METADATA: i16 = 3;

/// A TCP proxy in front of a one-node cluster, so a test can make the broker unreachable or
/// lose an answer on any broker, a real Kafka included. It rewrites the broker's address in
/// Metadata responses to its own, so a client bootstrapped on it sends everything through it.
pub struct Proxy {
    pub bootstrap: String,
    state: Arc<ProxyState>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct ProxyState {
    /// API keys of the requests forwarded, in order.
    forwarded: Mutex<Vec<i16>>,
    /// API keys of the requests swallowed while blackholed.
    swallowed: Mutex<Vec<i16>>,
    blackholed: AtomicBool,
    /// Produce answers to lose: (every n-th request, how many more times, requests since the
    /// last one lost).
    lose_produce_answers: Mutex<Option<(u32, u32, u32)>>,
    /// Produce requests whose answer was lost.
    answers_lost: Mutex<u32>,
    /// Produce answers (v6+) that carried a throttle time.
    throttled_answers: AtomicU64,
    /// Requests the client wrote on a connection while a throttle passed on there ran.
    early_requests: AtomicU64,
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let me = listener.local_addr().unwrap();
        let state = Arc::new(ProxyState::default());
        let st = state.clone();
        let accept = tokio::spawn(async move {
            // Aborting this task drops the set, which aborts every connection's task.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                connections.spawn(relay(client, upstream.clone(), me, st.clone()));
                while connections.try_join_next().is_some() {}
            }
        });
        Proxy {
            bootstrap: me.to_string(),
            state,
            accept,
        }
    }

    /// From now on nothing is forwarded either way; connections stay open.
    pub fn blackhole(&self) {
        self.state.blackholed.store(true, Ordering::SeqCst);
    }

    /// Loses the answer to every `every`-th produce request from now on, `times` times: the
    /// answer is dropped and its connection closed (the broker did append the batch; the
    /// answers to the requests pipelined behind it are lost with the connection).
    pub fn lose_produce_answers(&self, every: u32, times: u32) {
        *self.state.lose_produce_answers.lock().unwrap() = Some((every, times, 0));
    }

    pub fn forwarded(&self) -> Vec<i16> {
        self.state.forwarded.lock().unwrap().clone()
    }

    pub fn swallowed(&self) -> Vec<i16> {
        self.state.swallowed.lock().unwrap().clone()
    }

    pub fn answers_lost(&self) -> u32 {
        *self.state.answers_lost.lock().unwrap()
    }

    /// Produce answers that throttled the client.
    pub fn throttled_answers(&self) -> u64 {
        self.state.throttled_answers.load(Ordering::SeqCst)
    }

    /// Requests written on a connection before the throttle last passed on there had ended
    /// (the client reads the answer after the proxy, so its own deadline is later still).
    pub fn early_requests(&self) -> u64 {
        self.state.early_requests.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl ProxyState {
    /// Whether the answer to this produce request is to be lost.
    fn lose_this_produce(&self) -> bool {
        let mut lose = self.lose_produce_answers.lock().unwrap();
        let Some((every, times, since)) = lose.as_mut() else {
            return false;
        };
        *since += 1;
        if *since < *every {
            return false;
        }
        *since = 0;
        *times -= 1;
        if *times == 0 {
            *lose = None;
        }
        // Its answer never reaches the client: dropped here, or lost with its connection when
        // an earlier lost answer closed it first.
        *self.answers_lost.lock().unwrap() += 1;
        true
    }
}

/// Relays one client connection until either side closes (or an answer is to be lost: then
/// both sockets close as this returns).
async fn relay(client: TcpStream, upstream: String, me: SocketAddr, st: Arc<ProxyState>) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    // Correlation id -> (API key, version, lose its answer).
    let pending: Mutex<HashMap<i32, (i16, i16, bool)>> = Mutex::new(HashMap::new());
    // Until when the last throttled answer passed on here throttles this connection.
    let throttle: Mutex<Option<Instant>> = Mutex::new(None);
    let requests = async {
        loop {
            let Some(frame) = read_frame(&mut client_rx).await else {
                break;
            };
            if throttle
                .lock()
                .unwrap()
                .is_some_and(|until| Instant::now() < until)
            {
                st.early_requests.fetch_add(1, Ordering::SeqCst);
            }
            let be16 = |o: usize| i16::from_be_bytes([frame[o], frame[o + 1]]);
            let (key, version) = (be16(0), be16(2));
            let correlation = i32::from_be_bytes(frame[4..8].try_into().unwrap());
            if st.blackholed.load(Ordering::SeqCst) {
                st.swallowed.lock().unwrap().push(key);
                continue;
            }
            let lose = key == PRODUCE && st.lose_this_produce();
            pending
                .lock()
                .unwrap()
                .insert(correlation, (key, version, lose));
            st.forwarded.lock().unwrap().push(key);
            if write_frame(&mut server_tx, &frame).await.is_none() {
                break;
            }
        }
    };
    let answers = async {
        loop {
            let Some(frame) = read_frame(&mut server_rx).await else {
                break;
            };
            if st.blackholed.load(Ordering::SeqCst) {
                continue;
            }
            let correlation = i32::from_be_bytes(frame[0..4].try_into().unwrap());
            let request = pending.lock().unwrap().remove(&correlation);
            let frame = match request {
                Some((_, _, true)) => break,
                Some((METADATA, version, _)) => advertise(frame, version, me),
                Some((PRODUCE, version, _)) if version >= 6 => {
                    let ms = produce_throttle_ms(&frame, version);
                    if ms > 0 {
                        st.throttled_answers.fetch_add(1, Ordering::SeqCst);
                        let until = Instant::now() + Duration::from_millis(ms as u64);
                        let mut throttle = throttle.lock().unwrap();
                        // A later answer never shortens the throttle (as the client's).
                        *throttle = Some(throttle.map_or(until, |u| u.max(until)));
                    }
                    frame
                }
                _ => frame,
            };
            if write_frame(&mut client_tx, &frame).await.is_none() {
                break;
            }
        }
    };
    tokio::select! {
        _ = requests => {}
        _ = answers => {}
    }
}

/// The throttle time of a Produce answer.
fn produce_throttle_ms(frame: &Bytes, version: i16) -> i32 {
    let mut buf = frame.clone();
    ResponseHeader::decode(&mut buf, ProduceResponse::header_version(version)).unwrap();
    ProduceResponse::decode(&mut buf, version)
        .unwrap()
        .throttle_time_ms
}

/// A Metadata response naming the proxy as the (only) broker's address.
fn advertise(frame: Bytes, version: i16, me: SocketAddr) -> Bytes {
    let mut buf = frame;
    let header_version = MetadataResponse::header_version(version);
    let header = ResponseHeader::decode(&mut buf, header_version).unwrap();
    let mut response = MetadataResponse::decode(&mut buf, version).unwrap();
    for b in &mut response.brokers {
        b.host = StrBytes::from_string(me.ip().to_string());
        b.port = i32::from(me.port());
    }
    let mut out = BytesMut::new();
    header.encode(&mut out, header_version).unwrap();
    response.encode(&mut out, version).unwrap();
    out.freeze()
}

/// One size-prefixed Kafka frame; `None` when the connection closed.
async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> Option<Bytes> {
    let len = usize::try_from(r.read_i32().await.ok()?).ok()?;
    let mut buf = vec![0; len];
    r.read_exact(&mut buf).await.ok()?;
    Some(Bytes::from(buf))
}

async fn write_frame(w: &mut (impl AsyncWrite + Unpin), frame: &[u8]) -> Option<()> {
    let mut out = Vec::with_capacity(4 + frame.len());
    out.extend_from_slice(&(frame.len() as i32).to_be_bytes());
    out.extend_from_slice(frame);
    w.write_all(&out).await.ok()
}
