//! TLS pieces shared by berthd's `--tlsverify` listener, the CLI's
//! `--tls`/`--tlsverify` and the registry client: PEM files into rustls
//! types (with the file named in every error), and the verifier that accepts
//! any server certificate (Go's `InsecureSkipVerify`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A TLS file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("tls configuration from {path}: {message}")]
pub struct TlsFileError {
    /// The file.
    pub path: PathBuf,
    /// What the PEM parser or rustls said.
    pub message: String,
}

impl TlsFileError {
    fn at(path: &Path) -> impl Fn(String) -> TlsFileError + '_ {
        move |message| TlsFileError {
            path: path.to_path_buf(),
            message,
        }
    }
}

/// The CA certificates in a PEM file, as trust roots (at least one).
pub fn roots(path: &Path) -> Result<RootCertStore, TlsFileError> {
    let err = TlsFileError::at(path);
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))? {
        roots
            .add(cert.map_err(|e| err(e.to_string()))?)
            .map_err(|e| err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(err("no CA certificate found".into()));
    }
    Ok(roots)
}

/// The certificate chain in a PEM file (at least one certificate).
pub fn chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let err = TlsFileError::at(path);
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate found".into()));
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsFileError::at(path)(e.to_string()))
}

/// Accepts any server certificate: Go's `InsecureSkipVerify`, for insecure
/// registries (tried over HTTPS before plain HTTP) and the CLI's `--tls`
/// without `--tlsverify`. Signatures are still checked, so the handshake
/// itself is sound.
#[derive(Debug)]
pub struct AcceptAnyCertificate(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_files_are_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = roots(&empty).unwrap_err();
        assert_eq!(e.path, empty);
        assert_eq!(e.message, "no CA certificate found");
        assert_eq!(chain(&empty).unwrap_err().message, "no certificate found");
        assert!(key(&empty).is_err());
        let missing = dir.path().join("missing.pem");
        assert!(
            roots(&missing)
                .unwrap_err()
                .to_string()
                .starts_with(&format!("tls configuration from {}: ", missing.display()))
        );
    }
}
