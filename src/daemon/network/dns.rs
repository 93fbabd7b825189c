//! The embedded DNS resolver of user-defined networks, like Docker's on
//! 127.0.0.11: one UDP socket and one TCP listener bound inside each
//! container's netns (by a throw-away thread that entered it), served by
//! tokio tasks in the daemon. It answers A queries for the container names,
//! aliases and short IDs on the container's networks and forwards every
//! other query, unparsed, to the upstream resolvers from the daemon's own
//! network namespace.
//!
//! Only the small part of RFC 1035 this needs is parsed: the header and the
//! single question. Answers point back at the question with a compression
//! pointer, as dockerd's do.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// Port of the resolver inside the container.
pub const DNS_PORT: u16 = 53;
/// TTL of the answers, as dockerd's embedded DNS gives.
const TTL: u32 = 600;
/// How long one upstream server gets to answer a forwarded query.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause after a failed receive or accept (out of descriptors, ...).
const ERROR_BACKOFF: Duration = Duration::from_millis(50);
const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NOTIMP: u8 = 4;

/// The names a resolver answers for: the containers the asking container
/// shares a network with.
pub trait Names: Send + Sync {
    /// The addresses of `name` (lower case, no trailing dot); `None` when
    /// the name is unknown (the query is then forwarded).
    fn addresses(&self, name: &str) -> Option<Vec<Ipv4Addr>>;
    /// The name for a reverse lookup of `ip` (`container.network`), if it
    /// is a container's.
    fn name_of(&self, ip: Ipv4Addr) -> Option<String>;
}

/// A shared [`Names`].
pub type Lookup = Arc<dyn Names>;

/// The question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name, lower case, without the trailing dot.
    pub name: String,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// Where the question ends in the message.
    pub end: usize,
}

/// Parses the header and single question of a standard query; `Err` holds
/// the rcode to answer with.
pub fn parse_query(msg: &[u8]) -> Result<Question, u8> {
    if msg.len() < 12 {
        return Err(RCODE_FORMERR);
    }
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    let qr = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qr || qdcount != 1 {
        return Err(RCODE_FORMERR);
    }
    if opcode != 0 {
        return Err(RCODE_NOTIMP);
    }
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = usize::from(*msg.get(i).ok_or(RCODE_FORMERR)?);
        i += 1;
        if len == 0 {
            break;
        }
        // Compression pointers make no sense in the only question.
        if len & 0xc0 != 0 {
            return Err(RCODE_FORMERR);
        }
        let label = msg.get(i..i + len).ok_or(RCODE_FORMERR)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let fixed = msg.get(i..i + 4).ok_or(RCODE_FORMERR)?;
    Ok(Question {
        name: labels.join("."),
        qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
        qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        end: i + 4,
    })
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa`) stands for.
fn reverse_ip(name: &str) -> Option<Ipv4Addr> {
    let octets: Vec<u8> = name
        .strip_suffix(".in-addr.arpa")?
        .split('.')
        .map(|o| o.parse().ok())
        .collect::<Option<_>>()?;
    match octets.as_slice() {
        [d, c, b, a] => Some(Ipv4Addr::new(*a, *b, *c, *d)),
        _ => None,
    }
}

/// `name` in DNS wire format (labels, then the root).
fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let label = &label.as_bytes()[..label.len().min(63)];
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

/// One answer record pointing back at the question's name.
fn record(out: &mut Vec<u8>, rtype: u16, rdata: &[u8]) {
    out.extend_from_slice(&[0xc0, 0x0c]);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&TTL.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

/// A response to `query` with `rcode` and the A records `answers`; the
/// question is copied when it parsed (`q`).
pub fn response(query: &[u8], q: Option<&Question>, rcode: u8, answers: &[Ipv4Addr]) -> Vec<u8> {
    let mut out = header(query, q, rcode, answers.len());
    for ip in answers {
        record(&mut out, TYPE_A, &ip.octets());
    }
    out
}

/// The header and question of a response with `count` answers.
fn header(query: &[u8], q: Option<&Question>, rcode: u8, count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(query.get(..2).unwrap_or(&[0, 0]));
    let rd = query.get(2).map_or(0, |b| b & 0x01);
    // QR, AA when we answer ourselves, RD copied; RA set.
    let aa = if q.is_some() && rcode == 0 { 0x04 } else { 0 };
    out.push(0x80 | aa | rd);
    out.push(0x80 | (rcode & 0x0f));
    let qd: u16 = u16::from(q.is_some());
    out.extend_from_slice(&qd.to_be_bytes());
    out.extend_from_slice(&(count as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    if let Some(q) = q {
        out.extend_from_slice(&query[12..q.end]);
    }
    out
}

/// What to do with one query: an answer of our own, or forward it.
fn answer_locally(query: &[u8], lookup: &Lookup) -> Option<Vec<u8>> {
    match parse_query(query) {
        Err(rcode) => Some(response(query, None, rcode, &[])),
        Ok(q) if q.qtype == TYPE_PTR => {
            let name = lookup.name_of(reverse_ip(&q.name)?)?;
            let mut out = header(query, Some(&q), 0, 1);
            record(&mut out, TYPE_PTR, &encode_name(&name));
            Some(out)
        }
        Ok(q) => {
            let ips = lookup.addresses(&q.name)?;
            // A known name has no other record types: an empty NOERROR.
            let answers = if q.qtype == TYPE_A && q.qclass == CLASS_IN {
                ips
            } else {
                Vec::new()
            };
            Some(response(query, Some(&q), 0, &answers))
        }
    }
}

/// The upstream servers' addresses (port 53).
pub fn upstream_addrs(servers: &[IpAddr]) -> Vec<SocketAddr> {
    servers
        .iter()
        .map(|ip| SocketAddr::new(*ip, DNS_PORT))
        .collect()
}

/// Sends `query` to each upstream in turn over UDP; the first answer wins.
async fn forward(query: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    for server in upstream {
        let bind: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let Ok(sock) = UdpSocket::bind(bind).await else {
            continue;
        };
        if sock.connect(server).await.is_err() || sock.send(query).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        match tokio::time::timeout(UPSTREAM_TIMEOUT, sock.recv(&mut buf)).await {
            Ok(Ok(n)) if n >= 2 && buf[..2] == query[..2] => return Some(buf[..n].to_vec()),
            _ => tracing::debug!(%server, "upstream DNS server did not answer"),
        }
    }
    None
}

/// Sends `query` to each upstream in turn over TCP (for clients that asked
/// over TCP, typically after a truncated UDP answer); the first answer wins.
async fn forward_tcp(query: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    let len = u16::try_from(query.len()).ok()?;
    for server in upstream {
        let exchange = async {
            let mut s = TcpStream::connect(server).await?;
            s.write_all(&len.to_be_bytes()).await?;
            s.write_all(query).await?;
            let mut n = [0u8; 2];
            s.read_exact(&mut n).await?;
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(n))];
            s.read_exact(&mut reply).await?;
            std::io::Result::Ok(reply)
        };
        match tokio::time::timeout(UPSTREAM_TIMEOUT, exchange).await {
            Ok(Ok(reply)) if reply.len() >= 2 && reply[..2] == query[..2] => return Some(reply),
            _ => tracing::debug!(%server, "upstream DNS server did not answer over TCP"),
        }
    }
    None
}

/// The reply to one query: a local answer, a forwarded one (over TCP when
/// the client used TCP), or SERVFAIL.
pub async fn resolve(query: &[u8], lookup: &Lookup, upstream: &[SocketAddr], tcp: bool) -> Vec<u8> {
    if let Some(reply) = answer_locally(query, lookup) {
        return reply;
    }
    let forwarded = if tcp {
        forward_tcp(query, upstream).await
    } else {
        forward(query, upstream).await
    };
    match forwarded {
        Some(reply) => reply,
        None => response(query, parse_query(query).ok().as_ref(), RCODE_SERVFAIL, &[]),
    }
}

/// A running resolver; dropping it stops it (the sockets close with it).
#[derive(Debug)]
pub struct DnsServer {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl DnsServer {
    /// Serves queries on the given sockets (bound inside a container's
    /// netns, non-blocking) until dropped.
    pub fn spawn(
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        lookup: Lookup,
        upstream: Vec<SocketAddr>,
    ) -> std::io::Result<DnsServer> {
        let udp = Arc::new(UdpSocket::from_std(udp)?);
        let tcp = TcpListener::from_std(tcp)?;
        let upstream = Arc::new(upstream);
        let (l, u) = (lookup.clone(), upstream.clone());
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    // A persistent error must not spin a worker thread.
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    continue;
                };
                let query = buf[..n].to_vec();
                let (udp, l, u) = (udp.clone(), l.clone(), u.clone());
                tokio::spawn(async move {
                    let reply = resolve(&query, &l, &u, false).await;
                    if let Err(e) = udp.send_to(&reply, peer).await {
                        tracing::debug!(error = %e, "sending a DNS reply");
                    }
                });
            }
        });
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = tcp.accept().await else {
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    continue;
                };
                let (l, u) = (lookup.clone(), upstream.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve_tcp(stream, &l, &u).await {
                        tracing::debug!(error = %e, "DNS over TCP");
                    }
                });
            }
        });
        Ok(DnsServer {
            tasks: vec![udp_task, tcp_task],
        })
    }
}

/// Length-prefixed queries on one TCP connection until the client closes it.
async fn serve_tcp(
    mut stream: TcpStream,
    lookup: &Lookup,
    upstream: &[SocketAddr],
) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        match stream.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut query).await?;
        let reply = resolve(&query, lookup, upstream, true).await;
        let n = u16::try_from(reply.len()).unwrap_or(u16::MAX);
        stream.write_all(&n.to_be_bytes()).await?;
        stream.write_all(&reply[..usize::from(n)]).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` of `qtype` with id 0x1234 and RD set.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    struct Fixed;

    impl Names for Fixed {
        fn addresses(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
            (name == "web").then(|| vec![Ipv4Addr::new(10, 0, 0, 2)])
        }
        fn name_of(&self, ip: Ipv4Addr) -> Option<String> {
            (ip == Ipv4Addr::new(10, 0, 0, 2)).then(|| "web.berth-net".to_owned())
        }
    }

    fn lookup() -> Lookup {
        Arc::new(Fixed)
    }

    #[tokio::test]
    async fn container_addresses_resolve_back_to_name_dot_network() {
        let reply = resolve(
            &query("2.0.0.10.in-addr.arpa", TYPE_PTR),
            &lookup(),
            &[],
            false,
        )
        .await;
        assert_eq!(reply[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1);
        let mut want = b"\x03web\x09berth-net\x00".to_vec();
        want.splice(0..0, [0, TYPE_PTR as u8, 0, 1, 0, 0, 0x02, 0x58, 0, 15]);
        assert!(reply.ends_with(&want), "{reply:?}");
        assert_eq!(
            reverse_ip("4.3.2.1.in-addr.arpa"),
            Some(Ipv4Addr::new(1, 2, 3, 4))
        );
        assert_eq!(reverse_ip("3.2.1.in-addr.arpa"), None);
    }

    #[test]
    fn questions_parse_case_insensitively() {
        let q = parse_query(&query("Web.Example", TYPE_A)).unwrap();
        assert_eq!(q.name, "web.example");
        assert_eq!((q.qtype, q.qclass), (TYPE_A, CLASS_IN));
        assert_eq!(parse_query(&[0; 5]), Err(RCODE_FORMERR));
        let mut bad = query("web", TYPE_A);
        bad[12] = 0xc0;
        assert_eq!(parse_query(&bad), Err(RCODE_FORMERR));
    }

    #[tokio::test]
    async fn known_names_get_a_records() {
        let reply = resolve(&query("WEB", TYPE_A), &lookup(), &[], false).await;
        assert_eq!(&reply[..2], &[0x12, 0x34]);
        assert_eq!(reply[2] & 0x80, 0x80, "a response");
        assert_eq!(reply[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1, "one answer");
        assert_eq!(&reply[reply.len() - 4..], &[10, 0, 0, 2]);
        // AAAA of a known name: no records, no forwarding.
        let reply = resolve(&query("web", 28), &lookup(), &[], false).await;
        assert_eq!(reply[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 0);
    }

    #[tokio::test]
    async fn unknown_names_are_forwarded_upstream() {
        // A fake upstream on loopback that answers with a fixed marker.
        let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = upstream.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, peer) = upstream.recv_from(&mut buf).await.unwrap();
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x80;
            reply.push(0xee);
            upstream.send_to(&reply, peer).await.unwrap();
        });
        let q = query("example.org", TYPE_A);
        let reply = resolve(&q, &lookup(), &[addr], false).await;
        assert_eq!(reply.last(), Some(&0xee));
        server.await.unwrap();
        // Nobody upstream: SERVFAIL with the question.
        let reply = resolve(&q, &lookup(), &[], false).await;
        assert_eq!(reply[3] & 0x0f, RCODE_SERVFAIL);
        assert_eq!(u16::from_be_bytes([reply[4], reply[5]]), 1);
    }

    #[tokio::test]
    async fn tcp_queries_are_forwarded_over_tcp() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = upstream.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = upstream.accept().await.unwrap();
            let mut n = [0u8; 2];
            s.read_exact(&mut n).await.unwrap();
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(n))];
            s.read_exact(&mut q).await.unwrap();
            q[2] |= 0x80;
            q.push(0xdd);
            s.write_all(&(q.len() as u16).to_be_bytes()).await.unwrap();
            s.write_all(&q).await.unwrap();
        });
        let q = query("example.org", TYPE_A);
        let reply = resolve(&q, &lookup(), &[addr], true).await;
        assert_eq!(reply.last(), Some(&0xdd));
        server.await.unwrap();
    }
}
