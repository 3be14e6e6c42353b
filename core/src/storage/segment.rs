//! One segment file of the log: `<first offset, 20 digits>.seg`, a plain concatenation of
//! records (see `record.rs`) with contiguous offsets starting at the offset in its name.
//!
//! Invariant: `len` is the byte length of the verified records of the file and `positions[i]` is
//! the byte position of the record with offset `first_offset + i`; nothing past `len` is ever
//! read. Recovery (`open_scan`) tells a torn tail (a crash mid-append: the bad bytes are followed
//! only by garbage, zeros or end of file) from corruption before the tail (a bad record followed
//! by a valid one, a bad record in a segment that is not the last, or an offset gap), which it
//! refuses with `CoreError::Corruption`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fsutil::{FsyncCounter, io_err, read_at_most};
use super::record::{self, BadRecord, Fixed, MIN_RECORD_BYTES, PREFIX_BYTES, Prefix};
use crate::error::{CoreError, Result};

/// Suffix of segment files.
const SUFFIX: &str = ".seg";

/// Largest segment file the in-memory index can address (positions are `u32`).
pub(crate) const MAX_SEGMENT_FILE_BYTES: u64 = u32::MAX as u64;

/// Where recovery cut a torn tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedTail {
    /// The segment file that was truncated.
    pub path: PathBuf,
    /// Byte position of the first bad byte; the file now ends here.
    pub at_byte: u64,
    /// How many bytes were removed.
    pub bytes_dropped: u64,
}

/// One segment file and its in-memory index.
#[derive(Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub first_offset: u64,
    /// Shared with readers that pread outside the append lock.
    pub file: Arc<File>,
    /// Bytes of verified records.
    pub len: u64,
    positions: Vec<u32>,
    /// Timestamp of the newest record (0 when empty); drives the age rule of retention.
    pub last_timestamp_ms: u64,
}

/// The byte range of a run of consecutive records inside one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u64,
    pub end: u64,
    pub first_offset: u64,
    pub count: u64,
}

impl Segment {
    /// `00000000000000000042.seg` for offset 42.
    pub(crate) fn file_name(first_offset: u64) -> String {
        format!("{first_offset:020}{SUFFIX}")
    }

    /// The first offset encoded in a segment file name, or `None` if the name is not a segment's.
    pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
        let digits = name.strip_suffix(SUFFIX)?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// Creates a new empty segment; the file and its directory entry are durable on return.
    pub(crate) fn create(dir: &Path, first_offset: u64, fsyncs: &FsyncCounter) -> Result<Self> {
        let path = dir.join(Self::file_name(first_offset));
        let file = fsyncs.create_new(&path)?;
        Ok(Self { path, first_offset, file: Arc::new(file), len: 0, positions: Vec::new(), last_timestamp_ms: 0 })
    }

    /// Number of records.
    pub(crate) fn count(&self) -> u64 {
        self.positions.len() as u64
    }

    /// Offset of the newest record, if any.
    pub(crate) fn last_offset(&self) -> Option<u64> {
        (!self.positions.is_empty()).then(|| self.first_offset + self.count() - 1)
    }

    /// Offset the next record of this segment gets.
    pub(crate) fn next_offset(&self) -> u64 {
        self.first_offset + self.count()
    }

    /// Opens and verifies a segment whose name says it starts at `first_offset`.
    ///
    /// `is_last`: a bad record followed by nothing valid is a torn tail, truncated (file fsynced)
    /// and returned; in any other segment it is corruption.
    pub(crate) fn open_scan(
        path: &Path,
        first_offset: u64,
        is_last: bool,
        fsyncs: &FsyncCounter,
    ) -> Result<(Self, Option<TruncatedTail>)> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(io_err(path))?;
        let file_len = file.metadata().map_err(io_err(path))?.len();
        if file_len > MAX_SEGMENT_FILE_BYTES {
            return Err(corruption(path, 0, format!("segment file is {file_len} bytes, above the 4 GiB limit")));
        }
        let mut segment = Self {
            path: path.to_path_buf(),
            first_offset,
            file: Arc::new(file),
            len: 0,
            positions: Vec::new(),
            last_timestamp_ms: 0,
        };
        let file = Arc::clone(&segment.file);
        let mut scan = ScanBuffer::new(&file, path, file_len);
        while segment.len < file_len {
            let pos = segment.len;
            let expected = segment.next_offset();
            match read_record_at(&mut scan, pos)? {
                Ok((fixed, record_len)) => {
                    if fixed.offset != expected {
                        return Err(corruption(
                            path,
                            pos,
                            format!("offset gap: expected record {expected}, found {}", fixed.offset),
                        ));
                    }
                    segment.positions.push(pos as u32);
                    segment.len = pos + record_len;
                    segment.last_timestamp_ms = fixed.timestamp_ms;
                }
                Err(bad) => {
                    if !is_last {
                        return Err(corruption(path, pos, format!("{bad} (in a segment that is not the last)")));
                    }
                    if let Some((at, offset)) = find_valid_record_after(&segment.file, path, pos, file_len, expected)? {
                        return Err(corruption(
                            path,
                            pos,
                            format!("{bad}, but a valid record (offset {offset}) follows at byte {at}"),
                        ));
                    }
                    segment.file.set_len(pos).map_err(io_err(path))?;
                    fsyncs.sync_all(&segment.file, path)?;
                    let tail = TruncatedTail { path: path.to_path_buf(), at_byte: pos, bytes_dropped: file_len - pos };
                    tracing::warn!(
                        file = %path.display(),
                        at_byte = pos,
                        bytes_dropped = tail.bytes_dropped,
                        reason = %bad,
                        "operation log: torn tail truncated"
                    );
                    return Ok((segment, Some(tail)));
                }
            }
        }
        Ok((segment, None))
    }

    /// Writes one encoded record at the end of the file. On error nothing is recorded in memory and
    /// the file is cut back to `len`; `Err` from the cut itself means the file's tail is unknown.
    pub(crate) fn append(&mut self, encoded: &[u8], fixed: Fixed) -> Result<(), AppendError> {
        debug_assert_eq!(fixed.offset, self.next_offset());
        if let Err(source) = self.file.write_all_at(encoded, self.len) {
            let write = CoreError::io(&self.path, source);
            return Err(match self.file.set_len(self.len) {
                Ok(()) => AppendError::NotWritten(write),
                Err(cut) => AppendError::TailUnknown { write, cut },
            });
        }
        // `open` and rotation keep `len` below MAX_SEGMENT_FILE_BYTES - MAX_RECORD_BYTES.
        self.positions.push(self.len as u32);
        self.len += encoded.len() as u64;
        self.last_timestamp_ms = fixed.timestamp_ms;
        Ok(())
    }

    /// Keeps the first `keep` records and cuts the file after them (fsynced).
    pub(crate) fn truncate_records(&mut self, keep: u64, fsyncs: &FsyncCounter) -> Result<()> {
        if keep >= self.count() {
            return Ok(());
        }
        let cut = u64::from(self.positions[keep as usize]);
        self.file.set_len(cut).map_err(io_err(&self.path))?;
        fsyncs.sync_all(&self.file, &self.path)?;
        self.positions.truncate(keep as usize);
        self.len = cut;
        // The timestamp of the new last record is not kept in memory; reading it back keeps the age
        // rule of retention exact.
        self.last_timestamp_ms = match self.positions.last() {
            Some(&pos) => read_timestamp(&self.file, &self.path, u64::from(pos))?,
            None => 0,
        };
        Ok(())
    }

    /// Bytes of the records of this segment with offset > `offset` (all of them when `offset`
    /// precedes the segment, none when it is at or past its last record).
    pub(crate) fn bytes_after(&self, offset: u64) -> u64 {
        match self.last_offset() {
            Some(last) if offset < last => {
                if offset < self.first_offset {
                    self.len
                } else {
                    self.len - self.end_of(offset)
                }
            }
            _ => 0,
        }
    }

    /// Byte position of the record with offset `offset` (which must be in this segment).
    fn position(&self, offset: u64) -> u64 {
        u64::from(self.positions[(offset - self.first_offset) as usize])
    }

    /// End position of the record with offset `offset`.
    fn end_of(&self, offset: u64) -> u64 {
        let next = offset + 1 - self.first_offset;
        match self.positions.get(next as usize) {
            Some(&pos) => u64::from(pos),
            None => self.len,
        }
    }

    /// The records from `from` (inside this segment) onwards whose total size fits in `budget`
    /// bytes; at least one if `at_least_one`. `None` when not even one fits.
    pub(crate) fn span_from(&self, from: u64, budget: u64, at_least_one: bool) -> Option<Span> {
        let last = self.last_offset()?;
        if from < self.first_offset || from > last {
            return None;
        }
        let start = self.position(from);
        let mut end = start;
        let mut offset = from;
        while offset <= last {
            let next_end = self.end_of(offset);
            let fits = next_end - start <= budget || (at_least_one && offset == from);
            if !fits {
                break;
            }
            end = next_end;
            offset += 1;
        }
        (offset > from).then_some(Span { start, end, first_offset: from, count: offset - from })
    }
}

/// Failure of [`Segment::append`].
#[derive(Debug)]
pub(crate) enum AppendError {
    /// The write failed and the file was cut back: the log is unchanged.
    NotWritten(CoreError),
    /// The write failed and so did cutting the file back: the log must stop accepting writes.
    TailUnknown { write: CoreError, cut: std::io::Error },
}

fn corruption(path: &Path, offset: u64, detail: String) -> CoreError {
    CoreError::Corruption { path: path.to_path_buf(), offset, detail }
}

/// Sequential reads of a segment file through one large buffer: recovery reads every byte once,
/// so small records must not cost a system call each.
struct ScanBuffer<'a> {
    file: &'a File,
    path: &'a Path,
    file_len: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    start: u64,
}

/// Size of one refill of a [`ScanBuffer`].
const SCAN_BUFFER_BYTES: usize = 4 << 20;

impl<'a> ScanBuffer<'a> {
    fn new(file: &'a File, path: &'a Path, file_len: u64) -> Self {
        Self { file, path, file_len, buf: Vec::new(), start: 0 }
    }

    /// The `len` bytes at `pos`, or fewer if the file ends first. `len` is at most
    /// `MAX_RECORD_BYTES`, so a refill allocates at most that or `SCAN_BUFFER_BYTES`.
    fn bytes(&mut self, pos: u64, len: usize) -> Result<&[u8]> {
        let buffered = pos >= self.start && pos + len as u64 <= self.start + self.buf.len() as u64;
        if !buffered {
            let remaining = self.file_len.saturating_sub(pos);
            let want = (len.max(SCAN_BUFFER_BYTES) as u64).min(remaining) as usize;
            self.buf.resize(want, 0);
            let got = read_at_most(self.file, self.path, &mut self.buf, pos)?;
            self.buf.truncate(got);
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        let to = (from + len).min(self.buf.len());
        Ok(&self.buf[from..to])
    }
}

/// Reads and verifies the record at `pos`. The outer `Result` is an I/O failure; the inner one says
/// whether the bytes are a valid record (and if so its fixed fields and size).
fn read_record_at(scan: &mut ScanBuffer<'_>, pos: u64) -> Result<Result<(Fixed, u64), BadRecord>> {
    let prefix_bytes: [u8; PREFIX_BYTES] = match scan.bytes(pos, PREFIX_BYTES)?.try_into() {
        Ok(bytes) => bytes,
        Err(_) => {
            let available = scan.file_len.saturating_sub(pos);
            return Ok(Err(BadRecord::Truncated { needed: PREFIX_BYTES as u64, available }));
        }
    };
    let prefix = match Prefix::parse(prefix_bytes) {
        Ok(p) => p,
        Err(bad) => return Ok(Err(bad)),
    };
    let available = scan.file_len - pos;
    if prefix.record_len() > available {
        return Ok(Err(BadRecord::Truncated { needed: prefix.record_len(), available }));
    }
    let body = scan.bytes(pos + PREFIX_BYTES as u64, prefix.body_len as usize)?;
    if body.len() < prefix.body_len as usize {
        let available = (PREFIX_BYTES + body.len()) as u64;
        return Ok(Err(BadRecord::Truncated { needed: prefix.record_len(), available }));
    }
    Ok(record::verify_body(prefix, body).map(|fixed| (fixed, prefix.record_len())))
}

/// Looks for a valid record starting anywhere after the bad one at `bad_pos`. Candidates are
/// filtered on a plausible length and offset (at least `expected`, at most as many records as the
/// remaining bytes could hold) before their CRC is checked, so garbage is scanned cheaply.
fn find_valid_record_after(
    file: &File,
    path: &Path,
    bad_pos: u64,
    file_len: u64,
    expected: u64,
) -> Result<Option<(u64, u64)>> {
    // Bytes needed to read the length and offset fields of a candidate.
    const PEEK: usize = PREFIX_BYTES + 16;
    const WINDOW: usize = 1 << 20;
    let max_offset = expected.saturating_add((file_len - bad_pos) / MIN_RECORD_BYTES as u64 + 1);
    let mut window = vec![0u8; WINDOW + PEEK];
    let mut scan = ScanBuffer::new(file, path, file_len);
    let mut base = bad_pos + 1;
    while base + (MIN_RECORD_BYTES as u64) <= file_len {
        let got = read_at_most(file, path, &mut window, base)?;
        for i in 0..got.saturating_sub(PEEK - 1) {
            let candidate = &window[i..i + PEEK];
            let mut prefix_bytes = [0u8; PREFIX_BYTES];
            prefix_bytes.copy_from_slice(&candidate[..PREFIX_BYTES]);
            let Ok(prefix) = Prefix::parse(prefix_bytes) else {
                continue;
            };
            let at = base + i as u64;
            if at + prefix.record_len() > file_len {
                continue;
            }
            let Some(offset) = record::peek_offset(&candidate[PREFIX_BYTES..]) else {
                continue;
            };
            if offset < expected || offset > max_offset {
                continue;
            }
            if let Ok((fixed, _)) = read_record_at(&mut scan, at)? {
                return Ok(Some((at, fixed.offset)));
            }
        }
        base += WINDOW as u64;
    }
    Ok(None)
}

/// Reads the timestamp field of the (already verified) record at `pos`.
fn read_timestamp(file: &File, path: &Path, pos: u64) -> Result<u64> {
    let mut ts = [0u8; 8];
    let got = read_at_most(file, path, &mut ts, pos + PREFIX_BYTES as u64 + 16)?;
    if got < ts.len() {
        return Err(corruption(path, pos, "record shorter than its header".to_owned()));
    }
    Ok(u64::from_le_bytes(ts))
}
