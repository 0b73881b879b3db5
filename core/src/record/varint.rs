//! Zig-zag varints as the record format uses them.

use bytes::BufMut;

pub fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn len_u64(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Encoded size of a signed varint / varlong.
pub fn len_i64(v: i64) -> usize {
    len_u64(zigzag64(v))
}

pub fn put_i64<B: BufMut>(b: &mut B, v: i64) {
    let mut u = zigzag64(v);
    while u >= 0x80 {
        b.put_u8((u as u8) | 0x80);
        u >>= 7;
    }
    b.put_u8(u as u8);
}

/// Writes a signed varint/varlong at the start of `out` (at least 10 bytes); returns its
/// length. For building several fields on the stack and copying them in one go.
pub fn write_i64(out: &mut [u8], v: i64) -> usize {
    let mut u = zigzag64(v);
    let mut n = 0;
    while u >= 0x80 {
        out[n] = (u as u8) | 0x80;
        u >>= 7;
        n += 1;
    }
    out[n] = u as u8;
    n + 1
}

/// Reads a signed varint/varlong; `None` on truncation or overflow.
pub fn get_i64(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut result: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        result |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    Some(((result >> 1) as i64) ^ -((result & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_i64_matches_put_i64() {
        for v in [
            0i64,
            1,
            -1,
            63,
            64,
            -65,
            300,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ] {
            let mut a = Vec::new();
            put_i64(&mut a, v);
            let mut b = [0u8; 10];
            let n = write_i64(&mut b, v);
            assert_eq!(&b[..n], &a[..], "{v}");
            assert_eq!(n, len_i64(v));
        }
    }

    #[test]
    fn round_trips_and_sizes() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ] {
            let mut buf = Vec::new();
            put_i64(&mut buf, v);
            assert_eq!(buf.len(), len_i64(v), "{v}");
            let mut pos = 0;
            assert_eq!(get_i64(&buf, &mut pos), Some(v));
            assert_eq!(pos, buf.len());
        }
        let mut buf = Vec::new();
        put_i64(&mut buf, -1);
        assert_eq!(buf, [1]);
    }
}
