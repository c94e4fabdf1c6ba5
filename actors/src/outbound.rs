//! The outbound rule: where the server's own requests (Xelion, CRMs, OAuth endpoints) may go.
//!
//! Only `http`/`https` URLs, and by default never loopback, private, link-local or other
//! non-public addresses, so an admin who names `169.254.169.254` as a Xelion host cannot make
//! the server call it. The check runs on the addresses DNS returns, inside the HTTP client's
//! resolver, so a name that resolves to a private address is refused at connect time too.
//! An allowlist (`--outbound-allow`) opens CIDRs or host names a deployment needs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// An address block, e.g. `127.0.0.1/8` or `::1/128`.
    Net { addr: IpAddr, prefix: u8 },
    /// A host name, compared case-insensitively.
    Host(String),
}

/// Why an outgoing request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The URL could not be parsed.
    #[error("`{0}` is not a valid URL")]
    InvalidUrl(String),
    /// Not http or https.
    #[error("only http and https URLs are allowed, not `{0}`")]
    Scheme(String),
    /// The address is not public and not allowed.
    #[error("{0} is a non-public address and not in --outbound-allow")]
    Blocked(String),
    /// Only the allowlist may be reached (`--outbound-only-allowed`), and it does not name this.
    #[error("{0} is not in --outbound-allow, and --outbound-only-allowed refuses everything else")]
    NotListed(String),
}

/// The allowlist for outgoing requests.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    rules: Arc<Vec<Rule>>,
    /// Only what the allowlist names: public addresses are refused too, and a name that is
    /// not an allowed host name (nor `localhost`) is refused before any DNS lookup.
    only_allowed: bool,
}

impl OutboundPolicy {
    /// Parses allowlist entries: CIDRs (`10.0.0.0/8`), bare addresses or host names.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut rules = Vec::new();
        for raw in entries {
            let entry = raw.as_ref().trim();
            if entry.is_empty() {
                continue;
            }
            rules.push(parse_rule(entry)?);
        }
        Ok(OutboundPolicy {
            rules: Arc::new(rules),
            only_allowed: false,
        })
    }

    /// This policy, refusing everything its allowlist does not name (public addresses too;
    /// names other than the allowed host names and `localhost` are not even looked up), for a
    /// closed network or a test that must not leave the machine.
    pub fn only_allowed(mut self) -> Self {
        self.only_allowed = true;
        self
    }

    /// Whether a host name may be looked up in DNS at all.
    fn may_resolve(&self, host: &str) -> bool {
        if !self.only_allowed {
            return true;
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        name == "localhost" || name.ends_with(".localhost") || self.host_allowed(&name)
    }

    /// True when the allowlist opens nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.rules
            .iter()
            .any(|r| matches!(r, Rule::Host(h) if h.eq_ignore_ascii_case(host)))
    }

    /// May the server connect to `ip` (reached under the name `host`)?
    pub fn ip_allowed(&self, host: &str, ip: IpAddr) -> bool {
        (is_public(ip) && !self.only_allowed)
            || self.host_allowed(host)
            || self.rules.iter().any(|r| match r {
                Rule::Net { addr, prefix } => in_net(ip, *addr, *prefix),
                Rule::Host(_) => false,
            })
    }

    /// Checks a URL before a request: the scheme, and the address when the host is a literal
    /// IP (names are checked by the client's resolver after DNS).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, OutboundError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|_| OutboundError::InvalidUrl(url.to_string()))?;
        match parsed.scheme() {
            "http" | "https" => {}
            other => return Err(OutboundError::Scheme(other.to_string())),
        }
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip("", IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip("", IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
            None => return Err(OutboundError::InvalidUrl(url.to_string())),
        }
        Ok(parsed)
    }

    /// Checks a URL whose host is written out, when it is stored: [`Self::check_url`], and
    /// `localhost` (and `*.localhost`), which always name the loopback address, as `127.0.0.1`.
    /// Other names are checked after DNS, when a request is made.
    pub fn check_literal(&self, url: &str) -> Result<(), OutboundError> {
        let parsed = self.check_url(url)?;
        if let Some(url::Host::Domain(name)) = parsed.host() {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                if self.ip_allowed(&name, IpAddr::V4(Ipv4Addr::LOCALHOST)) {
                    return Ok(());
                }
                return Err(OutboundError::Blocked(name));
            }
        }
        Ok(())
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), OutboundError> {
        if self.ip_allowed(host, ip) {
            Ok(())
        } else if self.only_allowed && is_public(ip) {
            Err(OutboundError::NotListed(ip.to_string()))
        } else {
            Err(OutboundError::Blocked(ip.to_string()))
        }
    }

    /// The HTTP client of every outgoing request: follows no redirects and resolves names
    /// through this policy. Fails when the client cannot be built (the TLS backend did not
    /// start): there is deliberately no fallback, since a default client would have no guard.
    pub fn http_client(&self, timeout: Duration) -> Result<GuardedClient, ClientBuildError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .user_agent(concat!("xelion-cti/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                policy: self.clone(),
            }))
            .build()
            .map_err(|e| ClientBuildError(e.to_string()))?;
        Ok(GuardedClient {
            http,
            policy: self.clone(),
        })
    }
}

/// The outgoing HTTP client could not be built; the server does not start without it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the outgoing HTTP client could not be built: {0}")]
pub struct ClientBuildError(String);

/// An HTTP client bound to the outbound rule. [`OutboundPolicy::http_client`] is its only
/// constructor, and [`GuardedClient::request`] checks every URL before a request is built, so
/// no code path can reach an address the rule refuses.
#[derive(Clone)]
pub struct GuardedClient {
    http: reqwest::Client,
    policy: OutboundPolicy,
}

impl GuardedClient {
    /// A request to `url` once the scheme and any literal address pass the rule (names are
    /// checked again after DNS, by the resolver).
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, OutboundError> {
        let url = self.policy.check_url(url)?;
        Ok(self.http.request(method, url))
    }

    /// The rule this client obeys.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }
}

impl std::fmt::Debug for GuardedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedClient").finish_non_exhaustive()
    }
}

/// The outbound rule's refusal inside a transport error (the resolver refuses at connect
/// time), if that is what failed.
pub fn refusal_in(e: &reqwest::Error) -> Option<OutboundError> {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if let Some(blocked) = err.downcast_ref::<OutboundError>() {
            return Some(blocked.clone());
        }
        source = err.source();
    }
    None
}

/// An error and its causes, `: `-separated (for a transport error, without its URL first).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn parse_rule(entry: &str) -> Result<Rule, String> {
    if let Some((addr, prefix)) = entry.split_once('/') {
        let addr: IpAddr = addr.parse().map_err(|_| {
            format!("outbound allow entry `{entry}`: `{addr}` is not an IP address")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 =
            prefix.parse().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("outbound allow entry `{entry}`: prefix must be 0..={max}")
            })?;
        return Ok(Rule::Net { addr, prefix });
    }
    if let Ok(addr) = entry.parse::<IpAddr>() {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        return Ok(Rule::Net { addr, prefix });
    }
    let valid = entry
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !valid {
        return Err(format!(
            "outbound allow entry `{entry}` is neither a CIDR, an IP address nor a host name"
        ));
    }
    Ok(Rule::Host(entry.trim_end_matches('.').to_ascii_lowercase()))
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (canonical(ip), net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Is this an address on the public internet?
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        || o[0] >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x64 && s[1] == 0xff9b)) // NAT64 may reach private IPv4
}

/// A resolver that drops the addresses the policy refuses and fails when none is left.
struct GuardedResolver {
    policy: OutboundPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            if !policy.may_resolve(&host) {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(OutboundError::NotListed(host));
                return Err(err);
            }
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| policy.ip_allowed(&host, a.ip()))
                .collect();
            if addrs.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(OutboundError::Blocked(host));
                return Err(err);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_refused_by_default() {
        let p = OutboundPolicy::default();
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
        ] {
            assert!(
                matches!(p.check_url(url), Err(OutboundError::Blocked(_))),
                "{url}"
            );
        }
        assert!(p.check_url("https://93.184.216.34/x").is_ok());
        assert!(p.check_url("https://crm.example.org/x").is_ok());
    }

    #[test]
    fn only_http_schemes() {
        let p = OutboundPolicy::default();
        assert_eq!(
            p.check_url("file:///etc/passwd"),
            Err(OutboundError::Scheme("file".into()))
        );
        assert!(matches!(
            p.check_url("not a url"),
            Err(OutboundError::InvalidUrl(_))
        ));
    }

    #[test]
    fn allowlist_opens_cidrs_and_hosts() {
        let p = OutboundPolicy::parse(&["127.0.0.1/8", "crm.internal", "fd00::/8"]).unwrap();
        assert!(p.check_url("http://127.0.0.2:9000/").is_ok());
        assert!(p.check_url("http://[fd00::1]/").is_ok());
        assert!(p.check_url("http://10.0.0.1/").is_err());
        assert!(p.ip_allowed("crm.internal", "10.0.0.5".parse().unwrap()));
        assert!(!p.ip_allowed("other.internal", "10.0.0.5".parse().unwrap()));
    }

    #[test]
    fn only_allowed_refuses_public_addresses_and_unlisted_names() {
        let p = OutboundPolicy::parse(&["127.0.0.1/8", "crm.internal"])
            .unwrap()
            .only_allowed();
        assert!(p.check_url("http://127.0.0.2:9000/").is_ok());
        assert!(p.check_url("https://93.184.216.34/x").is_err());
        assert!(!p.ip_allowed("example.org", "93.184.216.34".parse().unwrap()));
        assert!(p.may_resolve("crm.internal"));
        assert!(p.may_resolve("localhost"));
        assert!(!p.may_resolve("example.org"));
        assert!(OutboundPolicy::default().may_resolve("example.org"));
    }

    #[test]
    fn bad_entries_are_reported() {
        assert!(OutboundPolicy::parse(&["10.0.0.0/33"]).is_err());
        assert!(OutboundPolicy::parse(&["nope/8"]).is_err());
        assert!(OutboundPolicy::parse(&["a b"]).is_err());
    }
}
