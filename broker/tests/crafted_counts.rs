//! A request whose array count claims billions of elements must close only its own connection.
//! It runs on the system allocator, which aborts the process on an allocation it cannot serve:
//! counts are checked against the frame before anything is allocated (vendor/kafka-protocol).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use krafty_broker::Broker;

fn request(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::new();
    msg.extend_from_slice(&api_key.to_be_bytes());
    msg.extend_from_slice(&version.to_be_bytes());
    msg.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    msg.extend_from_slice(&1i16.to_be_bytes()); // client id "x"
    msg.push(b'x');
    msg.extend_from_slice(body);
    let mut frame = (msg.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&msg);
    frame
}

/// The next response frame, or `None` when the broker closed the connection (EOF, or a reset,
/// even in the middle of a frame). A read that times out panics: a broker that hangs must fail
/// the test, not pass for one that closed the connection.
fn answer(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    if !read_or_closed(stream, &mut len) {
        return None;
    }
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    if !read_or_closed(stream, &mut body) {
        return None;
    }
    Some(body)
}

/// Fills `buf`: true when it was filled, false when the peer closed the connection first (EOF,
/// or a reset). Panics on a timeout or any other error: "closed" must mean closed.
fn read_or_closed(stream: &mut TcpStream, buf: &mut [u8]) -> bool {
    match stream.read_exact(buf) {
        Ok(()) => true,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
            ) =>
        {
            false
        }
        Err(e) => panic!(
            "the broker neither answered nor closed the connection: {e} ({:?})",
            e.kind()
        ),
    }
}

#[test]
fn huge_array_counts_close_only_their_connection() {
    let b = Broker::builder()
        .listen("127.0.0.1:0")
        .start_blocking()
        .unwrap();
    let connect = || {
        let s = TcpStream::connect(b.bootstrap_servers()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Metadata v1 (topics: int32 count) and v9 (flexible: compact count), ListOffsets v1,
    // each claiming i32::MAX elements with nothing after the count.
    for (key, version, body) in [
        (3i16, 1i16, i32::MAX.to_be_bytes().to_vec()),
        (
            2,
            1,
            [&(-1i32).to_be_bytes()[..], &i32::MAX.to_be_bytes()].concat(),
        ),
    ] {
        let mut bad = connect();
        bad.write_all(&request(key, version, &body)).unwrap();
        assert!(
            answer(&mut bad).is_none(),
            "api {key} v{version}: connection closed"
        );
    }
    let mut flexible = connect();
    let mut body = vec![0xff, 0xff, 0xff, 0xff, 0x07]; // uvarint 2^31 - 1
    body.push(0); // tagged fields
    let mut frame = request(3, 9, &[]);
    frame.push(0); // request header v2 tagged fields
    frame.extend_from_slice(&body);
    let len = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    flexible.write_all(&frame).unwrap();
    assert!(
        answer(&mut flexible).is_none(),
        "flexible Metadata: connection closed"
    );

    // ApiVersions v0 on a new connection is still answered.
    let mut good = connect();
    good.write_all(&request(18, 0, &[])).unwrap();
    let resp = answer(&mut good).expect("the broker keeps serving");
    assert_eq!(&resp[..4], &7i32.to_be_bytes(), "correlation id");
    assert_eq!(&resp[4..6], &0i16.to_be_bytes(), "error code NONE");
}
