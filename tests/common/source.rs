//! Connections from a chosen client address. On Linux all of 127.0.0.0/8 is
//! loopback, so a socket bound to 127.0.0.2 before it connects reaches a
//! server on 127.0.0.1 as a second client address: what the per-address rules
//! (connection limit, password back-off) need to be tested.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

use super::{Client, FRAME_TIMEOUT};

/// The address the tests' clients use by default.
pub const FIRST_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// Another client address, also loopback.
pub const SECOND_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A bare TCP connection to `server` from `local` (any port), bounded by
/// [`FRAME_TIMEOUT`].
pub async fn tcp_from(local: IpAddr, server: SocketAddr) -> io::Result<TcpStream> {
    let socket = match local {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(local, 0))?;
    tokio::time::timeout(FRAME_TIMEOUT, socket.connect(server))
        .await
        .unwrap_or_else(|_| panic!("TCP connection to {server} from {local} took over 10 s"))
}

impl Client {
    /// Like [`Client::connect_pinned`], from the client address `local`.
    /// Fails (rather than panics) when the handshake fails.
    pub async fn connect_from(
        local: IpAddr,
        server: SocketAddr,
        fingerprint: &str,
    ) -> io::Result<Client> {
        let label = format!("tls client from {local}");
        Client::over_tls(tcp_from(local, server), fingerprint, None, label).await
    }
}
