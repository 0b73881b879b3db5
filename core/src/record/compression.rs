//! Batch compression codecs, with Kafka's framing for each.
//!
//! gzip (RFC 1952), snappy (Java clients write xerial-framed snappy; both xerial and raw are
//! read), lz4 (the LZ4 frame format, as Kafka 0.10+), zstd.

use std::io::{Read, Write};

use crate::error::{KafkaError, Result};

/// `compression.type`, with the attribute bits Kafka uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn attribute(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    pub fn from_attribute(attributes: i16) -> Result<Compression> {
        Ok(match attributes & 0x07 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => {
                return Err(KafkaError::Protocol(format!(
                    "unknown compression codec {other}"
                )))
            }
        })
    }

    pub fn parse(name: &str) -> Option<Compression> {
        Some(match name.to_ascii_lowercase().as_str() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            _ => return None,
        })
    }
}

const XERIAL_MAGIC: &[u8] = &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

fn io(e: std::io::Error) -> KafkaError {
    KafkaError::Protocol(format!("compression failed: {e}"))
}

/// Compresses `input` into `out` (appending). `level` is the codec's own level, if set.
pub fn compress(
    codec: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let level = flate2::Compression::new(level.unwrap_or(6).clamp(1, 9) as u32);
            let mut enc = flate2::write::GzEncoder::new(out, level);
            enc.write_all(input).map_err(io)?;
            enc.finish().map_err(io)?;
        }
        Compression::Snappy => {
            // xerial framing: magic, version 1, compatible version 1, then length-prefixed blocks.
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            for chunk in input.chunks(32 * 1024) {
                let block = encoder
                    .compress_vec(chunk)
                    .map_err(|e| KafkaError::Protocol(e.to_string()))?;
                out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                out.extend_from_slice(&block);
            }
        }
        Compression::Lz4 => {
            // The frame Kafka's own writer makes: 64 KiB independent blocks, no checksums
            // (the record batch has its CRC).
            let mut enc = lz4::EncoderBuilder::new()
                .level(level.unwrap_or(9).clamp(1, 17) as u32)
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(out)
                .map_err(io)?;
            enc.write_all(input).map_err(io)?;
            let (_, r) = enc.finish();
            r.map_err(io)?;
        }
        Compression::Zstd => {
            let compressed = zstd::bulk::compress(input, level.unwrap_or(3)).map_err(io)?;
            out.extend_from_slice(&compressed);
        }
    }
    Ok(())
}

/// Decompresses a batch's records section.
pub fn decompress(codec: Compression, input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3);
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            flate2::read::GzDecoder::new(input)
                .read_to_end(&mut out)
                .map_err(io)?;
        }
        Compression::Snappy => {
            if input.starts_with(XERIAL_MAGIC) {
                let mut pos = 16;
                while pos + 4 <= input.len() {
                    let n = i32::from_be_bytes(input[pos..pos + 4].try_into().unwrap()) as usize;
                    pos += 4;
                    let block = input
                        .get(pos..pos + n)
                        .ok_or_else(|| KafkaError::Protocol("truncated snappy block".into()))?;
                    out.extend_from_slice(
                        &snap::raw::Decoder::new()
                            .decompress_vec(block)
                            .map_err(|e| KafkaError::Protocol(e.to_string()))?,
                    );
                    pos += n;
                }
            } else {
                out = snap::raw::Decoder::new()
                    .decompress_vec(input)
                    .map_err(|e| KafkaError::Protocol(e.to_string()))?;
            }
        }
        Compression::Lz4 => {
            lz4::Decoder::new(input)
                .map_err(io)?
                .read_to_end(&mut out)
                .map_err(io)?;
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(input)
                .map_err(io)?
                .read_to_end(&mut out)
                .map_err(io)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let input: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut out = Vec::new();
            compress(codec, None, &input, &mut out).unwrap();
            if codec != Compression::None {
                assert!(
                    out.len() < input.len(),
                    "{codec:?} compressed {} to {}",
                    input.len(),
                    out.len()
                );
            }
            assert_eq!(decompress(codec, &out).unwrap(), input, "{codec:?}");
        }
    }

    #[test]
    fn lz4_frame_has_the_flags_kafka_writes() {
        // Apache Kafka rejects some frames liblz4 makes by default (it answered
        // UNKNOWN_SERVER_ERROR to block checksums): write the frame its own producer writes.
        let mut out = Vec::new();
        compress(Compression::Lz4, None, &[7u8; 200_000], &mut out).unwrap();
        assert_eq!(&out[..4], &0x184D_2204u32.to_le_bytes(), "LZ4 frame magic");
        assert_eq!(
            out[4], 0b0110_0000,
            "version 1, independent blocks, no checksums or size"
        );
        assert_eq!(out[5], 0b0100_0000, "64 KiB maximum block size");
    }
}
