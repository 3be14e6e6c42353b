//! The fault proxy itself: exact byte counts, delay (observed by ordering), stall, cut, refuse.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vectorizer_tests::{Direction, Proxy, poll_until, try_poll_until};

const WAIT: Duration = Duration::from_secs(20);

/// An echo server on loopback; each connection echoes until EOF.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A server that records every chunk it receives, in arrival order, across connections.
fn recording_server() -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let server_log = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let log = Arc::clone(&server_log);
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    log.lock().expect("log").extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (addr, log)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

/// The counter of `dir` once it reached `at_least`. A counter is bumped right after the proxy's write
/// returns, so the peer (and an echo of the bytes) may be seen an instant before the count.
fn settled(proxy: &Proxy, dir: Direction, at_least: u64) -> u64 {
    poll_until(WAIT, "byte counter settles", || (proxy.bytes(dir) >= at_least).then_some(()));
    proxy.bytes(dir)
}

fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).expect("read");
    buf
}

/// True once the peer closed `stream` (EOF or reset).
fn is_closed(stream: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    stream.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
    match stream.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

#[test]
fn counts_every_byte_in_each_direction_exactly() {
    let proxy = Proxy::start(echo_server()).expect("proxy");
    let mut a = connect(proxy.addr());
    let mut b = connect(proxy.addr());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let writer_data = data.clone();
    let mut a_writer = a.try_clone().expect("clone");
    let writer = std::thread::spawn(move || a_writer.write_all(&writer_data).expect("write"));
    assert_eq!(read_exactly(&mut a, data.len()), data, "echo through the proxy is intact");
    writer.join().expect("writer");
    b.write_all(b"hello").expect("write");
    assert_eq!(read_exactly(&mut b, 5), b"hello");
    let total = data.len() as u64 + 5;
    assert_eq!(settled(&proxy, Direction::ClientToUpstream, total), total);
    assert_eq!(settled(&proxy, Direction::UpstreamToClient, total), total);
    assert_eq!(proxy.accepted(), 2);
}

#[test]
fn delay_holds_one_direction_and_keeps_order() {
    // Client -> upstream delayed: a message sent through the proxy first arrives after one sent
    // directly afterwards.
    let (upstream, log) = recording_server();
    let proxy = Proxy::start(upstream).expect("proxy");
    proxy.set_delay(Direction::ClientToUpstream, Duration::from_millis(800));
    let mut via_proxy = connect(proxy.addr());
    let mut direct = connect(upstream);
    via_proxy.write_all(b"A1").expect("write");
    via_proxy.write_all(b"A2").expect("write");
    direct.write_all(b"B").expect("write");
    let seen = poll_until(WAIT, "all bytes recorded", || {
        let l = log.lock().expect("log");
        (l.len() == 5).then(|| l.clone())
    });
    assert_eq!(seen, b"BA1A2", "the delayed direction arrives last, in order");

    // Upstream -> client delayed: the echo through the proxy arrives after a direct echo requested later.
    let echo = echo_server();
    let proxy = Proxy::start(echo).expect("proxy");
    proxy.set_delay(Direction::UpstreamToClient, Duration::from_millis(800));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let mut via_proxy = connect(proxy.addr());
    let mut direct = connect(echo);
    via_proxy.write_all(b"P").expect("write");
    poll_until(WAIT, "proxy forwarded the request", || (proxy.bytes(Direction::ClientToUpstream) == 1).then_some(()));
    direct.write_all(b"D").expect("write");
    let readers: Vec<_> = [via_proxy, direct]
        .into_iter()
        .map(|mut s| {
            let arrivals = Arc::clone(&arrivals);
            std::thread::spawn(move || {
                let got = read_exactly(&mut s, 1);
                arrivals.lock().expect("arrivals").push(got[0]);
            })
        })
        .collect();
    for r in readers {
        r.join().expect("reader");
    }
    assert_eq!(*arrivals.lock().expect("arrivals"), b"DP");
}

#[test]
fn stall_stops_forwarding_and_resume_continues_on_the_same_connection() {
    let echo = echo_server();
    let proxy = Proxy::start(echo).expect("proxy");
    let mut s = connect(proxy.addr());
    s.write_all(b"ping").expect("write");
    assert_eq!(read_exactly(&mut s, 4), b"ping");

    proxy.stall();
    s.write_all(b"stalled").expect("write");
    // A direct round trip to the same upstream proves it is alive and time has passed.
    let mut control = connect(echo);
    control.write_all(b"x").expect("write");
    assert_eq!(read_exactly(&mut control, 1), b"x");
    let forwarded_while_stalled =
        try_poll_until(Duration::from_millis(300), || (proxy.bytes(Direction::ClientToUpstream) > 4).then_some(()));
    assert!(forwarded_while_stalled.is_none(), "nothing is forwarded while stalled");
    assert_eq!(proxy.open_connections(), 1, "the stalled connection stays open");

    proxy.resume();
    assert_eq!(read_exactly(&mut s, 7), b"stalled");
    assert_eq!(settled(&proxy, Direction::ClientToUpstream, 11), 11);
    assert_eq!(settled(&proxy, Direction::UpstreamToClient, 11), 11);
}

#[test]
fn cut_closes_current_connections_only() {
    let proxy = Proxy::start(echo_server()).expect("proxy");
    let mut s = connect(proxy.addr());
    s.write_all(b"1").expect("write");
    assert_eq!(read_exactly(&mut s, 1), b"1");
    assert_eq!(proxy.open_connections(), 1);
    proxy.cut();
    poll_until(WAIT, "client sees the cut", || is_closed(&mut s).then_some(()));
    assert_eq!(proxy.open_connections(), 0);

    let mut again = connect(proxy.addr());
    again.write_all(b"2").expect("write");
    assert_eq!(read_exactly(&mut again, 1), b"2", "new connections still work after a cut");
}

#[test]
fn cut_while_stalled_closes_too() {
    let proxy = Proxy::start(echo_server()).expect("proxy");
    let mut s = connect(proxy.addr());
    s.write_all(b"1").expect("write");
    assert_eq!(read_exactly(&mut s, 1), b"1");
    assert_eq!(settled(&proxy, Direction::ClientToUpstream, 1), 1);
    proxy.stall();
    s.write_all(b"queued").expect("write");
    proxy.cut();
    poll_until(WAIT, "client sees the cut", || is_closed(&mut s).then_some(()));
    proxy.resume();
    assert_eq!(proxy.bytes(Direction::ClientToUpstream), 1, "queued bytes are dropped by the cut");
}

#[test]
fn refuse_closes_new_connections_until_lifted() {
    let proxy = Proxy::start(echo_server()).expect("proxy");
    let mut before = connect(proxy.addr());
    before.write_all(b"a").expect("write");
    assert_eq!(read_exactly(&mut before, 1), b"a");

    proxy.refuse(true);
    let mut refused = connect(proxy.addr());
    let _ = refused.write_all(b"b");
    poll_until(WAIT, "refused connection is closed", || is_closed(&mut refused).then_some(()));
    before.write_all(b"c").expect("existing connections are kept");
    assert_eq!(read_exactly(&mut before, 1), b"c");
    assert_eq!(proxy.accepted(), 1);

    proxy.refuse(false);
    let mut after = connect(proxy.addr());
    after.write_all(b"d").expect("write");
    assert_eq!(read_exactly(&mut after, 1), b"d");
    assert_eq!(proxy.accepted(), 2);
}

#[test]
fn corrupt_once_inverts_one_byte_of_one_connection() {
    let proxy = Proxy::start(echo_server()).expect("proxy");
    proxy.corrupt_once(Direction::UpstreamToClient, 70_000);
    let mut a = connect(proxy.addr());
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let writer_data = data.clone();
    let mut a_writer = a.try_clone().expect("clone");
    let writer = std::thread::spawn(move || a_writer.write_all(&writer_data).expect("write"));
    let got = read_exactly(&mut a, data.len());
    writer.join().expect("writer");
    let differing: Vec<usize> = (0..data.len()).filter(|&i| got[i] != data[i]).collect();
    assert_eq!(differing, vec![70_000], "exactly the armed byte differs");
    assert_eq!(got[70_000], !data[70_000]);
    assert_eq!(proxy.corrupted(), 1);
    assert_eq!(settled(&proxy, Direction::UpstreamToClient, 100_000), 100_000, "counts are unchanged");
    // One shot: a second connection is intact.
    let mut b = connect(proxy.addr());
    b.write_all(&data).expect("write");
    assert_eq!(read_exactly(&mut b, data.len()), data);
    assert_eq!(proxy.corrupted(), 1);
}
