//! SASL PLAIN (RFC 4616): one message, `authzid NUL authcid NUL password`, with an empty
//! authorization id (the broker uses the authenticated name). Sent in clear text: only for
//! listeners on a trusted network until TLS is supported.

use super::{Exchange, Step};

pub(super) struct Plain {
    message: Option<Vec<u8>>,
}

impl Plain {
    pub(super) fn new(username: &str, password: &str) -> Plain {
        let mut m = Vec::with_capacity(username.len() + password.len() + 2);
        m.push(0);
        m.extend_from_slice(username.as_bytes());
        m.push(0);
        m.extend_from_slice(password.as_bytes());
        Plain { message: Some(m) }
    }
}

impl Exchange for Plain {
    fn step(&mut self, _challenge: Option<&[u8]>) -> Result<Step, String> {
        // The broker's answer to the one message is empty: success is its error code alone.
        Ok(match self.message.take() {
            Some(m) => Step::Send(m),
            None => Step::Done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_then_done() {
        let mut p = Plain::new("alice", "s3cret");
        match p.step(None).unwrap() {
            Step::Send(m) => assert_eq!(m, b"\0alice\0s3cret"),
            Step::Done => panic!("nothing sent"),
        }
        assert!(matches!(p.step(Some(b"")).unwrap(), Step::Done));
    }
}
