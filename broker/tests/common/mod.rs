//! Raw Kafka frames for the broker's TCP tests: a request's frame, and a response read back
//! from one.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

/// `req` as one size-prefixed frame (client id "raw").
pub fn request_frame<R: Request>(req: &R, version: i16, correlation: i32) -> BytesMut {
    let key = ApiKey::try_from(R::KEY).unwrap();
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("raw")))
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    req.encode(&mut buf, version).unwrap();
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf
}

/// The response in `frame` (the size prefix already read), checked to answer `correlation`.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
    correlation: i32,
) -> R::Response {
    let key = ApiKey::try_from(R::KEY).unwrap();
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, correlation);
    R::Response::decode(&mut frame, version).unwrap()
}
