//! The certificates mail servers are verified against: the public (web PKI) roots, plus the
//! private CAs an operator trusts for mail servers (`mail_ca_file`, a PEM bundle), for the
//! IMAP connect probe, the mailbox readers and SMTP sends alike. Every TLS client for a mail
//! server is built here, so they cannot drift apart.
//!
//! It travels with the [`super::EgressPolicy`] (every mail host is a tenant destination that
//! passes the policy first), so each place that reaches a mail server trusts the same CAs.

use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

/// Why a CA bundle cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum MailTlsError {
    /// The file could not be read.
    #[error("cannot read the mail CA file {0}: {1}")]
    Read(String, std::io::Error),
    /// The bundle holds no certificate, or one that does not parse.
    #[error("the mail CA bundle is not a list of PEM certificates: {0}")]
    Invalid(String),
}

/// The roots mail servers' certificates are verified against, and the TLS clients built on them.
#[derive(Clone)]
pub struct MailTls {
    public_roots: bool,
    extra: Arc<Vec<CertificateDer<'static>>>,
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for MailTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailTls")
            .field("public_roots", &self.public_roots)
            .field("extra_cas", &self.extra.len())
            .finish()
    }
}

impl Default for MailTls {
    /// The public roots only (built once per process).
    fn default() -> Self {
        static PUBLIC: std::sync::OnceLock<MailTls> = std::sync::OnceLock::new();
        PUBLIC
            .get_or_init(|| Self::build(true, Vec::new()).expect("the public roots are valid"))
            .clone()
    }
}

impl MailTls {
    /// The public roots and the CAs of the PEM bundle at `path`.
    pub fn with_ca_file(path: &str) -> Result<Self, MailTlsError> {
        let pem = std::fs::read(path).map_err(|e| MailTlsError::Read(path.to_owned(), e))?;
        Self::with_ca_pem(&pem)
    }

    /// The public roots and the CAs of the PEM bundle `pem`.
    pub fn with_ca_pem(pem: &[u8]) -> Result<Self, MailTlsError> {
        let extra = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| MailTlsError::Invalid(e.to_string()))?;
        if extra.is_empty() {
            return Err(MailTlsError::Invalid("no certificate found".into()));
        }
        Self::build(true, extra)
    }

    /// Exactly `certificates` as roots, without the public ones (tests with a private CA).
    pub fn trusting_only(certificates: Vec<CertificateDer<'static>>) -> Self {
        Self::build(false, certificates).expect("the test roots are valid certificates")
    }

    fn build(
        public_roots: bool,
        extra: Vec<CertificateDer<'static>>,
    ) -> Result<Self, MailTlsError> {
        let mut roots = rustls::RootCertStore::empty();
        if public_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for certificate in &extra {
            roots
                .add(certificate.clone())
                .map_err(|e| MailTlsError::Invalid(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            public_roots,
            extra: Arc::new(extra),
            config: Arc::new(config),
        })
    }

    /// The TLS client configuration for IMAP (rustls, ring provider).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// The TLS parameters of an SMTP session with `host`, trusting the same roots.
    pub fn smtp_parameters(
        &self,
        host: &str,
    ) -> Result<TlsParameters, lettre::transport::smtp::Error> {
        let store = if self.public_roots {
            CertificateStore::WebpkiRoots
        } else {
            CertificateStore::None
        };
        let mut builder = TlsParameters::builder(host.to_owned()).certificate_store(store);
        for der in self.extra.iter() {
            builder = builder.add_root_certificate(Certificate::from_der(der.to_vec())?);
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_is_refused_and_a_valid_one_kept() {
        assert!(matches!(
            MailTls::with_ca_pem(b"not a certificate"),
            Err(MailTlsError::Invalid(_))
        ));
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
        let tls = MailTls::with_ca_pem(ca.cert.pem().as_bytes()).unwrap();
        assert_eq!(tls.extra.len(), 1);
        assert!(tls.smtp_parameters("mail.test").is_ok());
    }
}
