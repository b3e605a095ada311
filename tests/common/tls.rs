//! TLS as the tests see it: a client configuration that trusts one certificate,
//! named by its `SHA256:…` fingerprint, and certificate files to configure under
//! `[tls]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::SupportedProtocolVersion;

/// A rustls client config that trusts only the certificate with `fingerprint`
/// (the library's pinning verifier, as the real client uses it).
/// `versions`: `None` for the safe defaults (TLS 1.2 and 1.3).
pub fn pinned_client_config(
    fingerprint: &str,
    versions: Option<&[&'static SupportedProtocolVersion]>,
) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider);
    let builder = match versions {
        None => builder.with_safe_default_protocol_versions(),
        Some(versions) => builder.with_protocol_versions(versions),
    }
    .expect("protocol versions supported by the ring provider");
    builder
        .dangerous()
        .with_custom_certificate_verifier(confab::tls::pinned_verifier(fingerprint))
        .with_no_client_auth()
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
