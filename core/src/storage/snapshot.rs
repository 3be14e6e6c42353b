//! Snapshot files: a chunked body with a CRC32C per chunk, a blake3 digest of the whole body and
//! a manifest, in one self-describing file `snapshot-<offset, 20 digits>.snap`.
//!
//! Byte layout (integers little-endian):
//!
//! ```text
//! header   (32 bytes)  magic "VECSNAP\0" (8) | format_version u32 | epoch u64 | offset u64
//!                      | crc32c u32 (over the 28 bytes before it)
//! chunks   (manifest.chunks times)  len u32 (1..=MAX_CHUNK_BYTES) | crc32c u32 (of the bytes) | bytes
//! trailer  manifest JSON (n bytes, n <= MAX_MANIFEST_BYTES) | n u32 | crc32c u32 (of the JSON)
//!          | magic "VECSNEND" (8)
//! ```
//!
//! The body is the concatenation of the chunk bytes; the writer cuts it into [`CHUNK_BYTES`]
//! chunks (the last one shorter). `manifest.digest` is the lowercase hex blake3 of the body and
//! `manifest.file_bytes` the size of the whole file, trailer included. The manifest is a trailer
//! because the counts and the digest are known only at the end; readers find it from the last 16
//! bytes.
//!
//! Invariants: a file with the final name is complete and was fsynced before the rename that gave
//! it that name (and the directory was fsynced after). Temporary files end in `.tmp`, are never
//! listed, and are removed by [`remove_temp_files`] at start-up. A body is handed to a reader only
//! after every chunk CRC, the digest and the manifest were verified ([`open_verified`]), or — in a
//! single pass ([`open_verifying`]) — what is decoded from it is used only after
//! [`VerifyingBody::finish`] verified them; anything else is `CoreError::SnapshotRejected`. The API
//! knows nothing of what the engine puts in the body.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::fsutil::{self, io_err, read_at_most};
use crate::error::{CoreError, Result};

/// Version of the layout above, in the header and in the manifest.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the chunks the writer produces.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Largest chunk a reader or receiver accepts (bounds allocations from a corrupt length).
pub const MAX_CHUNK_BYTES: usize = 16 << 20;
/// Largest manifest a reader accepts.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;

const HEADER_MAGIC: &[u8; 8] = b"VECSNAP\0";
const TRAILER_MAGIC: &[u8; 8] = b"VECSNEND";
const HEADER_BYTES: u64 = 32;
const TRAILER_FIXED_BYTES: u64 = 16;
const FRAME_PREFIX_BYTES: u64 = 8;
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".tmp";

/// What a snapshot contains, stored in its trailer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    pub format_version: u32,
    /// Epoch of the last operation included.
    pub epoch: u64,
    /// Every log operation with offset <= this is included.
    pub offset: u64,
    pub collections: u64,
    pub points: u64,
    /// Bytes of the body (sum of the chunk lengths).
    pub body_bytes: u64,
    /// Bytes of the whole file.
    pub file_bytes: u64,
    pub chunks: u64,
    /// Lowercase hex blake3 of the body.
    pub digest: String,
    pub created_at_ms: u64,
}

/// One chunk of a snapshot body as it travels to a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotChunk {
    /// Position of the chunk in the body, from 0.
    pub index: u64,
    /// CRC32C of `data`, as stored in the file.
    pub crc32c: u32,
    pub data: Bytes,
}

/// File name of the snapshot at `offset`.
pub fn snapshot_file_name(offset: u64) -> String {
    format!("{PREFIX}{offset:020}{SUFFIX}")
}

/// The offset in a snapshot file name, or `None` for any other name.
fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes a snapshot body (`std::io::Write`), cutting it into chunks; `finish` publishes it.
/// Dropping it unfinished removes the temporary file.
pub struct SnapshotWriter {
    tmp: TempFile,
    final_path: PathBuf,
    epoch: u64,
    offset: u64,
    chunk: Vec<u8>,
    chunks: u64,
    body_bytes: u64,
    hasher: blake3::Hasher,
    /// Set after a write error: the file's content is unknown, `finish` refuses.
    broken: bool,
}

impl SnapshotWriter {
    /// Starts `dir/snapshot-<offset>.snap` (written under a `.tmp` name until `finish`).
    pub fn create(dir: &Path, epoch: u64, offset: u64) -> Result<SnapshotWriter> {
        fsutil::create_dir_durable(dir)?;
        let final_path = dir.join(snapshot_file_name(offset));
        let mut tmp = TempFile::create(&final_path)?;
        tmp.write_all(&encode_header(epoch, offset))?;
        Ok(SnapshotWriter {
            tmp,
            final_path,
            epoch,
            offset,
            chunk: Vec::with_capacity(CHUNK_BYTES),
            chunks: 0,
            body_bytes: 0,
            hasher: blake3::Hasher::new(),
            broken: false,
        })
    }

    /// Writes the last chunk and the manifest, fsyncs, renames to the final name and fsyncs the
    /// directory. Returns the final path and the manifest.
    pub fn finish(mut self, collections: u64, points: u64) -> Result<(PathBuf, SnapshotManifest)> {
        if self.broken {
            return Err(CoreError::Unavailable {
                reason: format!("snapshot {} was not finished: an earlier write failed", self.final_path.display()),
            });
        }
        self.emit_chunk()?;
        let mut manifest = SnapshotManifest {
            format_version: FORMAT_VERSION,
            epoch: self.epoch,
            offset: self.offset,
            collections,
            points,
            body_bytes: self.body_bytes,
            file_bytes: 0,
            chunks: self.chunks,
            digest: self.hasher.finalize().to_hex().to_string(),
            created_at_ms: now_ms(),
        };
        let trailer = encode_trailer(&mut manifest, self.tmp.written)?;
        self.tmp.write_all(&trailer)?;
        let path = self.tmp.publish(&self.final_path)?;
        Ok((path, manifest))
    }

    /// Writes the buffered chunk (if any) as one frame.
    fn emit_chunk(&mut self) -> Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let result = self.tmp.write_frame(&self.chunk, crc32c::crc32c(&self.chunk));
        if result.is_err() {
            self.broken = true;
        }
        result?;
        self.hasher.update(&self.chunk);
        self.chunks += 1;
        self.body_bytes += self.chunk.len() as u64;
        self.chunk.clear();
        Ok(())
    }
}

impl Write for SnapshotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::Error::other("snapshot writer failed earlier"));
        }
        let take = buf.len().min(CHUNK_BYTES - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..take]);
        if self.chunk.len() == CHUNK_BYTES {
            self.emit_chunk().map_err(io::Error::other)?;
        }
        Ok(take)
    }

    /// Chunks are cut at fixed sizes; buffered bytes are written by the next full chunk or by
    /// `finish`.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("final_path", &self.final_path)
            .field("chunks", &self.chunks)
            .field("body_bytes", &self.body_bytes)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading and verification

/// Verifies every chunk CRC, the digest and the manifest, then returns a reader over the body
/// (which re-checks each chunk's CRC as it reads). Any mismatch -> `CoreError::SnapshotRejected`
/// naming the file and the reason; nothing is handed out before the whole file checked out.
pub fn open_verified(path: &Path) -> Result<(SnapshotManifest, Box<dyn Read + Send>)> {
    let (manifest, mut cursor) = open_checked_frame(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut body_bytes = 0u64;
    while let Some(chunk) = cursor.next_chunk()? {
        hasher.update(&chunk.data);
        body_bytes += chunk.data.len() as u64;
    }
    let chunks = cursor.next_index;
    check_body(path, &manifest, chunks, body_bytes, &hasher.finalize().to_hex())?;
    cursor.rewind();
    Ok((manifest, Box::new(BodyReader { cursor, current: Bytes::new(), pos: 0 })))
}

/// Opens a finished snapshot for ONE verifying pass (loading at start-up and installing a full
/// sync read tens of megabytes; verifying first and decoding after would read them twice). The
/// header, trailer and manifest are checked now; a verifying thread then reads the body ahead of
/// the caller, checking each chunk's CRC and hashing it, so verification and decoding run in
/// parallel (at most [`VERIFY_AHEAD_CHUNKS`] chunks wait between them). The chunk count, body size
/// and digest are checked by [`VerifyingBody::finish`], which the caller must call, and which must
/// succeed, before it uses anything decoded from the body. A chunk that fails its CRC ends the
/// body early (the reader sees its end) and fails `finish` with its position.
pub fn open_verifying(path: &Path) -> Result<(SnapshotManifest, VerifyingBody)> {
    let (manifest, cursor) = open_checked_frame(path)?;
    let (tx, chunks) = std::sync::mpsc::sync_channel(VERIFY_AHEAD_CHUNKS);
    let (recycle, spare) = std::sync::mpsc::channel();
    let verifier = std::thread::Builder::new()
        .name("snapshot-verify".into())
        .spawn(move || verify_chunks(cursor, &tx, &spare))
        .map_err(io_err(path))?;
    let body = VerifyingBody {
        chunks,
        recycle,
        current: Vec::new(),
        pos: 0,
        verifier: Some(verifier),
        path: path.to_path_buf(),
        manifest: manifest.clone(),
    };
    Ok((manifest, body))
}

/// Chunks the verifying thread of [`open_verifying`] reads ahead of the decoder.
pub const VERIFY_AHEAD_CHUNKS: usize = 2;

/// What the verifying thread read: chunk count, body bytes, blake3 of the body.
type BodyTally = (u64, u64, blake3::Hash);

/// The verifying thread: reads each chunk (into a recycled buffer when one is free), checks its
/// CRC, hashes it and hands it on. Stops early, without error, when the reader is gone.
fn verify_chunks(
    mut cursor: ChunkCursor,
    tx: &std::sync::mpsc::SyncSender<Vec<u8>>,
    spare: &std::sync::mpsc::Receiver<Vec<u8>>,
) -> Result<BodyTally> {
    let mut hasher = blake3::Hasher::new();
    let mut bytes = 0u64;
    loop {
        let mut buf = spare.try_recv().unwrap_or_default();
        if cursor.read_chunk_into(&mut buf)?.is_none() {
            return Ok((cursor.next_index, bytes, hasher.finalize()));
        }
        hasher.update(&buf);
        bytes += buf.len() as u64;
        if tx.send(buf).is_err() {
            return Ok((cursor.next_index, bytes, hasher.finalize()));
        }
    }
}

/// The body of a snapshot read once, verified by a thread as it is read (see [`open_verifying`]).
#[derive(Debug)]
pub struct VerifyingBody {
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    /// Buffers handed back to the verifying thread for reuse.
    recycle: std::sync::mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    verifier: Option<std::thread::JoinHandle<Result<BodyTally>>>,
    path: PathBuf,
    manifest: SnapshotManifest,
}

impl VerifyingBody {
    /// Lets the verifying thread read (and hash) whatever the decoder left, then checks the chunk
    /// count, the body size and the digest against the manifest. A chunk that failed its CRC
    /// fails here, with its position.
    pub fn finish(mut self) -> Result<()> {
        while let Ok(buf) = self.chunks.recv() {
            // Reuse is best effort: the thread may already have finished.
            let _ = self.recycle.send(buf);
        }
        let joined = match self.verifier.take() {
            Some(handle) => handle.join(),
            None => return Err(self.reject("the body was already verified".into())),
        };
        let (chunks, body_bytes, digest) = match joined {
            Ok(result) => result?,
            Err(_) => return Err(self.reject("the verifying thread panicked".into())),
        };
        check_body(&self.path, &self.manifest, chunks, body_bytes, &digest.to_hex())
    }

    fn reject(&self, reason: String) -> CoreError {
        CoreError::SnapshotRejected { path: self.path.clone(), reason }
    }
}

impl Read for VerifyingBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.chunks.recv() {
                Ok(next) => {
                    let used = std::mem::replace(&mut self.current, next);
                    self.pos = 0;
                    // Reuse is best effort: the thread may already have finished.
                    let _ = self.recycle.send(used);
                }
                // The verifying thread finished (or failed: `finish` reports why).
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads the manifest after checking the header and the trailer (not the body).
pub fn read_manifest(path: &Path) -> Result<SnapshotManifest> {
    open_checked_frame(path).map(|(manifest, _)| manifest)
}

/// Opens a finished snapshot to stream its raw chunks (full sync). The header and manifest are
/// checked now; each chunk's CRC is checked as it is read, and the receiver checks the digest.
pub fn open_chunks(path: &Path) -> Result<(SnapshotManifest, SnapshotChunks)> {
    let (manifest, cursor) = open_checked_frame(path)?;
    Ok((manifest, SnapshotChunks { cursor }))
}

/// Iterator over the raw chunks of a snapshot file, in order.
#[derive(Debug)]
pub struct SnapshotChunks {
    cursor: ChunkCursor,
}

impl SnapshotChunks {
    /// Index of the chunk the next call to `next` returns.
    pub fn next_index(&self) -> u64 {
        self.cursor.next_index
    }

    /// Moves forward so the next chunk returned is `index` (resuming an interrupted transfer);
    /// reads only the chunk headers on the way.
    pub fn skip_to(&mut self, index: u64) -> Result<()> {
        while self.cursor.next_index < index {
            if !self.cursor.skip_chunk()? {
                return Err(self.cursor.reject(format!("chunk {index} does not exist")));
            }
        }
        Ok(())
    }
}

impl Iterator for SnapshotChunks {
    type Item = Result<SnapshotChunk>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next_chunk().transpose()
    }
}

/// Reads the body of a snapshot chunk by chunk, checking each CRC.
#[derive(Debug)]
struct BodyReader {
    cursor: ChunkCursor,
    current: Bytes,
    /// Bytes of `current` already read.
    pos: usize,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.cursor.next_chunk() {
                Ok(Some(chunk)) => (self.current, self.pos) = (chunk.data, 0),
                Ok(None) => return Ok(0),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Walks the chunk frames between the header and the trailer with positional reads.
#[derive(Debug)]
struct ChunkCursor {
    file: File,
    path: PathBuf,
    /// Byte position of the next frame.
    pos: u64,
    /// Where the trailer starts.
    end: u64,
    next_index: u64,
}

impl ChunkCursor {
    fn reject(&self, reason: String) -> CoreError {
        CoreError::SnapshotRejected { path: self.path.clone(), reason }
    }

    fn rewind(&mut self) {
        self.pos = HEADER_BYTES;
        self.next_index = 0;
    }

    /// Reads and validates the next frame's prefix; `None` at the end of the chunk area.
    fn next_prefix(&mut self) -> Result<Option<(u32, u32)>> {
        if self.pos == self.end {
            return Ok(None);
        }
        let at = self.pos;
        let index = self.next_index;
        if self.end - at < FRAME_PREFIX_BYTES {
            return Err(self.reject(format!("chunk {index} at byte {at}: frame header runs into the trailer")));
        }
        let mut prefix = [0u8; FRAME_PREFIX_BYTES as usize];
        read_exact_at(&self.file, &self.path, &mut prefix, at)?;
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
        if len == 0 || len as usize > MAX_CHUNK_BYTES {
            return Err(self.reject(format!("chunk {index} at byte {at}: length {len} outside [1, {MAX_CHUNK_BYTES}]")));
        }
        if u64::from(len) > self.end - at - FRAME_PREFIX_BYTES {
            return Err(self.reject(format!("chunk {index} at byte {at}: {len} bytes run into the trailer")));
        }
        Ok(Some((len, crc)))
    }

    /// Reads the next chunk and checks its CRC; `None` at the end of the chunk area.
    fn next_chunk(&mut self) -> Result<Option<SnapshotChunk>> {
        let index = self.next_index;
        let mut data = Vec::new();
        let Some(crc) = self.read_chunk_into(&mut data)? else {
            return Ok(None);
        };
        Ok(Some(SnapshotChunk { index, crc32c: crc, data: Bytes::from(data) }))
    }

    /// Reads the next chunk into `data` (resized to the chunk's length) and checks its CRC;
    /// returns the CRC, `None` at the end of the chunk area.
    fn read_chunk_into(&mut self, data: &mut Vec<u8>) -> Result<Option<u32>> {
        let Some((len, crc)) = self.next_prefix()? else {
            return Ok(None);
        };
        let at = self.pos;
        // Bounded by MAX_CHUNK_BYTES and by the file size.
        data.resize(len as usize, 0);
        read_exact_at(&self.file, &self.path, data, at + FRAME_PREFIX_BYTES)?;
        let computed = crc32c::crc32c(data);
        if computed != crc {
            return Err(self.reject(format!(
                "chunk {} at byte {at}: crc32c mismatch (stored {crc:#010x}, computed {computed:#010x})",
                self.next_index
            )));
        }
        self.pos = at + FRAME_PREFIX_BYTES + u64::from(len);
        self.next_index += 1;
        Ok(Some(crc))
    }

    /// Steps over the next chunk without reading its bytes; `false` at the end.
    fn skip_chunk(&mut self) -> Result<bool> {
        let Some((len, _)) = self.next_prefix()? else {
            return Ok(false);
        };
        self.pos += FRAME_PREFIX_BYTES + u64::from(len);
        self.next_index += 1;
        Ok(true)
    }
}

/// Opens `path` and checks the header, the trailer and the manifest against the header and the
/// file size; returns the manifest and a cursor at the first chunk.
fn open_checked_frame(path: &Path) -> Result<(SnapshotManifest, ChunkCursor)> {
    let reject = |reason: String| CoreError::SnapshotRejected { path: path.to_path_buf(), reason };
    let file = File::open(path).map_err(io_err(path))?;
    let size = file.metadata().map_err(io_err(path))?.len();
    if size < HEADER_BYTES + TRAILER_FIXED_BYTES {
        return Err(reject(format!("file is {size} bytes, too short for a header and a trailer")));
    }
    let mut header = [0u8; HEADER_BYTES as usize];
    read_exact_at(&file, path, &mut header, 0)?;
    let (version, epoch, offset) = decode_header(&header).map_err(reject)?;

    let mut fixed = [0u8; TRAILER_FIXED_BYTES as usize];
    read_exact_at(&file, path, &mut fixed, size - TRAILER_FIXED_BYTES)?;
    if &fixed[8..] != TRAILER_MAGIC {
        return Err(reject("trailer magic missing (file truncated or not finished)".to_owned()));
    }
    let manifest_len = u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
    let manifest_crc = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    if manifest_len as usize > MAX_MANIFEST_BYTES || HEADER_BYTES + u64::from(manifest_len) + TRAILER_FIXED_BYTES > size
    {
        return Err(reject(format!("manifest length {manifest_len} does not fit the file ({size} bytes)")));
    }
    let end = size - TRAILER_FIXED_BYTES - u64::from(manifest_len);
    let mut json = vec![0u8; manifest_len as usize];
    read_exact_at(&file, path, &mut json, end)?;
    let computed = crc32c::crc32c(&json);
    if computed != manifest_crc {
        return Err(reject(format!(
            "manifest crc32c mismatch (stored {manifest_crc:#010x}, computed {computed:#010x})"
        )));
    }
    let manifest: SnapshotManifest =
        serde_json::from_slice(&json).map_err(|e| reject(format!("manifest does not decode: {e}")))?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(reject(format!(
            "manifest format version {} is not supported (expected {FORMAT_VERSION})",
            manifest.format_version
        )));
    }
    debug_assert_eq!(version, FORMAT_VERSION);
    if manifest.epoch != epoch || manifest.offset != offset {
        return Err(reject(format!(
            "manifest says epoch {} offset {}, header says epoch {epoch} offset {offset}",
            manifest.epoch, manifest.offset
        )));
    }
    if manifest.file_bytes != size {
        return Err(reject(format!("manifest says {} file bytes, file has {size}", manifest.file_bytes)));
    }
    let chunk_area = end - HEADER_BYTES;
    let declared = manifest.chunks.checked_mul(FRAME_PREFIX_BYTES).and_then(|f| f.checked_add(manifest.body_bytes));
    if declared != Some(chunk_area) {
        return Err(reject(format!(
            "manifest says {} chunks of {} body bytes, the chunk area is {chunk_area} bytes",
            manifest.chunks, manifest.body_bytes
        )));
    }
    let cursor = ChunkCursor { file, path: path.to_path_buf(), pos: HEADER_BYTES, end, next_index: 0 };
    Ok((manifest, cursor))
}

/// Compares what was read against the manifest.
fn check_body(path: &Path, manifest: &SnapshotManifest, chunks: u64, body_bytes: u64, digest: &str) -> Result<()> {
    let reject = |reason: String| CoreError::SnapshotRejected { path: path.to_path_buf(), reason };
    if chunks != manifest.chunks {
        return Err(reject(format!("{chunks} chunks, manifest says {}", manifest.chunks)));
    }
    if body_bytes != manifest.body_bytes {
        return Err(reject(format!("{body_bytes} body bytes, manifest says {}", manifest.body_bytes)));
    }
    if digest != manifest.digest {
        return Err(reject(format!("body digest {digest} does not match the manifest's {}", manifest.digest)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Receiving (full sync)

/// Rebuilds a snapshot file from chunks received one by one (replica side of a full sync).
///
/// Each chunk is checked on arrival (index, length, CRC32C, total size) and rejected with
/// `CoreError::SnapshotChunkRejected` without being written, so the sender can resend it.
/// `finish` checks the digest and the manifest, verifies the file on disk and publishes it in the
/// snapshots directory. Dropping it unfinished removes the temporary file.
///
/// The check and the write can run on different threads (a network task checks, a blocking
/// thread writes): [`SnapshotReceiver::checker`] hands out a [`ChunkChecker`] whose
/// [`CheckedChunk`]s are the only input [`SnapshotReceiver::write_checked`] accepts, so nothing
/// unchecked is ever written. [`SnapshotReceiver::accept_chunk`] does both in one call.
pub struct SnapshotReceiver {
    tmp: TempFile,
    final_path: PathBuf,
    manifest: SnapshotManifest,
    /// Chunks written so far (and the index the next written chunk must have).
    next_index: u64,
    body_bytes: u64,
    hasher: blake3::Hasher,
}

/// Checks received chunks in order against a manifest (index, length, CRC32C, total size); see
/// [`SnapshotReceiver`]. A rejected chunk leaves the checker unchanged.
#[derive(Debug, Clone)]
pub struct ChunkChecker {
    chunks: u64,
    body_bytes_max: u64,
    next_index: u64,
    body_bytes: u64,
}

/// A chunk that passed [`ChunkChecker::check`], ready to be written.
#[derive(Debug)]
pub struct CheckedChunk {
    index: u64,
    /// CRC32C of `data`, checked.
    crc32c: u32,
    data: Bytes,
}

impl CheckedChunk {
    /// Position of the chunk in the body.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The chunk's bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Body bytes in the chunk.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Never true: a checked chunk holds at least one byte.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl ChunkChecker {
    /// Index of the chunk expected next.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Checks `chunk` as the next one; on success the checker moves past it.
    pub fn check(&mut self, chunk: SnapshotChunk) -> Result<CheckedChunk> {
        let reject = |reason: String| CoreError::SnapshotChunkRejected { index: chunk.index, reason };
        if chunk.index != self.next_index {
            return Err(reject(format!("expected chunk {}", self.next_index)));
        }
        if chunk.index >= self.chunks {
            return Err(reject(format!("the snapshot has only {} chunks", self.chunks)));
        }
        let len = chunk.data.len();
        if len == 0 || len > MAX_CHUNK_BYTES {
            return Err(reject(format!("length {len} outside [1, {MAX_CHUNK_BYTES}]")));
        }
        if self.body_bytes + len as u64 > self.body_bytes_max {
            return Err(reject(format!("body would exceed the manifest's {} bytes", self.body_bytes_max)));
        }
        let computed = crc32c::crc32c(&chunk.data);
        if computed != chunk.crc32c {
            return Err(reject(format!("crc32c mismatch (sent {:#010x}, computed {computed:#010x})", chunk.crc32c)));
        }
        self.next_index += 1;
        self.body_bytes += len as u64;
        Ok(CheckedChunk { index: chunk.index, crc32c: computed, data: chunk.data })
    }
}

impl SnapshotReceiver {
    /// Starts receiving the snapshot described by `manifest` (sent first by the master) into `dir`.
    pub fn create(dir: &Path, manifest: SnapshotManifest) -> Result<SnapshotReceiver> {
        let final_path = dir.join(snapshot_file_name(manifest.offset));
        let reject = |reason: String| CoreError::SnapshotRejected { path: final_path.clone(), reason };
        if manifest.format_version != FORMAT_VERSION {
            return Err(reject(format!(
                "manifest format version {} is not supported (expected {FORMAT_VERSION})",
                manifest.format_version
            )));
        }
        let max_body = manifest.chunks.saturating_mul(MAX_CHUNK_BYTES as u64);
        if manifest.body_bytes < manifest.chunks || manifest.body_bytes > max_body {
            return Err(reject(format!(
                "manifest says {} chunks for {} body bytes",
                manifest.chunks, manifest.body_bytes
            )));
        }
        if manifest.digest.len() != 64 || !manifest.digest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(reject("manifest digest is not 64 lowercase hex digits".to_owned()));
        }
        fsutil::create_dir_durable(dir)?;
        let mut tmp = TempFile::create(&final_path)?;
        tmp.write_all(&encode_header(manifest.epoch, manifest.offset))?;
        Ok(SnapshotReceiver { tmp, final_path, manifest, next_index: 0, body_bytes: 0, hasher: blake3::Hasher::new() })
    }

    /// Index of the chunk expected next (where a resumed transfer continues).
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The manifest being received.
    pub fn manifest(&self) -> &SnapshotManifest {
        &self.manifest
    }

    /// A checker positioned at the next chunk to write, for checking on another thread.
    pub fn checker(&self) -> ChunkChecker {
        ChunkChecker {
            chunks: self.manifest.chunks,
            body_bytes_max: self.manifest.body_bytes,
            next_index: self.next_index,
            body_bytes: self.body_bytes,
        }
    }

    /// Checks and writes one chunk. A rejected chunk leaves the receiver unchanged.
    pub fn accept_chunk(&mut self, chunk: &SnapshotChunk) -> Result<()> {
        let checked = self.checker().check(chunk.clone())?;
        self.write_checked(checked)
    }

    /// Writes a checked chunk, which must be the next one (chunks checked by two checkers, or
    /// written out of order, are refused with `CoreError::SnapshotChunkRejected`). Starts the
    /// chunk's writeback to disk at once, so the fsync in `finish` has little left to wait for.
    pub fn write_checked(&mut self, chunk: CheckedChunk) -> Result<()> {
        if chunk.index != self.next_index {
            return Err(CoreError::SnapshotChunkRejected {
                index: chunk.index,
                reason: format!("written out of order: chunk {} is next", self.next_index),
            });
        }
        let at = self.tmp.written;
        self.tmp.write_frame(&chunk.data, chunk.crc32c)?;
        self.tmp.start_writeback(at, self.tmp.written - at);
        self.hasher.update(&chunk.data);
        self.body_bytes += chunk.data.len() as u64;
        self.next_index += 1;
        Ok(())
    }

    /// Checks the chunk count, size and digest against the manifest, writes the trailer, fsyncs,
    /// checks the file's frame (header, trailer, manifest) on disk, renames it into place and
    /// fsyncs the directory. The body was verified chunk by chunk on arrival; the one pass that
    /// installs the file ([`open_verifying`]) verifies it again as stored.
    pub fn finish(mut self) -> Result<(PathBuf, SnapshotManifest)> {
        let digest = self.hasher.finalize().to_hex();
        check_body(&self.tmp.path, &self.manifest, self.next_index, self.body_bytes, &digest)?;
        let mut manifest = self.manifest.clone();
        let trailer = encode_trailer(&mut manifest, self.tmp.written)?;
        if manifest != self.manifest {
            return Err(CoreError::SnapshotRejected {
                path: self.tmp.path.clone(),
                reason: format!(
                    "manifest says {} file bytes, the received file has {}",
                    self.manifest.file_bytes, manifest.file_bytes
                ),
            });
        }
        self.tmp.write_all(&trailer)?;
        self.tmp.sync()?;
        let (verified, _) = open_checked_frame(&self.tmp.path)?;
        if verified != self.manifest {
            return Err(CoreError::SnapshotRejected {
                path: self.tmp.path.clone(),
                reason: "the manifest read back from disk differs from the one received".into(),
            });
        }
        let path = self.tmp.publish(&self.final_path)?;
        Ok((path, manifest))
    }
}

impl std::fmt::Debug for SnapshotReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReceiver")
            .field("final_path", &self.final_path)
            .field("next_index", &self.next_index)
            .field("chunks", &self.manifest.chunks)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Directory management

/// Finished snapshots in `dir` as `(offset, path)`, newest first. Temporary files and other names
/// are ignored; a missing directory has none.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CoreError::io(dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(offset) = entry.file_name().to_str().and_then(parse_file_name) {
            found.push((offset, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(offset, _)| std::cmp::Reverse(*offset));
    Ok(found)
}

/// Deletes all but the newest `keep` (>= 1) snapshots; returns how many were deleted.
pub fn prune_snapshots(dir: &Path, keep: usize) -> Result<usize> {
    if keep == 0 {
        return Err(CoreError::invalid("keep", "at least one snapshot must be kept"));
    }
    let found = list_snapshots(dir)?;
    let mut removed = 0;
    for (_, path) in found.iter().skip(keep) {
        fsutil::remove_file_if_exists(path)?;
        removed += 1;
    }
    if removed > 0 {
        fsutil::sync_dir(dir)?;
    }
    Ok(removed)
}

/// Removes temporary files left by a crash during a snapshot write or receive. Call at start-up,
/// before any writer or receiver runs in `dir`. Returns how many were removed.
pub fn remove_temp_files(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(CoreError::io(dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let is_temp = name.to_str().is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(TEMP_SUFFIX));
        if is_temp {
            tracing::warn!(file = %entry.path().display(), "removing an unfinished snapshot file");
            fsutil::remove_file_if_exists(&entry.path())?;
            removed += 1;
        }
    }
    if removed > 0 {
        fsutil::sync_dir(dir)?;
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers and the temporary file

fn encode_header(epoch: u64, offset: u64) -> [u8; HEADER_BYTES as usize] {
    let mut header = [0u8; HEADER_BYTES as usize];
    header[..8].copy_from_slice(HEADER_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&epoch.to_le_bytes());
    header[20..28].copy_from_slice(&offset.to_le_bytes());
    let crc = crc32c::crc32c(&header[..28]);
    header[28..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// `(format_version, epoch, offset)` of a valid header.
fn decode_header(header: &[u8; HEADER_BYTES as usize]) -> std::result::Result<(u32, u64, u64), String> {
    if &header[..8] != HEADER_MAGIC {
        return Err("not a snapshot file (bad magic)".to_owned());
    }
    let stored = u32::from_le_bytes([header[28], header[29], header[30], header[31]]);
    let computed = crc32c::crc32c(&header[..28]);
    if stored != computed {
        return Err(format!("header crc32c mismatch (stored {stored:#010x}, computed {computed:#010x})"));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != FORMAT_VERSION {
        return Err(format!("format version {version} is not supported (expected {FORMAT_VERSION})"));
    }
    let mut epoch = [0u8; 8];
    epoch.copy_from_slice(&header[12..20]);
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&header[20..28]);
    Ok((version, u64::from_le_bytes(epoch), u64::from_le_bytes(offset)))
}

/// Encodes the trailer, setting `manifest.file_bytes` to the size the file will have once the
/// trailer follows `bytes_before` bytes (a fixed point: the JSON's length depends on that number).
fn encode_trailer(manifest: &mut SnapshotManifest, bytes_before: u64) -> Result<Vec<u8>> {
    for _ in 0..4 {
        let json = serde_json::to_vec(&*manifest).map_err(|e| CoreError::decode(format!("manifest: {e}")))?;
        let total = bytes_before + json.len() as u64 + TRAILER_FIXED_BYTES;
        if total == manifest.file_bytes {
            let mut trailer = json;
            let len = trailer.len() as u32;
            let crc = crc32c::crc32c(&trailer);
            trailer.extend_from_slice(&len.to_le_bytes());
            trailer.extend_from_slice(&crc.to_le_bytes());
            trailer.extend_from_slice(TRAILER_MAGIC);
            return Ok(trailer);
        }
        manifest.file_bytes = total;
    }
    Err(CoreError::decode("manifest size did not settle"))
}

/// A `*.tmp` file beside its final name, removed on drop unless published.
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
    file: File,
    written: u64,
    published: bool,
}

impl TempFile {
    fn create(final_path: &Path) -> Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let unique = format!(
            "{}.{}.{}{TEMP_SUFFIX}",
            final_path.display(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path = PathBuf::from(unique);
        let file = OpenOptions::new().write(true).read(true).create_new(true).open(&path).map_err(io_err(&path))?;
        Ok(Self { path, file, written: 0, published: false })
    }

    /// Writes at the end of what was written so far; on error `written` is unchanged, so a retry
    /// overwrites the partial bytes.
    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all_at(bytes, self.written).map_err(io_err(&self.path))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes one chunk frame; `crc` is the CRC32C of `data` (computed, or checked, by the caller).
    fn write_frame(&mut self, data: &[u8], crc: u32) -> Result<()> {
        // `data.len() <= MAX_CHUNK_BYTES`, checked by every caller.
        let mut prefix = [0u8; FRAME_PREFIX_BYTES as usize];
        prefix[..4].copy_from_slice(&(data.len() as u32).to_le_bytes());
        prefix[4..].copy_from_slice(&crc.to_le_bytes());
        let at = self.written;
        self.file.write_all_at(&prefix, at).map_err(io_err(&self.path))?;
        self.file.write_all_at(data, at + FRAME_PREFIX_BYTES).map_err(io_err(&self.path))?;
        self.written = at + FRAME_PREFIX_BYTES + data.len() as u64;
        Ok(())
    }

    /// Asks the kernel to start writing `len` bytes at `at` to disk now (`sync_file_range` with
    /// `SYNC_FILE_RANGE_WRITE`: it does not wait for the writes and guarantees nothing). Advisory:
    /// the fsync in `sync` still makes the file durable and reports any write error, so a failure
    /// here is ignored.
    fn start_writeback(&self, at: u64, len: u64) {
        use std::os::fd::AsRawFd;
        let (Ok(at), Ok(len)) = (libc::off64_t::try_from(at), libc::off64_t::try_from(len)) else { return };
        // SAFETY: sync_file_range only reads its integer arguments; the descriptor is owned by
        // `self.file`, which outlives the call.
        let _advisory = unsafe { libc::sync_file_range(self.file.as_raw_fd(), at, len, libc::SYNC_FILE_RANGE_WRITE) };
    }

    fn sync(&self) -> Result<()> {
        // Drop anything a failed write left past the end, then make the contents durable.
        self.file.set_len(self.written).map_err(io_err(&self.path))?;
        self.file.sync_all().map_err(io_err(&self.path))
    }

    /// fsyncs, renames to `final_path`, fsyncs the directory.
    fn publish(&mut self, final_path: &Path) -> Result<PathBuf> {
        self.sync()?;
        fsutil::rename_durable(&self.path, final_path)?;
        self.published = true;
        Ok(final_path.to_path_buf())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published
            && let Err(e) = fsutil::remove_file_if_exists(&self.path)
        {
            tracing::warn!(error = %e, "could not remove an unfinished snapshot file");
        }
    }
}

fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], pos: u64) -> Result<()> {
    let got = read_at_most(file, path, buf, pos)?;
    if got < buf.len() {
        return Err(CoreError::SnapshotRejected {
            path: path.to_path_buf(),
            reason: format!("file ends at byte {} while reading {} bytes at {pos}", pos + got as u64, buf.len()),
        });
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
