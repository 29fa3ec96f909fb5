//! The four Kafka compression codecs, through their crates, with a cap on decompressed size.

use std::io::{Read, Write};

use crate::batch_header::COMPRESSION_MASK;
use crate::error::BatchError;

/// A batch's compression codec (attributes bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// The xerial snappy-java stream header Kafka's Java client writes.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_BLOCK: usize = 32 * 1024;

impl Compression {
    /// The codec named by a batch's attributes.
    pub fn from_attributes(attributes: i16) -> Result<Self, BatchError> {
        Ok(match attributes & COMPRESSION_MASK {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(BatchError::UnknownCompression(other)),
        })
    }

    /// The codec id stored in attributes.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

fn failed(codec: Compression, e: impl std::fmt::Display) -> BatchError {
    BatchError::Malformed(format!("{codec:?} decompression failed: {e}"))
}

/// Reads all of `reader`, failing if it yields more than `max` bytes.
fn read_capped(codec: Compression, reader: impl Read, max: usize) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| failed(codec, e))?;
    if out.len() > max {
        return Err(BatchError::Malformed(format!(
            "{codec:?} data decompresses past {max} bytes"
        )));
    }
    Ok(out)
}

/// Decompresses `data` (a batch's records section), refusing output larger than `max`.
pub fn decompress(codec: Compression, data: &[u8], max: usize) -> Result<Vec<u8>, BatchError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => read_capped(codec, flate2::read::GzDecoder::new(data), max),
        Compression::Lz4 => read_capped(codec, lz4_flex::frame::FrameDecoder::new(data), max),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(data).map_err(|e| failed(codec, e))?;
            read_capped(codec, decoder, max)
        }
        Compression::Snappy => match data.strip_prefix(XERIAL_MAGIC) {
            Some(rest) => snappy_xerial(rest, max),
            None => snappy_block(data, max),
        },
    }
}

fn snappy_block(block: &[u8], max: usize) -> Result<Vec<u8>, BatchError> {
    let len = snap::raw::decompress_len(block).map_err(|e| failed(Compression::Snappy, e))?;
    if len > max {
        return Err(BatchError::Malformed(format!(
            "snappy block decompresses past {max} bytes"
        )));
    }
    snap::raw::Decoder::new()
        .decompress_vec(block)
        .map_err(|e| failed(Compression::Snappy, e))
}

/// The xerial framing: version and compatible-version ints, then length-prefixed raw blocks.
fn snappy_xerial(rest: &[u8], max: usize) -> Result<Vec<u8>, BatchError> {
    let mut pos = 8; // two i32s: version, compatible version
    let mut out = Vec::new();
    while pos < rest.len() {
        let len_bytes: [u8; 4] = rest
            .get(pos..pos + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| failed(Compression::Snappy, "truncated xerial block length"))?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        pos += 4;
        let block = rest
            .get(pos..pos + len)
            .ok_or_else(|| failed(Compression::Snappy, "truncated xerial block"))?;
        out.extend(snappy_block(block, max.saturating_sub(out.len()))?);
        pos += len;
    }
    Ok(out)
}

fn encode_failed(codec: Compression, e: impl std::fmt::Display) -> BatchError {
    BatchError::Malformed(format!("{codec:?} compression failed: {e}"))
}

/// Compresses `data` as Kafka clients expect to read it.
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, BatchError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data).map_err(|e| encode_failed(codec, e))?;
            enc.finish().map_err(|e| encode_failed(codec, e))
        }
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_mode(lz4_flex::frame::BlockMode::Independent)
                .block_size(lz4_flex::frame::BlockSize::Max64KB);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(data).map_err(|e| encode_failed(codec, e))?;
            enc.finish().map_err(|e| encode_failed(codec, e))
        }
        Compression::Zstd => zstd::bulk::compress(data, 3).map_err(|e| encode_failed(codec, e)),
        Compression::Snappy => {
            let mut out = XERIAL_MAGIC.to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK) {
                let block = encoder
                    .compress_vec(chunk)
                    .map_err(|e| encode_failed(codec, e))?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in ALL {
            let packed = compress(codec, &data).unwrap();
            assert_eq!(
                decompress(codec, &packed, 1 << 20).unwrap(),
                data,
                "{codec:?}"
            );
            assert_eq!(Compression::from_attributes(codec.id()).unwrap(), codec);
        }
    }

    #[test]
    fn raw_snappy_blocks_decode_too() {
        let block = snap::raw::Encoder::new()
            .compress_vec(b"librdkafka writes raw blocks")
            .unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &block, 100).unwrap(),
            b"librdkafka writes raw blocks"
        );
    }

    #[test]
    fn output_past_the_cap_is_refused() {
        let zeros = vec![0u8; 1 << 20];
        for codec in ALL.into_iter().skip(1) {
            let packed = compress(codec, &zeros).unwrap();
            assert!(decompress(codec, &packed, 1000).is_err(), "{codec:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in ALL.into_iter().skip(1) {
            for garbage in [
                &b""[..],
                b"\x00\x01\x02",
                b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff\xff\xff",
            ] {
                let _ = decompress(codec, garbage, 1 << 20);
            }
        }
        assert!(Compression::from_attributes(5).is_err());
    }
}
