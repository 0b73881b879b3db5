//! A request frame as the server decodes it, after the size prefix: the API key and version
//! must be ones this broker serves, then the header and the body are decoded. Public so the
//! fuzz targets (broker/fuzz) run exactly this.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

/// Why a frame was not decoded: the connection that sent it is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than an API key, version and correlation id.
    Short,
    UnknownApiKey(i16),
    Unsupported(ApiKey, i16),
    MalformedHeader(String),
    MalformedRequest(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Short => write!(f, "a frame shorter than its request header"),
            FrameError::UnknownApiKey(key) => write!(f, "unknown API key {key}"),
            FrameError::Unsupported(key, v) => write!(f, "unsupported {key:?} v{v}"),
            FrameError::MalformedHeader(e) => write!(f, "malformed request header: {e}"),
            FrameError::MalformedRequest(e) => write!(f, "malformed request: {e}"),
        }
    }
}

/// The API key and version at the start of a frame, when it is long enough.
pub fn frame_api(frame: &[u8]) -> Result<(i16, i16), FrameError> {
    match frame {
        [k0, k1, v0, v1, _, _, _, _, ..] => Ok((
            i16::from_be_bytes([*k0, *k1]),
            i16::from_be_bytes([*v0, *v1]),
        )),
        _ => Err(FrameError::Short),
    }
}

/// Decodes the header and body of `frame` for an API and version the broker serves under
/// `transaction_version` (KIP-890's feature level, which moves some maximum versions).
pub fn decode_request(
    frame: &mut Bytes,
    transaction_version: i16,
) -> Result<(ApiKey, i16, RequestHeader, RequestKind), FrameError> {
    let (key, version) = frame_api(frame)?;
    let api_key = ApiKey::try_from(key).map_err(|_| FrameError::UnknownApiKey(key))?;
    if !crate::api::handles(api_key, version, transaction_version) {
        return Err(FrameError::Unsupported(api_key, version));
    }
    let header = RequestHeader::decode(frame, api_key.request_header_version(version))
        .map_err(|e| FrameError::MalformedHeader(e.to_string()))?;
    let request = RequestKind::decode(api_key, frame, version)
        .map_err(|e| FrameError::MalformedRequest(e.to_string()))?;
    Ok((api_key, version, header, request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::MetadataRequest;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn decodes_what_a_client_sends_and_refuses_the_rest() {
        let mut frame = bytes::BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(12)
            .with_correlation_id(5)
            .encode(&mut frame, ApiKey::Metadata.request_header_version(12))
            .unwrap();
        MetadataRequest::default().encode(&mut frame, 12).unwrap();
        let (key, version, header, request) =
            decode_request(&mut frame.clone().freeze(), 2).unwrap();
        assert_eq!(
            (key, version, header.correlation_id),
            (ApiKey::Metadata, 12, 5)
        );
        assert!(matches!(request, RequestKind::Metadata(_)));

        let mut huge = Bytes::from([&frame[..frame.len() - 1], &[0xff; 5]].concat());
        assert!(matches!(
            decode_request(&mut huge, 2),
            Err(FrameError::MalformedRequest(_))
        ));
        assert_eq!(
            decode_request(&mut Bytes::from_static(&[0, 3]), 2),
            Err(FrameError::Short)
        );
        let mut unknown = Bytes::from_static(&[0x7f, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            decode_request(&mut unknown, 2),
            Err(FrameError::UnknownApiKey(0x7f00))
        );
        let mut v99 = Bytes::from_static(&[0, 3, 0, 99, 0, 0, 0, 1]);
        assert_eq!(
            decode_request(&mut v99, 2),
            Err(FrameError::Unsupported(ApiKey::Metadata, 99))
        );
    }
}
