//! Framed, byte-counted replication connections over TCP.
//!
//! Invariants:
//! - Every byte read from or written to the socket is added to the given counters *as it moves*
//!   (partial reads and writes included), so `bytes_sent` / `bytes_received` equal what crossed the
//!   socket exactly — a TCP proxy in the tests counts the same numbers.
//! - A frame length is checked against the reader's cap before any buffer is allocated; before
//!   authentication the cap is [`HANDSHAKE_MAX_FRAME_BYTES`], so an unauthenticated peer can never
//!   make us allocate more than that.
//! - Every read has a deadline; a silent peer yields [`CoreError::PeerTimeout`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::error::{CoreError, Result};
use crate::replication::frame::{Frame, LENGTH_PREFIX_BYTES, MAX_FRAME_BYTES};

/// Frame cap while the peer is not authenticated yet.
pub const HANDSHAKE_MAX_FRAME_BYTES: usize = 64 * 1024;

/// Where the bytes of a connection are counted (several counters may share one connection, e.g.
/// the node total and the per-replica total).
#[derive(Debug, Clone, Default)]
pub struct ByteCounters(Vec<Arc<AtomicU64>>);

impl ByteCounters {
    pub fn new(counters: Vec<Arc<AtomicU64>>) -> Self {
        Self(counters)
    }

    fn add(&self, n: usize) {
        for c in &self.0 {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// Reading half of a replication connection.
#[derive(Debug)]
pub struct FrameReader {
    inner: OwnedReadHalf,
    peer: String,
    counters: ByteCounters,
    max_frame: usize,
}

/// Writing half of a replication connection.
#[derive(Debug)]
pub struct FrameWriter {
    inner: OwnedWriteHalf,
    peer: String,
    counters: ByteCounters,
}

/// Splits a connected stream into a counted reader (capped at [`HANDSHAKE_MAX_FRAME_BYTES`]
/// until [`FrameReader::authenticated`]) and a counted writer.
pub fn split(stream: TcpStream, peer: String, read: ByteCounters, written: ByteCounters) -> (FrameReader, FrameWriter) {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    (
        FrameReader { inner: r, peer: peer.clone(), counters: read, max_frame: HANDSHAKE_MAX_FRAME_BYTES },
        FrameWriter { inner: w, peer, counters: written },
    )
}

impl FrameReader {
    /// Lifts the frame cap to [`MAX_FRAME_BYTES`] once the peer has authenticated.
    pub fn authenticated(&mut self) {
        self.max_frame = MAX_FRAME_BYTES;
    }

    /// Adds counters (e.g. the per-replica one, known only after the Hello).
    pub fn count_into(&mut self, counter: Arc<AtomicU64>) {
        self.counters.0.push(counter);
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Reads one frame, waiting at most `deadline` for it to *start*; once its first byte has
    /// arrived the rest must follow within the same deadline again.
    pub async fn read(&mut self, deadline: Duration) -> Result<Frame> {
        let mut prefix = [0u8; LENGTH_PREFIX_BYTES];
        self.read_exact_counted(&mut prefix, deadline).await?;
        let len = Frame::check_length(u32::from_le_bytes(prefix)).map_err(|e| self.violation(e))?;
        if len > self.max_frame {
            return Err(self.violation(format!("frame of {len} bytes exceeds the {} byte limit", self.max_frame)));
        }
        let mut body = BytesMut::zeroed(len);
        self.read_exact_counted(&mut body, deadline).await?;
        Frame::decode(Bytes::from(body)).map_err(|e| self.violation(e))
    }

    async fn read_exact_counted(&mut self, buf: &mut [u8], deadline: Duration) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = match tokio::time::timeout(deadline, self.inner.read(&mut buf[filled..])).await {
                Err(_) => {
                    return Err(CoreError::PeerTimeout {
                        peer: self.peer.clone(),
                        after_ms: deadline.as_millis() as u64,
                    });
                }
                Ok(Err(e)) => return Err(CoreError::PeerIo { peer: self.peer.clone(), source: e }),
                Ok(Ok(0)) => return Err(CoreError::PeerClosed { peer: self.peer.clone() }),
                Ok(Ok(n)) => n,
            };
            self.counters.add(n);
            filled += n;
        }
        Ok(())
    }

    fn violation(&self, detail: impl std::fmt::Display) -> CoreError {
        CoreError::ProtocolViolation { peer: self.peer.clone(), detail: detail.to_string() }
    }
}

impl FrameWriter {
    /// Adds counters (e.g. the per-replica one, known only after the Hello).
    pub fn count_into(&mut self, counter: Arc<AtomicU64>) {
        self.counters.0.push(counter);
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Writes one frame completely (or fails), counting bytes as the socket accepts them.
    pub async fn write(&mut self, frame: &Frame) -> Result<()> {
        self.write_encoded(&frame.encode()).await
    }

    /// Writes an already encoded frame (length prefix included).
    pub async fn write_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        let mut written = 0;
        while written < bytes.len() {
            let n = self
                .inner
                .write(&bytes[written..])
                .await
                .map_err(|e| CoreError::PeerIo { peer: self.peer.clone(), source: e })?;
            if n == 0 {
                return Err(CoreError::PeerClosed { peer: self.peer.clone() });
            }
            self.counters.add(n);
            written += n;
        }
        Ok(())
    }

    /// Closes the writing direction (best effort).
    pub async fn shutdown(&mut self) {
        let _ = self.inner.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn frames_cross_a_real_socket_and_bytes_are_counted_exactly() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (sent, received) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (_cr, mut cw) =
            split(client, "server".into(), ByteCounters::default(), ByteCounters::new(vec![sent.clone()]));
        let (mut sr, _sw) =
            split(server, "client".into(), ByteCounters::new(vec![received.clone()]), ByteCounters::default());
        let frame = Frame::Ack { applied_offset: 42 };
        cw.write(&frame).await.expect("write");
        assert_eq!(sr.read(Duration::from_secs(5)).await.expect("read"), frame);
        let expected = frame.encode().len() as u64;
        assert_eq!(sent.load(Ordering::Relaxed), expected);
        assert_eq!(received.load(Ordering::Relaxed), expected);
    }

    #[tokio::test]
    async fn oversized_frame_before_auth_is_refused_without_reading_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (mut sr, _sw) = split(server, "client".into(), ByteCounters::default(), ByteCounters::default());
        client.write_all(&(10_000_000u32).to_le_bytes()).await.expect("write length");
        let err = sr.read(Duration::from_secs(5)).await.expect_err("too big");
        assert!(matches!(err, CoreError::ProtocolViolation { .. }), "{err}");
    }

    #[tokio::test]
    async fn silent_peer_times_out_and_closed_peer_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (mut sr, _sw) = split(server, "client".into(), ByteCounters::default(), ByteCounters::default());
        let err = sr.read(Duration::from_millis(50)).await.expect_err("silence");
        assert!(matches!(err, CoreError::PeerTimeout { .. }), "{err}");
        drop(client);
        let err = sr.read(Duration::from_secs(5)).await.expect_err("closed");
        assert!(matches!(err, CoreError::PeerClosed { .. } | CoreError::PeerIo { .. }), "{err}");
    }
}
