//! The network side: accepts connections and serves each one's requests in order.
//!
//! Kafka answers a connection's requests in the order they arrived (a long-polling Fetch holds
//! its connection), so each connection is one task that reads a frame, handles it, writes the
//! response. A malformed frame, an unknown API key or an unsupported version closes that one
//! connection with a logged reason, as Kafka does; every other connection is unaffected.
//! Each listener (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`) has its own accept loop; on
//! a TLS listener the connection's task runs the handshake first (`tls.rs`; a failed or slow
//! one closes that connection only); on a SASL listener a connection must authenticate
//! (`sasl.rs`) before anything but ApiVersions, SaslHandshake and SaslAuthenticate is served,
//! and a failed authentication is answered, then closed.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api;
use crate::fault::ConnectionThrottle;
use crate::group::ClientInfo;
use crate::sasl::{AuthStep, Authenticator};
use crate::shared::{Listener, Shared};

/// How long a client has to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections until `shutdown` flips to true.
pub async fn serve(
    listener: TcpListener,
    endpoint: Arc<Listener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let endpoint = endpoint.clone();
                    let shutdown = shutdown.clone();
                    connections.spawn(async move {
                        tracing::debug!(%peer, listener = %endpoint.name, "connection opened");
                        let client_host = format!("/{}", peer.ip());
                        let mut stopping = shutdown.clone();
                        let reason = match &endpoint.tls {
                            None => {
                                let (rd, wr) = stream.into_split();
                                serve_connection(rd, wr, client_host, &shared, &endpoint, shutdown).await
                            }
                            Some(acceptor) => {
                                // Bounded, and abandoned at shutdown: a client that never
                                // finishes its handshake must not hold the broker up.
                                let accepted = tokio::select! {
                                    a = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => Some(a),
                                    _ = stopping.changed() => None,
                                };
                                match accepted {
                                    None => "broker shutting down".to_string(),
                                    Some(Ok(Ok(tls))) => {
                                        let (rd, wr) = tokio::io::split(tls);
                                        serve_connection(rd, wr, client_host, &shared, &endpoint, shutdown).await
                                    }
                                    Some(Ok(Err(e))) => {
                                        tracing::info!(%peer, listener = %endpoint.name, "TLS handshake failed: {e}");
                                        format!("TLS handshake failed: {e}")
                                    }
                                    Some(Err(_)) => format!("no TLS handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
                                }
                            }
                        };
                        tracing::debug!(%peer, "connection closed: {reason}");
                    });
                }
                Err(e) => tracing::warn!("accept failed: {e}"),
            },
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // In-flight requests finish (each connection stops after its current one).
    while connections.join_next().await.is_some() {}
}

/// An isolated node's connection: nothing read or answered until the isolation ends (or the
/// broker stops), then closed.
async fn silent_until_healed(
    isolation: &mut watch::Receiver<bool>,
    shutdown: &mut watch::Receiver<bool>,
) -> String {
    tokio::select! {
        _ = isolation.wait_for(|cut| !*cut) => "isolation ended".into(),
        _ = shutdown.changed() => "broker shutting down".into(),
    }
}

/// Serves one connection; returns why it closed.
async fn serve_connection(
    rd: impl AsyncRead + Unpin,
    wr: impl AsyncWrite + Unpin,
    client_host: String,
    shared: &Arc<Shared>,
    listener: &Listener,
    mut shutdown: watch::Receiver<bool>,
) -> String {
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut wr = BufWriter::with_capacity(64 * 1024, wr);
    let max = shared.config.socket_request_max_bytes;
    // Injected throttles (KIP-219) are only observed: a request that comes early is served.
    let mut throttle = ConnectionThrottle::default();
    let mut auth = Authenticator::default();
    let mut isolation = shared.faults.isolation();
    // One future for the connection's life (not one per request): done once the node is cut off.
    let mut watched = isolation.clone();
    let cut_off = async move {
        if watched.wait_for(|cut| *cut).await.is_err() {
            std::future::pending::<()>().await; // no fault controls left: never cut off
        }
    };
    tokio::pin!(cut_off);
    loop {
        let size = tokio::select! {
            biased;
            _ = &mut cut_off => None,
            size = rd.read_i32() => match size {
                Ok(n) => Some(n),
                Err(_) => return "peer closed".into(),
            },
            _ = shutdown.changed() => return "broker shutting down".into(),
        };
        let Some(size) = size else {
            return silent_until_healed(&mut isolation, &mut shutdown).await;
        };
        if size < 8 || size as usize > max {
            tracing::warn!(
                "closing connection: frame size {size} outside [8, socket.request.max.bytes={max}]"
            );
            return format!("bad frame size {size}");
        }
        let mut frame = BytesMut::zeroed(size as usize);
        if let Err(e) = rd.read_exact(&mut frame).await {
            return format!("truncated frame: {e}");
        }
        shared.faults.request_arrived(&mut throttle, Instant::now());
        let mut frame = frame.freeze();
        let (key, version, correlation_id) = {
            let mut head = &frame[..8];
            (head.get_i16(), head.get_i16(), head.get_i32())
        };
        // An injected drop handles the request, then closes the connection without answering:
        // the client cannot know whether it took effect (an appended but unacknowledged batch).
        let drop_after_handling = shared.faults.should_drop();
        let Ok(api_key) = ApiKey::try_from(key) else {
            tracing::warn!("closing connection: unknown API key {key}");
            return format!("unknown API key {key}");
        };
        let authentication = matches!(api_key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
        if listener.sasl && !authentication && auth.session_ended(Instant::now()) {
            // KIP-368: an ended session carries nothing but its renewal.
            tracing::info!(
                "closing connection: {api_key:?} after the SASL session ended on {}",
                listener.name
            );
            return format!("{api_key:?} after the session ended");
        }
        if listener.sasl
            && !auth.is_authenticated()
            && !matches!(
                api_key,
                ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
            )
        {
            tracing::warn!(
                "closing connection: {api_key:?} before SASL authentication on {}",
                listener.name
            );
            return format!("{api_key:?} before authentication");
        }
        // Set when a failed authentication has been answered: the connection then closes.
        let mut close_after: Option<String> = None;
        let tv = shared.config.txn.transaction_version;
        let response = if api_key == ApiKey::ApiVersions && !api::handles(api_key, version, tv) {
            // Kafka answers an unknown ApiVersions version in v0 with UNSUPPORTED_VERSION and its
            // own range, so the client can retry with a version both support.
            Some((
                ResponseKind::ApiVersions(api::api_versions(35, 0, tv)),
                0i16,
                0i16,
            ))
        } else if !api::handles(api_key, version, tv) {
            tracing::warn!("closing connection: {api_key:?} v{version} is not supported");
            return format!("unsupported {api_key:?} v{version}");
        } else {
            let (header, request) = match crate::wire::decode_request(&mut frame, tv) {
                Ok((_, _, header, request)) => (header, request),
                Err(e) => {
                    tracing::warn!("closing connection: {e}");
                    return e.to_string();
                }
            };
            let client = ClientInfo {
                client_id: header.client_id.map(|c| c.to_string()).unwrap_or_default(),
                client_host: client_host.clone(),
            };
            let response = match request {
                RequestKind::SaslHandshake(r) => Some(ResponseKind::SaslHandshake(sasl_handshake(
                    shared, listener, &mut auth, &r,
                ))),
                RequestKind::SaslAuthenticate(r) => {
                    let (response, failure) =
                        sasl_authenticate(shared, listener, &mut auth, &r, &client.client_host);
                    close_after = failure;
                    Some(ResponseKind::SaslAuthenticate(response))
                }
                request => {
                    if let Some(delay) = shared.faults.latency(key) {
                        tokio::time::sleep(delay).await;
                    }
                    api::handle(shared, listener, request, version, client).await
                }
            };
            response.map(|r| (r, version, api_key.response_header_version(version)))
        };
        if drop_after_handling {
            return "fault injection dropped the connection".into();
        }
        let Some((mut body, body_version, header_version)) = response else {
            continue;
        };
        let throttled = api::throttle_field(&mut body, body_version).and_then(|field| {
            *field = shared.faults.take_throttle(key)?;
            Some(*field)
        });
        let written = match &body {
            // Records go out from the buffer the log read them into (`api/fetch_wire.rs`).
            ResponseKind::Fetch(fetch) => {
                match api::encode_fetch_response(
                    correlation_id,
                    header_version,
                    fetch,
                    body_version,
                ) {
                    Ok(frame) => write_frame(&mut wr, frame).await,
                    Err(e) => {
                        tracing::error!(
                            "closing connection: cannot encode Fetch v{body_version} response: {e}"
                        );
                        return "response encoding failed".into();
                    }
                }
            }
            body => {
                let mut out = BytesMut::with_capacity(256);
                out.put_i32(0);
                let encoded = ResponseHeader::default()
                    .with_correlation_id(correlation_id)
                    .encode(&mut out, header_version)
                    .and_then(|_| body.encode(&mut out, body_version));
                if let Err(e) = encoded {
                    tracing::error!(
                        "closing connection: cannot encode {api_key:?} v{body_version} response: {e}"
                    );
                    return "response encoding failed".into();
                }
                let len = (out.len() - 4) as i32;
                out[..4].copy_from_slice(&len.to_be_bytes());
                match wr.write_all(&out).await {
                    Ok(()) => wr.flush().await,
                    Err(e) => Err(e),
                }
            }
        };
        if written.is_err() {
            return "write failed".into();
        }
        if let Some(throttle_ms) = throttled {
            shared
                .faults
                .throttle_sent(&mut throttle, Instant::now(), throttle_ms);
        }
        if let Some(reason) = close_after {
            return reason;
        }
    }
}

/// Writes a frame whose records are chunks of their own straight to the connection, in
/// vectored writes: the buffered writer (empty between responses) would copy a frame smaller
/// than its buffer. On TLS, rustls takes the chunks as they are and encrypts them into
/// full-size records.
async fn write_frame<W: AsyncWrite + Unpin>(
    wr: &mut BufWriter<W>,
    mut frame: api::Frame,
) -> std::io::Result<()> {
    wr.flush().await?;
    wr.get_mut().write_all_buf(&mut frame).await?;
    wr.get_mut().flush().await
}

/// SaslHandshake: the mechanism for this connection (ILLEGAL_SASL_STATE on a listener without
/// SASL or after one was chosen; UNSUPPORTED_SASL_MECHANISM with the enabled list).
fn sasl_handshake(
    shared: &Shared,
    listener: &Listener,
    auth: &mut Authenticator,
    req: &SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    let enabled = || {
        shared
            .sasl
            .mechanisms
            .iter()
            .map(|m| kafka_protocol::protocol::StrBytes::from_string(m.clone()))
            .collect()
    };
    if !listener.sasl {
        return SaslHandshakeResponse::default().with_error_code(34);
    }
    match auth.handshake(&shared.sasl, req.mechanism.as_str()) {
        Ok(()) => SaslHandshakeResponse::default().with_mechanisms(enabled()),
        Err(code) => SaslHandshakeResponse::default()
            .with_error_code(code)
            .with_mechanisms(enabled()),
    }
}

/// SaslAuthenticate: one token of the exchange. Returns the answer, and the reason to close
/// the connection after it when authentication failed (SASL_AUTHENTICATION_FAILED, as Kafka).
fn sasl_authenticate(
    shared: &Shared,
    listener: &Listener,
    auth: &mut Authenticator,
    req: &SaslAuthenticateRequest,
    peer: &str,
) -> (SaslAuthenticateResponse, Option<String>) {
    let message = |m: String| Some(kafka_protocol::protocol::StrBytes::from_string(m));
    if !listener.sasl {
        let r = SaslAuthenticateResponse::default()
            .with_error_code(34)
            .with_error_message(message(format!("{} does not use SASL", listener.name)));
        return (
            r,
            Some("SaslAuthenticate on a listener without SASL".into()),
        );
    }
    let max_reauth_ms = shared.config.connections_max_reauth_ms;
    match auth.authenticate(&shared.sasl, &req.auth_bytes, max_reauth_ms) {
        AuthStep::Challenge(bytes) => (
            SaslAuthenticateResponse::default().with_auth_bytes(bytes.into()),
            None,
        ),
        AuthStep::Success {
            user,
            response,
            session_lifetime_ms,
        } => {
            tracing::debug!(%user, peer, listener = %listener.name, session_lifetime_ms, "SASL authentication succeeded");
            shared
                .authentications
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (
                SaslAuthenticateResponse::default()
                    .with_auth_bytes(response.into())
                    .with_session_lifetime_ms(session_lifetime_ms),
                None,
            )
        }
        AuthStep::Failure(reason) => {
            tracing::info!(peer, listener = %listener.name, "SASL authentication failed: {reason}");
            let r = SaslAuthenticateResponse::default()
                .with_error_code(58)
                .with_error_message(message(reason.clone()));
            (r, Some(format!("authentication failed: {reason}")))
        }
    }
}
