//! Which URLs an endpoint may have and which addresses a delivery may
//! reach. A URL is checked when it is set and again at every delivery, on
//! the addresses its host resolves to then, so a name that later points
//! inside the network is refused too (`docs/security.md`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::field::FieldError;

/// The longest URL an endpoint may have.
pub const MAX_URL_LENGTH: usize = 2_000;

/// What deliveries may reach. On AWS nothing but public HTTPS; the local
/// API's development flag also allows loopback, over HTTP as well, so a
/// receiver on the developer's own machine can be tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    pub allow_loopback: bool,
    /// Refuse every address but loopback: the contract fuzz runs so, so
    /// that no URL it makes up is ever connected to.
    pub loopback_only: bool,
}

/// Why an address may not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Loopback,
    Private,
    LinkLocal,
    /// A cloud provider's instance metadata service.
    Metadata,
    /// Unspecified, multicast, broadcast, documentation and other
    /// addresses no public receiver has.
    Reserved,
    /// A public address, where the policy allows loopback only.
    Public,
}

impl AddressKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Loopback => "a loopback address",
            AddressKind::Private => "a private address",
            AddressKind::LinkLocal => "a link-local address",
            AddressKind::Metadata => "a cloud metadata address",
            AddressKind::Reserved => "a reserved address",
            AddressKind::Public => "a public address (this server delivers to loopback only)",
        }
    }
}

/// Host names that reach a metadata service whatever they resolve to.
const METADATA_HOSTS: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// The kind of `ip` that no delivery may reach, or `None` for a public
/// address.
pub fn refused_kind(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    let [a, b, c, d] = ip.octets();
    // AWS, GCP and Azure at 169.254.169.254, AWS's DNS stand-in at
    // 169.254.169.253, Alibaba at 100.100.100.200, Oracle at 192.0.0.192.
    if matches!(
        (a, b, c, d),
        (169, 254, 169, 254) | (169, 254, 169, 253) | (100, 100, 100, 200) | (192, 0, 0, 192)
    ) {
        return Some(AddressKind::Metadata);
    }
    match (a, b) {
        (127, _) => Some(AddressKind::Loopback),
        (10, _) | (172, 16..=31) | (192, 168) => Some(AddressKind::Private),
        // Carrier-grade NAT: inside a provider's network.
        (100, 64..=127) => Some(AddressKind::Private),
        (169, 254) => Some(AddressKind::LinkLocal),
        (0, _) | (224..=255, _) => Some(AddressKind::Reserved),
        (192, 0) if c == 0 || c == 2 => Some(AddressKind::Reserved),
        (198, 18..=19) => Some(AddressKind::Reserved),
        (198, 51) if c == 100 => Some(AddressKind::Reserved),
        (203, 0) if c == 113 => Some(AddressKind::Reserved),
        _ => None,
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    // An IPv4 address carried inside IPv6 is judged as that address:
    // mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96)
    // and 6to4 (2002:AABB:CCDD::/48).
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    if segments[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return refused_v4(embedded_v4(segments[6], segments[7]));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return refused_v4(embedded_v4(segments[6], segments[7]));
    }
    if segments[0] == 0x2002 {
        return refused_v4(embedded_v4(segments[1], segments[2]));
    }
    // AWS's IPv6 metadata endpoint sits inside the unique-local block.
    if segments == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] {
        return Some(AddressKind::Metadata);
    }
    if ip.is_loopback() {
        Some(AddressKind::Loopback)
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some(AddressKind::Private)
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        Some(AddressKind::LinkLocal)
    } else if ip.is_unspecified()
        || segments[0] & 0xff00 == 0xff00
        || segments[..2] == [0x2001, 0xdb8]
    {
        Some(AddressKind::Reserved)
    } else {
        None
    }
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// Whether `policy` lets a delivery reach an address of `kind`.
fn allowed(policy: UrlPolicy, kind: AddressKind) -> bool {
    policy.allow_loopback && kind == AddressKind::Loopback
}

/// `Err` with the reason when `ip` may not be reached under `policy`.
pub fn check_address(policy: UrlPolicy, ip: IpAddr) -> Result<(), AddressKind> {
    match refused_kind(ip) {
        Some(kind) if !allowed(policy, kind) => Err(kind),
        None if policy.loopback_only => Err(AddressKind::Public),
        _ => Ok(()),
    }
}

pub(crate) const HTTP_FOR_LOOPBACK_ONLY: &str =
    "must be an https URL (http is allowed for loopback only)";

/// Loopback in either family, an IPv4-mapped one included.
pub fn is_loopback(ip: IpAddr) -> bool {
    refused_kind(ip) == Some(AddressKind::Loopback)
}

/// What a URL's host is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlHost {
    /// A name to resolve at each delivery.
    Name(String),
    Address(IpAddr),
}

/// An endpoint URL that passed the checks that need no resolution: an
/// absolute `https` URL (or `http` to loopback under the development
/// flag) with a host, no user name or password, no fragment, and no IP
/// literal or well-known name of a refused kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    text: String,
    https: bool,
    host: UrlHost,
    port: u16,
    /// The path and query, as the request line sends them.
    target: String,
}

impl WebhookUrl {
    pub fn parse(field: &str, text: &str, policy: UrlPolicy) -> Result<Self, FieldError> {
        let refuse = |reason: &str| Err(FieldError::new(field, reason));
        if text.len() > MAX_URL_LENGTH {
            return refuse("must be at most 2000 characters");
        }
        let Ok(url) = url::Url::parse(text) else {
            return refuse("must be an absolute URL");
        };
        let https = match url.scheme() {
            "https" => true,
            "http" if policy.allow_loopback => false,
            _ => return refuse("must be an https URL"),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("must not carry a user name or password");
        }
        if url.fragment().is_some() {
            return refuse("must not have a fragment");
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if METADATA_HOSTS.contains(&name.as_str()) {
                    return refuse("must not name a cloud metadata address");
                }
                if name == "localhost" || name.ends_with(".localhost") {
                    UrlHost::Address(IpAddr::V4(Ipv4Addr::LOCALHOST))
                } else {
                    UrlHost::Name(name)
                }
            }
            Some(url::Host::Ipv4(ip)) => UrlHost::Address(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => UrlHost::Address(IpAddr::V6(ip)),
            None => return refuse("must have a host"),
        };
        if let UrlHost::Address(ip) = &host {
            if let Err(kind) = check_address(policy, *ip) {
                return Err(FieldError::new(
                    field,
                    format!("must not reach {}", kind.as_str()),
                ));
            }
        }
        if !https && matches!(host, UrlHost::Address(ip) if !is_loopback(ip)) {
            return refuse(HTTP_FOR_LOOPBACK_ONLY);
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let mut target = url.path().to_owned();
        if let Some(query) = url.query() {
            target.push('?');
            target.push_str(query);
        }
        Ok(WebhookUrl {
            text: url.as_str().to_owned(),
            https,
            host,
            port,
            target,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    pub fn host(&self) -> &UrlHost {
        &self.host
    }

    /// The host as the `Host` header and TLS's server name give it.
    pub fn host_text(&self) -> String {
        match &self.host {
            UrlHost::Name(name) => name.clone(),
            UrlHost::Address(IpAddr::V4(ip)) => ip.to_string(),
            UrlHost::Address(IpAddr::V6(ip)) => format!("[{ip}]"),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn target(&self) -> &str {
        &self.target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_loopback: false,
        loopback_only: false,
    };
    const LOCAL: UrlPolicy = UrlPolicy {
        allow_loopback: true,
        loopback_only: false,
    };

    #[test]
    fn public_https_urls_pass_and_keep_their_parts() {
        let url =
            WebhookUrl::parse("url", "https://hooks.example.com:8443/in?x=1", STRICT).unwrap();
        assert_eq!(url.host(), &UrlHost::Name("hooks.example.com".into()));
        assert_eq!((url.port(), url.target()), (8443, "/in?x=1"));
        assert!(WebhookUrl::parse("url", "https://93.184.216.34/", STRICT).is_ok());
        assert!(WebhookUrl::parse("url", "https://[2606:4700::1111]/", STRICT).is_ok());
    }

    #[test]
    fn every_refused_kind_is_refused_before_any_connection() {
        for (text, why) in [
            ("http://hooks.example.com/", "https"),
            ("ftp://hooks.example.com/", "https"),
            ("https://user:pw@hooks.example.com/", "user name"),
            ("https://hooks.example.com/#x", "fragment"),
            ("not a url", "absolute"),
            ("https://127.0.0.1/", "loopback"),
            ("https://localhost/", "loopback"),
            ("https://api.localhost/", "loopback"),
            ("https://2130706433/", "loopback"),
            ("https://0x7f.1/", "loopback"),
            ("https://[::1]/", "loopback"),
            ("https://10.1.2.3/", "private"),
            ("https://172.20.0.1/", "private"),
            ("https://192.168.1.1/", "private"),
            ("https://100.64.0.1/", "private"),
            ("https://[fd12::1]/", "private"),
            ("https://[::ffff:10.0.0.1]/", "private"),
            ("https://[64:ff9b::a00:1]/", "private"),
            ("https://[2002:c0a8:101::1]/", "private"),
            ("https://169.254.10.10/", "link-local"),
            ("https://[fe80::1]/", "link-local"),
            ("https://169.254.169.254/latest/meta-data/", "metadata"),
            ("https://[fd00:ec2::254]/", "metadata"),
            ("https://100.100.100.200/", "metadata"),
            ("https://metadata.google.internal/", "metadata"),
            ("https://0.0.0.0/", "reserved"),
            ("https://[::]/", "reserved"),
            ("https://224.0.0.1/", "reserved"),
            ("https://255.255.255.255/", "reserved"),
        ] {
            let err = WebhookUrl::parse("url", text, STRICT).unwrap_err();
            assert!(err.reason.contains(why), "{text}: {}", err.reason);
        }
    }

    #[test]
    fn the_development_flag_allows_loopback_only() {
        let url = WebhookUrl::parse("url", "http://127.0.0.1:9000/hook", LOCAL).unwrap();
        assert!(!url.is_https());
        assert_eq!(url.host_text(), "127.0.0.1");
        assert!(WebhookUrl::parse("url", "http://localhost:9000/", LOCAL).is_ok());
        assert!(WebhookUrl::parse("url", "https://[::1]/", LOCAL).is_ok());
        // http to a name passes here; its addresses decide
        // (`service::vet_host`).
        assert!(WebhookUrl::parse("url", "http://hooks.example.com/", LOCAL).is_ok());
        assert!(WebhookUrl::parse("url", "http://10.0.0.1/", LOCAL).is_err());
        for text in ["https://10.0.0.1/", "https://169.254.169.254/"] {
            assert!(WebhookUrl::parse("url", text, LOCAL).is_err(), "{text}");
        }
        assert_eq!(
            check_address(LOCAL, "::ffff:127.0.0.1".parse().unwrap()),
            Ok(())
        );
        assert_eq!(
            check_address(STRICT, "::ffff:127.0.0.1".parse().unwrap()),
            Err(AddressKind::Loopback)
        );
        let fuzz = UrlPolicy {
            loopback_only: true,
            ..LOCAL
        };
        assert_eq!(check_address(fuzz, "127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(
            check_address(fuzz, "93.184.216.34".parse().unwrap()),
            Err(AddressKind::Public)
        );
    }
}
