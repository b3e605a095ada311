//! TLS as the tests see it: a client configuration that trusts one certificate,
//! named by its `SHA256:…` fingerprint, and certificate files to configure under
//! `[tls]`.
//!
//! The benchmarks include this file too (`benches/support/mod.rs`, by `#[path]`),
//! so it uses nothing from the other test helpers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};

/// A rustls client config that trusts only the certificate with `fingerprint`
/// (`SHA256:…`): any other fails the handshake. (The real client instead lets the
/// handshake finish and then decides, so it can show both fingerprints; see
/// `src/client/trust.rs`.) `versions`: `None` for the safe defaults (TLS 1.2 and
/// 1.3).
pub fn pinned_client_config(
    fingerprint: &str,
    versions: Option<&[&'static SupportedProtocolVersion]>,
) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCertificate {
        fingerprint: fingerprint.to_owned(),
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider);
    let builder = match versions {
        None => builder.with_safe_default_protocol_versions(),
        Some(versions) => builder.with_protocol_versions(versions),
    }
    .expect("protocol versions supported by the ring provider");
    builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// Trusts exactly one certificate, named by its fingerprint. Handshake
/// signatures are still verified, so only the holder of the pinned
/// certificate's key passes.
#[derive(Debug)]
struct PinnedCertificate {
    fingerprint: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if confab::tls::fingerprint(end_entity) == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
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

/// A certificate and key written as PEM files, as an operator would configure
/// them under `[tls]`.
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub fingerprint: String,
}

impl CertificateFiles {
    /// The `[tls]` table naming these files.
    pub fn tls_table(&self) -> String {
        format!(
            "[tls]\ncert = {}\nkey = {}\n",
            toml::Value::String(self.cert.display().to_string()),
            toml::Value::String(self.key.display().to_string())
        )
    }
}

/// Generates a new self-signed certificate for localhost and writes it to
/// `dir/cert.pem` and `dir/key.pem`, replacing what was there.
pub fn write_certificate(dir: &Path) -> CertificateFiles {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("generate a certificate");
    std::fs::create_dir_all(dir).expect("create the certificate directory");
    let files = CertificateFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        fingerprint: confab::tls::fingerprint(made.cert.der()),
    };
    std::fs::write(&files.cert, made.cert.pem()).expect("write cert.pem");
    std::fs::write(&files.key, made.signing_key.serialize_pem()).expect("write key.pem");
    files
}
