//! Whom the client trusts: the operating system's roots, or a CA file the
//! user names instead.

use std::path::{Path, PathBuf};

use super::HttpError;
use super::error::one_line;

#[derive(Debug, Clone, Default)]
pub(crate) struct Trust {
    /// PEM certificates to trust instead of the system's roots.
    pub(crate) ca_file: Option<PathBuf>,
}

/// The roots a client trusts: the CA file when one is named, else the
/// system's trust store through rustls-platform-verifier (which reads
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` on Linux and the BSDs).
pub(super) fn root_certs(trust: &Trust) -> Result<ureq::tls::RootCerts, HttpError> {
    if let Some(path) = &trust.ca_file {
        return Ok(ureq::tls::RootCerts::Specific(std::sync::Arc::new(
            read_ca_file(path)?,
        )));
    }
    Ok(platform_roots())
}

/// macOS and Windows verify against their own stores, which know nothing of
/// `SSL_CERT_FILE`: when it or `SSL_CERT_DIR` is set, their certificates
/// are loaded (by rustls-native-certs, as on Linux) and trusted instead.
#[cfg(any(windows, target_vendor = "apple"))]
fn platform_roots() -> ureq::tls::RootCerts {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("SSL_CERT_FILE") || set("SSL_CERT_DIR") {
        let loaded = rustls_native_certs::load_native_certs();
        let certificates: Vec<_> = loaded
            .certs
            .into_iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        if !certificates.is_empty() {
            return ureq::tls::RootCerts::Specific(std::sync::Arc::new(certificates));
        }
    }
    ureq::tls::RootCerts::PlatformVerifier
}

#[cfg(not(any(windows, target_vendor = "apple")))]
fn platform_roots() -> ureq::tls::RootCerts {
    ureq::tls::RootCerts::PlatformVerifier
}

fn read_ca_file(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, HttpError> {
    let error = |cause: String| HttpError::CaFile {
        path: path.to_owned(),
        cause,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(certificate) =
            item.map_err(|e| error(one_line(&e.to_string())))?
        {
            certificates.push(certificate);
        }
    }
    if certificates.is_empty() {
        return Err(error("it holds no PEM certificate".into()));
    }
    Ok(certificates)
}
