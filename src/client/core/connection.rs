//! One connection to a server: TCP, the TLS handshake, the trust decision, and
//! then server frames in and request lines out.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};

use crate::client::error::ClientError;
use crate::client::settings::ServerAddress;
use crate::client::trust::{Asker, KnownHosts, Trust};

/// How long connecting and the TLS handshake may take together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest server line read. A `join` or `history` answer carries up to
/// `history_max` messages of up to `max_text_bytes` each, escaped, so this is
/// generous; past it the server is misbehaving.
const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

type Stream = TlsStream<TcpStream>;

/// A connected, trusted server.
pub struct Connection {
    reader: FramedRead<ReadHalf<Stream>, LinesCodec>,
    writer: FramedWrite<WriteHalf<Stream>, LinesCodec>,
}

/// Why reading or writing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken(pub String);

impl Connection {
    /// Connects, shakes hands and decides trust; nothing is sent before the
    /// server is trusted.
    pub async fn open(
        server: &ServerAddress,
        trust: &Trust,
        known_hosts: &KnownHosts,
        ask: Option<&mut dyn Asker>,
    ) -> Result<Connection, ClientError> {
        let failed = |reason: String| ClientError::Connect {
            server: server.to_string(),
            reason,
        };
        let name = ServerName::try_from(server.host.clone())
            .map_err(|_| failed(format!("{:?} is not a valid host name", server.host)))?;
        let connector = TlsConnector::from(trust.config.clone());
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let tcp = TcpStream::connect((server.host.as_str(), server.port))
                .await
                .map_err(|e| failed(e.to_string()))?;
            // Chat lines are small and latency matters more than packet count.
            tcp.set_nodelay(true).map_err(|e| failed(e.to_string()))?;
            connector
                .connect(name, tcp)
                .await
                .map_err(|e| failed(format!("TLS handshake failed: {e}")))
        })
        .await
        .map_err(|_| failed(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))??;
        trust.decide(server, known_hosts, ask)?;
        let (read, write) = tokio::io::split(stream);
        Ok(Connection {
            reader: FramedRead::new(read, LinesCodec::new_with_max_length(MAX_FRAME_BYTES)),
            writer: FramedWrite::new(write, LinesCodec::new()),
        })
    }

    /// The next server line; `Err` when the connection is over.
    pub async fn next_line(&mut self) -> Result<String, Broken> {
        match self.reader.next().await {
            Some(Ok(line)) => Ok(line),
            Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                Err(Broken("the server sent an overlong line".into()))
            }
            Some(Err(LinesCodecError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(Broken("the connection was cut".into()))
            }
            Some(Err(LinesCodecError::Io(e))) => Err(Broken(e.to_string())),
            None => Err(Broken("the server closed the connection".into())),
        }
    }

    /// Sends one line (a `\n` is added).
    pub async fn send(&mut self, line: &str) -> Result<(), Broken> {
        self.writer
            .send(line)
            .await
            .map_err(|e| Broken(e.to_string()))
    }

    /// Ends the TLS session politely.
    pub async fn close(mut self) {
        let _ = SinkExt::<&str>::close(&mut self.writer).await;
    }
}
