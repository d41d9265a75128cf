//! The webhook sender: resolves the endpoint's host itself, refuses the
//! request when any address it got is of a kind the URL policy refuses,
//! connects to an address that passed (never resolving again, so the
//! answer checked is the address used), speaks HTTP/1.1 over TLS (or
//! plain HTTP to loopback under the development flag), follows no
//! redirect, gives up after `ATTEMPT_TIMEOUT_SECS`, and reads at most
//! `MAX_RESPONSE_BYTES` of the answer, which it then drops
//! (`docs/security.md`).
#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use domain::webhooks::port::{HostResolver, OutboundRequest, SendOutcome, WebhookSender};
use domain::webhooks::service::vet_host;
use domain::webhooks::url::UrlPolicy;
use domain::webhooks::{ATTEMPT_TIMEOUT_SECS, MAX_RESPONSE_BYTES};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// Resolution through the operating system, as any client would do it.
pub struct SystemResolver;

#[async_trait]
impl HostResolver for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        tokio::net::lookup_host((host, port))
            .await
            .map(|found| found.map(|a| a.ip()).collect())
            .map_err(|e| e.to_string())
    }
}

/// Resolves nothing: only URLs with an address for a host (and
/// `localhost`) can be used. The test API and the contract fuzz run with
/// it, so no test ever asks a DNS server anything.
pub struct NoResolver;

#[async_trait]
impl HostResolver for NoResolver {
    async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, String> {
        Err(format!("{host}: names are not resolved here"))
    }
}

pub struct HttpWebhookSender {
    resolver: Arc<dyn HostResolver>,
    policy: UrlPolicy,
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl HttpWebhookSender {
    /// A sender trusting the system's root certificates.
    pub fn new(resolver: Arc<dyn HostResolver>, policy: UrlPolicy) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A certificate the store cannot take is skipped; the rest
            // still verify.
            let _ = roots.add(cert);
        }
        Self::trusting(resolver, policy, roots)
    }

    /// A sender trusting only `roots`: how the tests reach a receiver
    /// whose certificate a test authority signed.
    pub fn trusting(
        resolver: Arc<dyn HostResolver>,
        policy: UrlPolicy,
        roots: rustls::RootCertStore,
    ) -> Self {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("the default provider supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        HttpWebhookSender {
            resolver,
            policy,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout: Duration::from_secs(ATTEMPT_TIMEOUT_SECS),
        }
    }

    async fn attempt(&self, request: &OutboundRequest) -> SendOutcome {
        let addresses = match vet_host(self.resolver.as_ref(), self.policy, &request.url).await {
            Ok(addresses) => addresses,
            Err(reason) => return SendOutcome::Failed(format!("refused: the URL {reason}")),
        };
        let mut last_error = String::from("no address to connect to");
        for ip in addresses {
            let address = SocketAddr::new(ip, request.url.port());
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    return if request.url.is_https() {
                        let name = match rustls::pki_types::ServerName::try_from(
                            request.url.host_text().trim_matches(['[', ']']).to_owned(),
                        ) {
                            Ok(name) => name,
                            Err(_) => {
                                return SendOutcome::Failed("an invalid TLS server name".into())
                            }
                        };
                        match self.tls.connect(name, stream).await {
                            Ok(tls) => exchange(tls, request).await,
                            Err(err) => SendOutcome::Failed(format!("TLS failed: {err}")),
                        }
                    } else {
                        exchange(stream, request).await
                    };
                }
                Err(err) => last_error = format!("connection failed: {}", err.kind()),
            }
        }
        SendOutcome::Failed(last_error)
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, request: &OutboundRequest) -> SendOutcome {
        match tokio::time::timeout(self.timeout, self.attempt(request)).await {
            Ok(outcome) => outcome,
            Err(_) => SendOutcome::Failed(format!("timed out after {} s", self.timeout.as_secs())),
        }
    }
}

/// One request and its status over an open connection; the body is read
/// up to the limit and dropped, and a redirect is just its status.
async fn exchange<S>(stream: S, request: &OutboundRequest) -> SendOutcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(err) => return SendOutcome::Failed(format!("HTTP failed: {err}")),
        };
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(request.url.target())
        .header(http::header::HOST, host_header(request))
        .header(http::header::USER_AGENT, "activation-platform-webhooks/1")
        .header(http::header::CONNECTION, "close");
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    let Ok(http_request) = builder.body(Full::new(Bytes::from(request.body.clone()))) else {
        driver.abort();
        return SendOutcome::Failed("the request could not be built".into());
    };
    let outcome = match sender.send_request(http_request).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await;
            SendOutcome::Answered(status)
        }
        Err(err) => SendOutcome::Failed(format!("HTTP failed: {err}")),
    };
    driver.abort();
    outcome
}

fn host_header(request: &OutboundRequest) -> String {
    let default_port = if request.url.is_https() { 443 } else { 80 };
    match request.url.port() {
        port if port == default_port => request.url.host_text(),
        port => format!("{}:{port}", request.url.host_text()),
    }
}
