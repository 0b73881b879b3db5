//! A request frame as a list of byte segments, written with one vectored write.
//!
//! Most of a Produce request is its record batches, already encoded in buffers of their own.
//! Copying each into one contiguous frame was a fifth of the producer's CPU; a frame instead
//! holds small parts (length, header, field prefixes) in a scratch buffer and the batches by
//! reference, and the socket gathers them (`writev`), as librdkafka's buffer slices do.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Below this a shared segment is copied into the scratch buffer: an iovec entry costs more
/// than copying a few hundred bytes.
const COPY_BELOW: usize = 512;

/// Builds a frame: small writes go to `buf()`, record sets to `put_shared`.
pub struct FrameBuilder {
    scratch: BytesMut,
    parts: VecDeque<Bytes>,
    len: usize,
}

impl FrameBuilder {
    /// `small` is a hint for the bytes written through `buf()`.
    pub fn with_capacity(small: usize) -> FrameBuilder {
        FrameBuilder {
            scratch: BytesMut::with_capacity(small),
            parts: VecDeque::new(),
            len: 0,
        }
    }

    /// The buffer for the frame's next small bytes.
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.scratch
    }

    /// Appends `bytes` by reference (no copy unless it is small).
    pub fn put_shared(&mut self, bytes: Bytes) {
        if bytes.len() < COPY_BELOW {
            self.scratch.put_slice(&bytes);
            return;
        }
        self.flush_scratch();
        self.len += bytes.len();
        self.parts.push_back(bytes);
    }

    fn flush_scratch(&mut self) {
        if !self.scratch.is_empty() {
            let small = self.scratch.split().freeze();
            self.len += small.len();
            self.parts.push_back(small);
        }
    }

    /// The frame, its 4-byte size prefix in front.
    pub fn finish(mut self) -> Frame {
        self.flush_scratch();
        Frame {
            prefix: (self.len as i32).to_be_bytes(),
            prefix_left: 4,
            parts: self.parts,
        }
    }
}

/// A frame ready to write: `Buf` over its size prefix and segments.
pub struct Frame {
    prefix: [u8; 4],
    prefix_left: usize,
    parts: VecDeque<Bytes>,
}

impl Frame {
    /// The frame as one contiguous buffer (tests, and writers without vectored I/O).
    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = self.prefix[4 - self.prefix_left..].to_vec();
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        out
    }
}

impl Buf for Frame {
    fn remaining(&self) -> usize {
        self.prefix_left + self.parts.iter().map(Bytes::len).sum::<usize>()
    }

    fn chunk(&self) -> &[u8] {
        if self.prefix_left > 0 {
            &self.prefix[4 - self.prefix_left..]
        } else {
            self.parts.front().map_or(&[], |b| b.as_ref())
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        let from_prefix = cnt.min(self.prefix_left);
        self.prefix_left -= from_prefix;
        cnt -= from_prefix;
        while cnt > 0 {
            let front = self
                .parts
                .front_mut()
                .expect("advanced past the end of a frame");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        if self.prefix_left > 0 && n < dst.len() {
            dst[n] = IoSlice::new(&self.prefix[4 - self.prefix_left..]);
            n += 1;
        }
        for p in &self.parts {
            if n == dst.len() {
                break;
            }
            dst[n] = IoSlice::new(p);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_with(batches: &[usize]) -> (Frame, Vec<u8>) {
        let mut b = FrameBuilder::with_capacity(16);
        let mut body = Vec::new();
        for (i, &n) in batches.iter().enumerate() {
            b.buf().put_u8(i as u8);
            body.push(i as u8);
            let data: Vec<u8> = (0..n).map(|x| (x * 7 + i) as u8).collect();
            body.extend_from_slice(&data);
            b.put_shared(Bytes::from(data));
        }
        b.buf().put_u8(0xff);
        body.push(0xff);
        let mut expected = (body.len() as i32).to_be_bytes().to_vec();
        expected.extend_from_slice(&body);
        (b.finish(), expected)
    }

    #[test]
    fn a_frame_is_its_size_then_its_parts_in_order() {
        let (frame, expected) = frame_with(&[10, 2000, 600, 3]);
        assert_eq!(frame.to_vec(), expected);
        assert_eq!(frame.remaining(), expected.len());
        // Small shared parts were copied: length, scratch+10, 2000, scratch, 600, scratch+3+tail.
        let mut slices = [IoSlice::new(&[]); 16];
        assert_eq!(frame.chunks_vectored(&mut slices), 6);
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let (mut frame, expected) = frame_with(&[1000, 5000, 700]);
        let mut written = Vec::new();
        // Every step writes a few bytes from the vectored view, as a short writev would.
        for step in [1usize, 2, 5, 600, 1, 4000, 1300, 999_999] {
            let mut slices = [IoSlice::new(&[]); 8];
            let n = frame.chunks_vectored(&mut slices);
            let mut take = step.min(frame.remaining());
            let mut done = 0;
            for s in &slices[..n] {
                let k = take.min(s.len());
                written.extend_from_slice(&s[..k]);
                take -= k;
                done += k;
            }
            frame.advance(done);
            if !frame.has_remaining() {
                break;
            }
        }
        assert_eq!(written, expected);
        assert_eq!(frame.chunk(), &[] as &[u8]);
    }
}
