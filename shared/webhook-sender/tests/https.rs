//! The sender's HTTPS path against a TLS receiver on loopback whose
//! certificate a test authority signed for `hooks.test`, both made afresh
//! by each run (`rcgen`), so no key is ever committed. The name is
//! resolved by the test's own resolver, so nothing leaves the machine:
//! a trusted certificate for the URL's name delivers, and an untrusted
//! authority or another name is a failed attempt that names TLS.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use async_trait::async_trait;
use domain::webhooks::port::{HostResolver, OutboundRequest, SendOutcome, WebhookSender};
use domain::webhooks::url::{UrlPolicy, WebhookUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use webhook_sender::HttpWebhookSender;

/// A test authority and the receiver's certificate for `hooks.test`,
/// signed by it, with the receiver's key.
struct Certificates {
    authority: CertificateDer<'static>,
    receiver: CertificateDer<'static>,
    receiver_key: Vec<u8>,
}

fn certificates() -> Certificates {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut authority = CertificateParams::new(Vec::<String>::new()).unwrap();
    authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    authority
        .distinguished_name
        .push(DnType::CommonName, "webhook-sender test authority");
    let authority_key = KeyPair::generate().unwrap();
    let authority = authority.self_signed(&authority_key).unwrap();
    let receiver_key = KeyPair::generate().unwrap();
    let receiver = CertificateParams::new(vec!["hooks.test".to_owned()])
        .unwrap()
        .signed_by(&receiver_key, &authority, &authority_key)
        .unwrap();
    Certificates {
        authority: authority.der().clone(),
        receiver: receiver.der().clone(),
        receiver_key: receiver_key.serialize_der(),
    }
}

/// Every name resolves to loopback.
struct Loopback;

#[async_trait]
impl HostResolver for Loopback {
    async fn resolve(&self, _host: &str, _port: u16) -> Result<Vec<IpAddr>, String> {
        Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
    }
}

/// A TLS receiver for `hooks.test` that answers 204 and hands over what it
/// read of each request.
async fn receiver(certificates: &Certificates) -> (u16, mpsc::UnboundedReceiver<String>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certificates.receiver.clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certificates.receiver_key.clone())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut read = Vec::new();
                let mut buffer = [0u8; 4096];
                while !String::from_utf8_lossy(&read).contains("\"ping\"") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => read.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = seen.send(String::from_utf8_lossy(&read).into_owned());
                let _ = tls
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, requests)
}

fn roots(trusted: &CertificateDer<'static>) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    roots
}

const POLICY: UrlPolicy = UrlPolicy {
    allow_loopback: true,
    loopback_only: false,
};

fn request(host: &str, port: u16) -> OutboundRequest {
    OutboundRequest {
        url: WebhookUrl::parse("url", &format!("https://{host}:{port}/hook"), POLICY).unwrap(),
        headers: vec![
            ("content-type", "application/json".into()),
            ("webhook-id", "evt_1".into()),
        ],
        body: r#"{"type":"ping"}"#.into(),
    }
}

#[tokio::test]
async fn a_trusted_certificate_for_the_name_delivers_over_tls() {
    let certificates = certificates();
    let (port, mut requests) = receiver(&certificates).await;
    let sender =
        HttpWebhookSender::trusting(Arc::new(Loopback), POLICY, roots(&certificates.authority));
    let outcome = sender.send(&request("hooks.test", port)).await;
    assert_eq!(outcome, SendOutcome::Answered(204));
    let seen = requests.recv().await.unwrap();
    assert!(seen.starts_with("POST /hook HTTP/1.1\r\n"), "{seen}");
    assert!(
        seen.contains(&format!("host: hooks.test:{port}\r\n")),
        "{seen}"
    );
    assert!(seen.contains("webhook-id: evt_1\r\n"), "{seen}");
    assert!(seen.ends_with(r#"{"type":"ping"}"#), "{seen}");
}

#[tokio::test]
async fn an_untrusted_authority_or_another_name_fails_the_attempt() {
    let certificates = certificates();
    let (port, _requests) = receiver(&certificates).await;
    // Trusting only the receiver's own certificate as an authority, which
    // it is not: the chain does not verify.
    let strangers =
        HttpWebhookSender::trusting(Arc::new(Loopback), POLICY, roots(&certificates.receiver));
    let refused = strangers.send(&request("hooks.test", port)).await;
    assert!(
        matches!(&refused, SendOutcome::Failed(reason) if reason.starts_with("TLS failed")),
        "{refused:?}"
    );
    let sender =
        HttpWebhookSender::trusting(Arc::new(Loopback), POLICY, roots(&certificates.authority));
    let misnamed = sender.send(&request("other.test", port)).await;
    assert!(
        matches!(&misnamed, SendOutcome::Failed(reason) if reason.starts_with("TLS failed")),
        "{misnamed:?}"
    );
}
