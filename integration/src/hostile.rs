//! Hostile clients, for the hardening tests and `hostile-bench`: slow
//! senders that hold a connection open by trickling a request's headers or
//! body one byte at a time, or by never finishing a TLS handshake.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use openssl::ssl::SslConnector;

/// How a slow client holds its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Connects (over TLS: no ClientHello either) and sends nothing.
    Silent,
    /// Sends a request line and then header bytes, never the blank line.
    Headers,
    /// Sends complete headers announcing a 9000-byte body, then the body bytes.
    Body,
}

impl std::str::FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "silent" => Ok(Variant::Silent),
            "headers" => Ok(Variant::Headers),
            "body" => Ok(Variant::Body),
            other => Err(format!(
                "unknown slow-client variant '{other}': silent, headers or body"
            )),
        }
    }
}

/// Body length a `Body` client announces.
pub const SLOW_BODY_LEN: usize = 9000;

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One slow client.
pub struct SlowClient {
    tcp: TcpStream,
    stream: Box<dyn Stream>,
    variant: Variant,
}

impl std::fmt::Debug for SlowClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlowClient")
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

impl SlowClient {
    /// Connects to `addr` (over TLS with `tls`, SNI `localhost`, unless the variant is
    /// `Silent`) and sends the first part of its request.
    pub fn open(
        addr: SocketAddr,
        variant: Variant,
        tls: Option<&SslConnector>,
    ) -> io::Result<Self> {
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut stream: Box<dyn Stream> = match (tls, variant) {
            (Some(connector), Variant::Headers | Variant::Body) => Box::new(
                connector
                    .connect("localhost", tcp.try_clone()?)
                    .map_err(io::Error::other)?,
            ),
            _ => Box::new(tcp.try_clone()?),
        };
        let head = match variant {
            Variant::Silent => String::new(),
            Variant::Headers => format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n"),
            Variant::Body => format!(
                "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {SLOW_BODY_LEN}\r\n\r\n"
            ),
        };
        stream.write_all(head.as_bytes())?;
        stream.flush()?;
        Ok(SlowClient {
            tcp,
            stream,
            variant,
        })
    }

    /// Sends one more byte (nothing for `Silent`).
    pub fn trickle(&mut self) -> io::Result<()> {
        let byte: &[u8] = match self.variant {
            Variant::Silent => return Ok(()),
            Variant::Headers => b"X",
            Variant::Body => b"0",
        };
        self.stream.write_all(byte)?;
        self.stream.flush()
    }

    /// Trickles one byte every `every` until the server closes the connection, at most
    /// `tries` times; whether it was closed.
    pub fn closed_while_trickling(&mut self, every: Duration, tries: usize) -> bool {
        for _ in 0..tries {
            if self.trickle().is_err() || self.closed_by_server(every) {
                return true;
            }
        }
        false
    }

    /// Whether the server closed the connection (possibly after an answer such as 408),
    /// waiting at most `wait` for it.
    pub fn closed_by_server(&mut self, wait: Duration) -> bool {
        if self
            .tcp
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .is_err()
        {
            return true;
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                // An answer (408, 413): the close follows.
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }
}
