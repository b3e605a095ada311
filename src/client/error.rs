//! Why a client run ended badly, and the exit status each reason gets. Scripts
//! branch on these numbers, so they are part of the documented interface.

/// Exit status: everything asked for was done.
pub const EXIT_OK: u8 = 0;
/// Exit status: the server answered a request with an error (or the connection
/// dropped with a request unanswered).
pub const EXIT_SERVER_ERROR: u8 = 1;
/// Exit status: bad flags or client config (clap uses 2 for its own usage errors).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: could not connect, TLS failed or the certificate was not
/// trusted, or the connection was lost and could not be restored.
pub const EXIT_UNREACHABLE: u8 = 3;

/// A run that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A flag or the client config is wrong.
    #[error("{0}")]
    Usage(String),
    /// No connection: name resolution, TCP, or the TLS handshake failed.
    #[error("could not connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    /// The certificate is not trusted; the text says what to do about it.
    #[error("{0}")]
    Untrusted(String),
    /// The server refused us (`auth_failed`, a bad nick, …).
    #[error("{0}")]
    Refused(String),
    /// Connected once, then lost, and reconnecting gave up.
    #[error("connection to {server} lost: {reason}")]
    Lost { server: String, reason: String },
    /// The terminal or stdin failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The documented exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Usage(_) => EXIT_USAGE,
            ClientError::Connect { .. } | ClientError::Untrusted(_) | ClientError::Lost { .. } => {
                EXIT_UNREACHABLE
            }
            ClientError::Refused(_) => EXIT_SERVER_ERROR,
            ClientError::Io(_) => EXIT_SERVER_ERROR,
        }
    }
}
