//! SASL OAUTHBEARER on the dev broker (RFC 7628, Kafka's KIP-255), with unsecured tokens only.
//!
//! Apache Kafka's default validator accepts unsigned JWTs (`"alg":"none"`) and so does this
//! broker: `sub` names the principal, `exp` must lie ahead, `iat` (when given) must not. That
//! is why the mechanism is off unless `sasl.enabled.mechanisms` names it: anyone can make such
//! a token. A refused token is answered as RFC 7628 says: a JSON error status as a challenge,
//! then, after the client's 0x01, SASL_AUTHENTICATION_FAILED.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::Value;

/// What an accepted token says.
#[derive(Debug, PartialEq, Eq)]
pub struct ValidToken {
    pub principal: String,
    /// `exp`, in milliseconds since the epoch: a session ends then at the latest (KIP-368).
    pub expires_at_ms: i64,
}

/// The token of a client's initial response: `<gs2 header>0x01auth=Bearer <token>0x01
/// [key=value0x01]*0x01`. Extensions are accepted and not used.
pub fn bearer_token(message: &[u8]) -> Result<&str, String> {
    let message = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_string())?;
    let (gs2, rest) = message
        .split_once('\u{1}')
        .ok_or("no 0x01 after the GS2 header")?;
    if !(gs2.starts_with("n,") || gs2.starts_with("y,")) || !gs2.ends_with(',') {
        return Err(format!("malformed GS2 header `{gs2}`"));
    }
    let body = rest
        .strip_suffix("\u{1}\u{1}")
        .ok_or("the message does not end with two 0x01")?;
    let mut token = None;
    for pair in body.split('\u{1}') {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not key=value"))?;
        if key == "auth" {
            let t = value
                .strip_prefix("Bearer ")
                .ok_or("auth is not `Bearer <token>`")?;
            token = Some(t.trim());
        } else if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(format!("extension name `{key}` is not letters only"));
        }
    }
    token.ok_or_else(|| "no auth=Bearer entry".to_string())
}

fn json_part(part: &str, what: &str) -> Result<serde_json::Map<String, Value>, String> {
    let bytes = B64URL
        .decode(part.trim_end_matches('='))
        .map_err(|_| format!("the {what} is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(format!("the {what} is not a JSON object")),
    }
}

/// Checks an unsigned JWT at `now_ms` as Kafka's unsecured validator does.
pub fn validate_unsecured(token: &str, now_ms: i64) -> Result<ValidToken, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("a JWT has three dot-separated parts".into());
    };
    if !signature.is_empty() {
        return Err("signed tokens are not accepted: the dev broker takes unsecured JWTs".into());
    }
    let header = json_part(header, "JOSE header")?;
    if header.get("alg").and_then(Value::as_str) != Some("none") {
        return Err("the JOSE header's alg is not \"none\"".into());
    }
    let claims = json_part(claims, "claims part")?;
    let principal = match claims.get("sub") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err("no `sub` claim naming the principal".into()),
    };
    let seconds = |name: &str| -> Result<Option<i64>, String> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(|s| Some((s * 1000.0) as i64))
                .ok_or_else(|| format!("the `{name}` claim is not a number")),
        }
    };
    let expires_at_ms = seconds("exp")?.ok_or("no `exp` claim")?;
    if expires_at_ms <= now_ms {
        return Err(format!(
            "the token expired {} ms ago",
            now_ms - expires_at_ms
        ));
    }
    if seconds("iat")?.is_some_and(|iat| iat > now_ms + 1000) {
        return Err("the token is issued in the future (`iat`)".into());
    }
    Ok(ValidToken {
        principal,
        expires_at_ms,
    })
}

/// RFC 7628 §3.2.2's error challenge.
pub const INVALID_TOKEN: &[u8] = br#"{"status":"invalid_token"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, claims: &str, signature: &str) -> String {
        format!(
            "{}.{}.{signature}",
            B64URL.encode(header),
            B64URL.encode(claims)
        )
    }

    #[test]
    fn the_initial_response_gives_the_token() {
        assert_eq!(
            bearer_token(b"n,,\x01auth=Bearer a.b.\x01traceId=1\x01\x01"),
            Ok("a.b.")
        );
        assert_eq!(bearer_token(b"n,a=bob,\x01auth=Bearer t\x01\x01"), Ok("t"));
        for bad in [
            &b"n,,\x01auth=Bearer t\x01"[..],
            b"p=x,,\x01auth=Bearer t\x01\x01",
            b"n,,\x01auth=Basic t\x01\x01",
            b"n,,\x01traceId=1\x01\x01",
            b"n,,\x01tr-ace=1\x01auth=Bearer t\x01\x01",
        ] {
            assert!(bearer_token(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unsecured_tokens_need_sub_and_a_future_exp() {
        let now = 1_000_000;
        let ok = jwt(
            r#"{"alg":"none"}"#,
            r#"{"sub":"alice","exp":1100,"iat":1000}"#,
            "",
        );
        assert_eq!(
            validate_unsecured(&ok, now),
            Ok(ValidToken {
                principal: "alice".into(),
                expires_at_ms: 1_100_000
            })
        );
        let cases = [
            (
                jwt(r#"{"alg":"none"}"#, r#"{"sub":"alice","exp":999}"#, ""),
                "expired",
            ),
            (jwt(r#"{"alg":"none"}"#, r#"{"exp":1100}"#, ""), "sub"),
            (jwt(r#"{"alg":"none"}"#, r#"{"sub":"a"}"#, ""), "exp"),
            (
                jwt(r#"{"alg":"HS256"}"#, r#"{"sub":"a","exp":1100}"#, ""),
                "alg",
            ),
            (
                jwt(r#"{"alg":"none"}"#, r#"{"sub":"a","exp":1100}"#, "c2ln"),
                "signed",
            ),
            (
                jwt(
                    r#"{"alg":"none"}"#,
                    r#"{"sub":"a","exp":1100,"iat":2000}"#,
                    "",
                ),
                "future",
            ),
            ("a.b".to_string(), "three"),
            (jwt(r#"{"alg":"none"}"#, "[1]", ""), "JSON object"),
        ];
        for (token, why) in cases {
            let e = validate_unsecured(&token, now).unwrap_err();
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
