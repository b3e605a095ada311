//! Deciding whether to trust a server's certificate, the way ssh does: a
//! certificate that chains to a system root (or to `--ca`) and names the host is
//! trusted; otherwise the `SHA256:` fingerprint is looked up in the known-hosts
//! file, and an unknown one is asked about (interactive) or refused (scripts).
//!
//! The TLS verifier only records what it saw; the decision is taken right after
//! the handshake and before a single byte is sent, so a refused server never sees
//! the nick or the password. The handshake signature is still checked against the
//! presented certificate, so the server proved it holds that certificate's key.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::tls;

use super::error::ClientError;
use super::settings::{ServerAddress, TrustMode};

/// The known-hosts file: one `HOST:PORT SHA256:…` per line, `#` comments.
#[derive(Debug)]
pub struct KnownHosts {
    path: PathBuf,
}

/// What the known-hosts file says about a server.
#[derive(Debug, PartialEq, Eq)]
pub enum Known {
    /// Listed with this fingerprint.
    Same,
    /// Listed with another fingerprint, on this (1-based) line.
    Different { fingerprint: String, line: usize },
    /// Not listed.
    Unknown,
}

impl KnownHosts {
    pub fn new(path: PathBuf) -> KnownHosts {
        KnownHosts { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Looks the server up. A missing file knows nobody.
    pub fn lookup(&self, server: &ServerAddress, fingerprint: &str) -> std::io::Result<Known> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Known::Unknown),
            Err(e) => return Err(e),
        };
        let key = server.to_string();
        for (index, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            let (Some(host), Some(known)) = (words.next(), words.next()) else {
                continue;
            };
            if host.starts_with('#') || !host.eq_ignore_ascii_case(&key) {
                continue;
            }
            return Ok(if known == fingerprint {
                Known::Same
            } else {
                Known::Different {
                    fingerprint: known.to_owned(),
                    line: index + 1,
                }
            });
        }
        Ok(Known::Unknown)
    }

    /// Appends the server's line, creating the file (and its directory) if needed.
    pub fn remember(&self, server: &ServerAddress, fingerprint: &str) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{}", known_hosts_line(server, fingerprint))
    }
}

/// The line the known-hosts file holds for a server.
pub fn known_hosts_line(server: &ServerAddress, fingerprint: &str) -> String {
    format!("{server} {fingerprint}")
}

/// What the verifier saw during one handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The certificate chains to a trusted root and names the host.
    Chained,
    /// It does not; this is its fingerprint, for the known-hosts decision.
    Unchained { fingerprint: String },
}

/// A rustls client configuration for one trust mode, and where the verifier
/// leaves what it saw.
pub struct Trust {
    pub config: Arc<rustls::ClientConfig>,
    seen: Arc<Mutex<Option<Seen>>>,
    mode: TrustMode,
}

impl Trust {
    pub fn new(mode: &TrustMode) -> Result<Trust, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let seen = Arc::new(Mutex::new(None));
        let verifier: Arc<dyn ServerCertVerifier> = match mode {
            TrustMode::Default => Arc::new(Recording {
                roots: system_roots(&provider),
                seen: seen.clone(),
                algorithms: provider.signature_verification_algorithms,
            }),
            TrustMode::Ca(path) => {
                let mut roots = RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| ClientError::Usage(format!("--ca {}: {e}", path.display())))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(ClientError::Usage(format!(
                        "--ca {}: no CA certificate in the file",
                        path.display()
                    )));
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| ClientError::Usage(format!("--ca {}: {e}", path.display())))?
            }
            // The pin is compared after the handshake, so a mismatch can show
            // both fingerprints.
            TrustMode::Fingerprint(_) | TrustMode::Insecure => Arc::new(Recording {
                roots: None,
                seen: seen.clone(),
                algorithms: provider.signature_verification_algorithms,
            }),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ClientError::Usage(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // A resumed session skips certificate verification, which would leave
        // nothing for `decide` to judge: every connection shows its certificate.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Trust {
            config: Arc::new(config),
            seen,
            mode: mode.clone(),
        })
    }

    /// After a handshake: is this server trusted? Unknown servers are asked about
    /// when `ask` is given (an interactive session), else refused with the line
    /// that would pin them.
    pub fn decide(
        &self,
        server: &ServerAddress,
        known_hosts: &KnownHosts,
        ask: Option<&mut dyn Asker>,
    ) -> Result<(), ClientError> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).take();
        let fingerprint = match (&self.mode, seen) {
            (TrustMode::Ca(_), _) => return Ok(()),
            (TrustMode::Fingerprint(pinned), Some(Seen::Unchained { fingerprint })) => {
                if *pinned == fingerprint {
                    return Ok(());
                }
                return Err(ClientError::Untrusted(format!(
                    "the certificate of {server} does not match --fingerprint\n\
                     expected: {pinned}\n\
                     received: {fingerprint}"
                )));
            }
            (TrustMode::Fingerprint(_), _) => {
                return Err(ClientError::Untrusted(
                    "the TLS handshake ended without a certificate to check".into(),
                ))
            }
            (TrustMode::Insecure, _) => return Ok(()),
            (TrustMode::Default, Some(Seen::Chained)) => return Ok(()),
            (TrustMode::Default, Some(Seen::Unchained { fingerprint })) => fingerprint,
            (TrustMode::Default, None) => {
                return Err(ClientError::Untrusted(
                    "the TLS handshake ended without a certificate to check".into(),
                ))
            }
        };
        let path = known_hosts.path().display();
        let known = known_hosts.lookup(server, &fingerprint).map_err(|e| {
            ClientError::Untrusted(format!("cannot read the known-hosts file {path}: {e}"))
        })?;
        match known {
            Known::Same => Ok(()),
            Known::Different {
                fingerprint: expected,
                line,
            } => Err(ClientError::Untrusted(format!(
                "WARNING: THE CERTIFICATE OF {server} HAS CHANGED!\n\
                 Someone could be intercepting the connection, or the server's certificate \
                 was replaced.\n\
                 expected: {expected} ({path}, line {line})\n\
                 received: {fingerprint}\n\
                 If the change is expected, remove line {line} of {path} and connect again."
            ))),
            Known::Unknown => {
                let line = known_hosts_line(server, &fingerprint);
                let Some(ask) = ask else {
                    return Err(ClientError::Untrusted(format!(
                        "the certificate of {server} is not signed by a trusted authority \
                         and {server} is not in {path}.\n\
                         Its fingerprint is {fingerprint}\n\
                         If that is the fingerprint the server's operator gave you, pin it \
                         with\n  --fingerprint {fingerprint}\n\
                         or add this line to {path}:\n  {line}"
                    )));
                };
                let question = format!(
                    "The certificate of {server} is not signed by a trusted authority, and \
                     {server} is not in {path}.\n\
                     Its fingerprint is {fingerprint}\n\
                     Compare it with the one the server's operator gave you \
                     (`confab server --print-fingerprint`).\n\
                     Trust it and remember it? (yes/no) "
                );
                if !ask.confirm(&question)? {
                    return Err(ClientError::Untrusted(format!(
                        "{server}: certificate {fingerprint} not trusted"
                    )));
                }
                known_hosts
                    .remember(server, &fingerprint)
                    .map_err(|e| ClientError::Untrusted(format!("cannot write {path}: {e}")))?;
                ask.told(&format!("Remembered {server} in {path}."));
                Ok(())
            }
        }
    }
}

/// Someone to ask whether to trust an unknown certificate.
pub trait Asker {
    fn confirm(&mut self, question: &str) -> std::io::Result<bool>;
    fn told(&mut self, note: &str);
}

/// Asks on the terminal: the question on stderr, the answer from stdin.
pub struct TerminalAsker;

impl Asker for TerminalAsker {
    fn confirm(&mut self, question: &str) -> std::io::Result<bool> {
        let mut stderr = std::io::stderr();
        write!(stderr, "{question}")?;
        stderr.flush()?;
        loop {
            let mut answer = String::new();
            if std::io::stdin().lock().read_line(&mut answer)? == 0 {
                return Ok(false);
            }
            match answer.trim().to_ascii_lowercase().as_str() {
                "yes" | "y" => return Ok(true),
                "no" | "n" | "" => return Ok(false),
                _ => {
                    write!(stderr, "Please type 'yes' or 'no': ")?;
                    stderr.flush()?;
                }
            }
        }
    }

    fn told(&mut self, note: &str) {
        eprintln!("{note}");
    }
}

/// The system's trusted roots; `None` when it has none (then only the
/// known-hosts file can vouch for a server).
fn system_roots(provider: &Arc<CryptoProvider>) -> Option<Arc<WebPkiServerVerifier>> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return None;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .ok()
}

/// Verifies the chain when it can and records the outcome; see the module doc.
#[derive(Debug)]
struct Recording {
    roots: Option<Arc<WebPkiServerVerifier>>,
    seen: Arc<Mutex<Option<Seen>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chained = self.roots.as_ref().is_some_and(|roots| {
            roots
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .is_ok()
        });
        let seen = if chained {
            Seen::Chained
        } else {
            Seen::Unchained {
                fingerprint: tls::fingerprint(end_entity),
            }
        };
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &str) -> ServerAddress {
        ServerAddress::parse(text).unwrap()
    }

    #[test]
    fn known_hosts_remembers_and_tells_changes_apart() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = KnownHosts::new(dir.path().join("sub/known_hosts"));
        let a = server("a.example:7667");
        assert_eq!(hosts.lookup(&a, "SHA256:one").unwrap(), Known::Unknown);
        hosts.remember(&server("b.example"), "SHA256:bee").unwrap();
        hosts.remember(&a, "SHA256:one").unwrap();
        assert_eq!(hosts.lookup(&a, "SHA256:one").unwrap(), Known::Same);
        assert_eq!(
            hosts.lookup(&a, "SHA256:two").unwrap(),
            Known::Different {
                fingerprint: "SHA256:one".into(),
                line: 2
            }
        );
        assert_eq!(
            hosts.lookup(&server("a.example:1"), "SHA256:one").unwrap(),
            Known::Unknown
        );
        let text = std::fs::read_to_string(hosts.path()).unwrap();
        assert_eq!(
            text,
            "b.example:7667 SHA256:bee\na.example:7667 SHA256:one\n"
        );
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(
            &path,
            "# a.example:7667 SHA256:old\n\n[::1]:7667 SHA256:six\n",
        )
        .unwrap();
        let hosts = KnownHosts::new(path);
        assert_eq!(
            hosts.lookup(&server("a.example"), "SHA256:new").unwrap(),
            Known::Unknown
        );
        assert_eq!(
            hosts.lookup(&server("[::1]"), "SHA256:six").unwrap(),
            Known::Same
        );
    }
}
