//! The client's address: the TCP peer, or, when the peer is one of the configured trusted
//! proxies, the rightmost `X-Forwarded-For` hop that is not itself a trusted proxy.
//!
//! Everything left of that hop was written by whoever sent the request and can be forged; each
//! trusted proxy appends the address it saw, so walking from the right past trusted proxies
//! lands on the first address no one we trust can vouch beyond.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The proxies (ingress controllers, load balancers) whose `X-Forwarded-For` is believed.
/// Empty: the header is ignored and the peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR range (e.g. 10.42.0.0/16, 192.0.2.7)")]
pub struct BadProxy(String);

impl TrustedProxies {
    /// Parse addresses and CIDR ranges; a bare address trusts exactly that address. Empty
    /// entries are skipped: the chart renders an empty list as `STOREFLEET_TRUSTED_PROXIES=""`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadProxy> {
        entries
            .iter()
            .filter(|entry| !entry.as_ref().trim().is_empty())
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(entry.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        // Several headers count as one list, in order (RFC 7230 §3.2.2).
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                // A trusted proxy wrote this entry; keep walking left.
                Ok(ip) if self.trusts(ip) => client = ip,
                Ok(ip) => return ip.to_canonical(),
                // Garbage where an address should be: the last trusted hop is all we know.
                Err(_) => return client,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_rightmost_hop_no_trusted_proxy_wrote() {
        let trusted = TrustedProxies::parse(&["10.42.0.0/16", "192.0.2.7"]).unwrap();
        let proxy = ip("10.42.3.4");
        for (header, peer, expected) in [
            // The forged leftmost entry is ignored; the ingress appended the real client.
            (vec!["6.6.6.6, 203.0.113.9"], proxy, "203.0.113.9"),
            // Two trusted proxies in a row are walked past.
            (
                vec!["6.6.6.6, 203.0.113.9, 192.0.2.7"],
                proxy,
                "203.0.113.9",
            ),
            // Split over two headers: one list.
            (vec!["6.6.6.6", "203.0.113.9"], proxy, "203.0.113.9"),
            // No header: the proxy itself is all we know.
            (vec![], proxy, "10.42.3.4"),
            // Garbage right of the client: stop at the last trusted hop.
            (vec!["203.0.113.9, not-an-ip"], proxy, "10.42.3.4"),
            // A peer that is not a trusted proxy cannot speak for anyone else.
            (vec!["6.6.6.6"], ip("198.51.100.1"), "198.51.100.1"),
            // Only trusted hops: the leftmost of them.
            (vec!["10.42.0.9"], proxy, "10.42.0.9"),
        ] {
            assert_eq!(
                trusted.client(peer, &headers(&header)),
                ip(expected),
                "{header:?} from {peer}"
            );
        }
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("127.0.0.1"), &headers(&["6.6.6.6"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn bad_entries_are_refused_with_what_is_allowed() {
        let e = TrustedProxies::parse(&["10.0.0.0/8", "everyone"]).unwrap_err();
        assert!(e.to_string().contains("\"everyone\""), "{e}");
        assert!(e.to_string().contains("CIDR"), "{e}");
        assert!(TrustedProxies::parse(&["::1", "fd00::/8"]).is_ok());
        // What the chart renders for an empty list, and a trailing comma.
        assert!(TrustedProxies::parse(&[""]).is_ok_and(|t| t.is_empty()));
        assert!(TrustedProxies::parse(&["10.0.0.1", " "]).is_ok_and(|t| !t.is_empty()));
    }
}
