//! The cluster DNS's `forward . UPSTREAM`: names outside the cluster's zones go to one
//! upstream on loopback, and its answer goes back to the client as it is. Timing as CoreDNS's
//! forward plugin (plugin/forward/forward.go, plugin/pkg/proxy): each attempt waits up to
//! 2 s for the answer; new attempts start until 5 s have passed since the first; then the
//! client gets SERVFAIL.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// CoreDNS's `readTimeout`: how long one attempt waits for the upstream.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// CoreDNS forward's `defaultTimeout`: no attempt starts after this.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// The largest UDP answer read (EDNS sizes stay below it).
const MAX_UDP: usize = 65_535;

/// Where and how the cluster DNS forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The upstream server; checked to be on loopback before the server starts.
    pub upstream: SocketAddr,
    pub attempt_timeout: Duration,
    pub deadline: Duration,
}

impl Forward {
    /// Forwarding to `upstream` with CoreDNS's timeouts.
    pub fn coredns(upstream: SocketAddr) -> Self {
        Forward {
            upstream,
            attempt_timeout: ATTEMPT_TIMEOUT,
            deadline: DEADLINE,
        }
    }

    /// Sends the client's query (`raw`, its id and all) upstream over the client's
    /// protocol; the upstream's answer, or `None` when no attempt got one in time.
    pub async fn exchange(&self, raw: &[u8], tcp: bool) -> Option<Message> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.deadline;
        while tokio::time::Instant::now() < deadline {
            let attempt_end = tokio::time::Instant::now() + self.attempt_timeout;
            let attempt = tokio::time::timeout_at(attempt_end, self.attempt(raw, tcp)).await;
            match attempt {
                Ok(Ok(answer)) => return Some(answer),
                Ok(Err(e)) => {
                    tracing::debug!(upstream = %self.upstream, error = %e, "dns forward attempt failed");
                    // A refused attempt waits out its time rather than spinning.
                    tokio::time::sleep_until(attempt_end).await;
                }
                Err(_) => {
                    tracing::debug!(upstream = %self.upstream, "dns forward attempt timed out")
                }
            }
        }
        None
    }

    async fn attempt(&self, raw: &[u8], tcp: bool) -> io::Result<Message> {
        let bytes = if tcp {
            self.over_tcp(raw).await?
        } else {
            self.over_udp(raw).await?
        };
        Message::from_vec(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    async fn over_udp(&self, raw: &[u8]) -> io::Result<Vec<u8>> {
        let local: IpAddr = match self.upstream {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        };
        let socket = UdpSocket::bind((local, 0)).await?;
        socket.connect(self.upstream).await?;
        socket.send(raw).await?;
        let mut buf = vec![0u8; MAX_UDP];
        loop {
            let n = socket.recv(&mut buf).await?;
            // Answers to other ids are dropped, as CoreDNS drops out-of-order ones.
            if n >= 2 && raw.len() >= 2 && buf[..2] == raw[..2] {
                return Ok(buf[..n].to_vec());
            }
        }
    }

    async fn over_tcp(&self, raw: &[u8]) -> io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(self.upstream).await?;
        let len = u16::try_from(raw.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(raw);
        stream.write_all(&framed).await?;
        let answer_len = stream.read_u16().await?;
        let mut answer = vec![0u8; usize::from(answer_len)];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};

    fn query(id: u16) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = id;
        m.add_query(Query::query(
            Name::from_ascii("example.com.").unwrap(),
            RecordType::A,
        ));
        m.to_vec().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_upstream_gets_attempts_until_the_deadline_then_nothing() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let forward = Forward::coredns(silent.local_addr().unwrap());
        let began = tokio::time::Instant::now();
        assert_eq!(forward.exchange(&query(7), false).await, None);
        // Attempts at 0, 2 and 4 s, each waiting its 2 s: CoreDNS answers SERVFAIL at 6 s.
        assert_eq!(began.elapsed(), Duration::from_secs(6));
        let mut buf = [0u8; 512];
        let mut received = 0;
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(1), silent.recv_from(&mut buf)).await
        {
            received += 1;
        }
        assert_eq!(received, 3);
    }

    #[tokio::test]
    async fn an_answer_with_the_querys_id_is_relayed() {
        let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = upstream.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, from) = upstream.recv_from(&mut buf).await.unwrap();
            let asked = Message::from_vec(&buf[..n]).unwrap();
            let mut other =
                Message::response(asked.metadata.id.wrapping_add(1), asked.metadata.op_code);
            other.add_queries(asked.queries.clone());
            upstream
                .send_to(&other.to_vec().unwrap(), from)
                .await
                .unwrap();
            let mut answer = Message::response(asked.metadata.id, asked.metadata.op_code);
            answer.add_queries(asked.queries.clone());
            upstream
                .send_to(&answer.to_vec().unwrap(), from)
                .await
                .unwrap();
        });
        let answer = Forward::coredns(addr)
            .exchange(&query(42), false)
            .await
            .unwrap();
        assert_eq!(answer.metadata.id, 42);
        server.await.unwrap();
    }
}
