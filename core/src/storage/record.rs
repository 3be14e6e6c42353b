//! The on-disk record of the operation log and its CRC32C.
//!
//! Byte layout (all integers little-endian):
//!
//! ```text
//! 0      4        8        16        24              32
//! | len  | crc32c | epoch  | offset  | timestamp_ms  | payload (len - 24 bytes) |
//! ```
//!
//! `len` counts the bytes after the crc field (24 + payload length); `crc32c` covers exactly those
//! bytes (epoch, offset, timestamp and payload). A record is therefore `8 + len` bytes long.
//!
//! Invariant: nothing decoded from disk allocates more than [`MAX_RECORD_BYTES`]; a length outside
//! `[24, MAX_RECORD_BYTES - 8]` is rejected before any buffer is sized from it.

use std::fmt;

use bytes::Bytes;

/// Upper bound of one encoded record (header included). A corrupt length can never make a reader
/// allocate more than this.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Bytes of the `len` and `crc32c` fields.
pub(crate) const PREFIX_BYTES: usize = 8;
/// Bytes of the fixed fields covered by the CRC (epoch, offset, timestamp).
pub(crate) const FIXED_BODY_BYTES: usize = 24;
/// Smallest possible record (empty payload).
pub(crate) const MIN_RECORD_BYTES: usize = PREFIX_BYTES + FIXED_BODY_BYTES;
/// Largest payload a record may carry.
pub const MAX_PAYLOAD_BYTES: usize = MAX_RECORD_BYTES - MIN_RECORD_BYTES;

/// One entry of the operation log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Leadership epoch of the master that produced the record.
    pub epoch: u64,
    /// Position in the log: contiguous, starting at the log's start offset, never reused.
    pub offset: u64,
    /// Master wall-clock time of the append, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The encoded operation (opaque to the log).
    pub payload: Bytes,
}

impl Record {
    /// Size of this record on disk.
    pub fn encoded_len(&self) -> usize {
        encoded_len(self.payload.len())
    }
}

/// Size on disk of a record carrying `payload_len` bytes.
pub(crate) fn encoded_len(payload_len: usize) -> usize {
    MIN_RECORD_BYTES + payload_len
}

/// Appends the encoded record to `buf`. The caller has checked `payload.len() <= MAX_PAYLOAD_BYTES`.
pub(crate) fn encode_into(buf: &mut Vec<u8>, epoch: u64, offset: u64, timestamp_ms: u64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD_BYTES);
    let start = buf.len();
    // The bound above keeps this below u32::MAX.
    let body_len = (FIXED_BODY_BYTES + payload.len()) as u32;
    buf.reserve(PREFIX_BYTES + body_len as usize);
    buf.extend_from_slice(&body_len.to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&epoch.to_le_bytes());
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&timestamp_ms.to_le_bytes());
    buf.extend_from_slice(payload);
    let crc = crc32c::crc32c(&buf[start + PREFIX_BYTES..]);
    buf[start + 4..start + PREFIX_BYTES].copy_from_slice(&crc.to_le_bytes());
}

/// Why bytes at some position are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadRecord {
    /// Fewer bytes remain than the header or the declared length needs.
    Truncated { needed: u64, available: u64 },
    /// The length field is outside `[24, MAX_RECORD_BYTES - 8]`.
    BadLength { len: u32 },
    /// The CRC32C of the body does not match the stored one.
    BadCrc { stored: u32, computed: u32 },
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "truncated record: needs {needed} bytes, {available} available")
            }
            Self::BadLength { len } => {
                write!(f, "record length {len} outside [{FIXED_BODY_BYTES}, {}]", MAX_RECORD_BYTES - PREFIX_BYTES)
            }
            Self::BadCrc { stored, computed } => {
                write!(f, "crc32c mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
        }
    }
}

/// The two prefix fields of a record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prefix {
    /// Bytes after the crc field.
    pub body_len: u32,
    pub crc: u32,
}

impl Prefix {
    /// Parses the 8 prefix bytes, rejecting a length outside the allowed range.
    pub(crate) fn parse(bytes: [u8; PREFIX_BYTES]) -> Result<Self, BadRecord> {
        let body_len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if (body_len as usize) < FIXED_BODY_BYTES || body_len as usize > MAX_RECORD_BYTES - PREFIX_BYTES {
            return Err(BadRecord::BadLength { len: body_len });
        }
        Ok(Self { body_len, crc })
    }

    /// Whole record size on disk.
    pub(crate) fn record_len(self) -> u64 {
        PREFIX_BYTES as u64 + u64::from(self.body_len)
    }
}

/// The fixed fields of a verified record body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fixed {
    pub epoch: u64,
    pub offset: u64,
    pub timestamp_ms: u64,
}

/// Verifies `body` (the bytes after the crc field, exactly `prefix.body_len` long) and returns
/// its fixed fields.
pub(crate) fn verify_body(prefix: Prefix, body: &[u8]) -> Result<Fixed, BadRecord> {
    debug_assert_eq!(body.len(), prefix.body_len as usize);
    let computed = crc32c::crc32c(body);
    if computed != prefix.crc {
        return Err(BadRecord::BadCrc { stored: prefix.crc, computed });
    }
    Ok(Fixed { epoch: read_u64(body, 0), offset: read_u64(body, 8), timestamp_ms: read_u64(body, 16) })
}

/// Reads the offset field of a body without verifying it (used to filter resync candidates).
pub(crate) fn peek_offset(body_start: &[u8]) -> Option<u64> {
    (body_start.len() >= 16).then(|| read_u64(body_start, 8))
}

/// Decodes and verifies the record starting at `pos` in `buf`; returns it (its payload shares
/// `buf`'s memory) and the position after it.
pub(crate) fn decode_at(buf: &Bytes, pos: usize) -> Result<(Record, usize), BadRecord> {
    let available = buf.len().saturating_sub(pos);
    if available < PREFIX_BYTES {
        return Err(BadRecord::Truncated { needed: PREFIX_BYTES as u64, available: available as u64 });
    }
    let mut prefix_bytes = [0u8; PREFIX_BYTES];
    prefix_bytes.copy_from_slice(&buf[pos..pos + PREFIX_BYTES]);
    let prefix = Prefix::parse(prefix_bytes)?;
    let end = pos + PREFIX_BYTES + prefix.body_len as usize;
    if end > buf.len() {
        return Err(BadRecord::Truncated { needed: prefix.record_len(), available: available as u64 });
    }
    let fixed = verify_body(prefix, &buf[pos + PREFIX_BYTES..end])?;
    let record = Record {
        epoch: fixed.epoch,
        offset: fixed.offset,
        timestamp_ms: fixed.timestamp_ms,
        payload: buf.slice(pos + MIN_RECORD_BYTES..end),
    };
    Ok((record, end))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(epoch: u64, offset: u64, ts: u64, payload: &[u8]) -> Bytes {
        let mut buf = Vec::new();
        encode_into(&mut buf, epoch, offset, ts, payload);
        Bytes::from(buf)
    }

    #[test]
    fn round_trip_and_layout() {
        let buf = encode(3, 42, 1_700_000_000_000, b"hello");
        assert_eq!(buf.len(), encoded_len(5));
        assert_eq!(u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]), 29);
        assert_eq!(u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]), crc32c::crc32c(&buf[8..]));
        let (record, end) = decode_at(&buf, 0).expect("valid record");
        assert_eq!(end, buf.len());
        assert_eq!(
            record,
            Record { epoch: 3, offset: 42, timestamp_ms: 1_700_000_000_000, payload: Bytes::from_static(b"hello") }
        );
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let buf = encode(1, 7, 9, b"payload bytes");
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.to_vec();
                bad[byte] ^= 1 << bit;
                assert!(decode_at(&Bytes::from(bad), 0).is_err(), "flip at byte {byte} bit {bit} undetected");
            }
        }
    }

    #[test]
    fn length_is_bounded_before_allocation() {
        let mut prefix = [0u8; PREFIX_BYTES];
        prefix[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Prefix::parse(prefix), Err(BadRecord::BadLength { .. })));
        prefix[..4].copy_from_slice(&23u32.to_le_bytes());
        assert!(matches!(Prefix::parse(prefix), Err(BadRecord::BadLength { len: 23 })));
        assert!(matches!(Prefix::parse([0; PREFIX_BYTES]), Err(BadRecord::BadLength { len: 0 })));
    }

    #[test]
    fn truncated_input_is_reported() {
        let buf = encode(1, 1, 1, b"abc");
        for cut in 0..buf.len() {
            let err = decode_at(&buf.slice(..cut), 0).expect_err("truncated");
            assert!(matches!(err, BadRecord::Truncated { .. }), "{err}");
        }
    }
}
