//! Who may open the WebSocket, and who is really on the other end.
//!
//! A page of another site must not be able to chat as a visitor who happens to
//! have it open: browsers send the page's `Origin` with every WebSocket
//! request, and only the listed origins (by default, the listener's own: an
//! origin whose host is the `Host` the browser asked for) get in. A client
//! that sends no `Origin` is not a browser, and could claim any origin anyway;
//! it is let in like a line-protocol client.
//!
//! Behind a reverse proxy every connection comes from the proxy. Its
//! `X-Forwarded-For` names the client, but anyone can send that header, so it
//! is believed only from the configured `trusted_proxies`, and only as far as
//! the hops they added: the client is the last address in the header that is
//! not itself a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap};

use crate::config::WebSettings;

/// Whether the request's origin may open the WebSocket; `Err` says why not.
pub(super) fn check_origin(headers: &HeaderMap, web: &WebSettings) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| "unreadable Origin".to_owned())?
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let allowed = if web.origins.is_empty() {
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .map(str::to_ascii_lowercase);
        let origin_host = origin.split_once("://").map(|(_, host)| host);
        host.is_some() && origin_host == host.as_deref()
    } else {
        web.origins.contains(&origin)
    };
    match allowed {
        true => Ok(()),
        false => Err(format!("origin {origin} is not allowed")),
    }
}

/// The client's address: the peer's, or, from a trusted proxy, the last
/// address of `X-Forwarded-For` that is not a trusted proxy.
pub(super) fn client_address(
    peer: SocketAddr,
    headers: &HeaderMap,
    web: &WebSettings,
) -> SocketAddr {
    // A dual-stack listener sees an IPv4 proxy as ::ffff:a.b.c.d.
    let trusted = |ip: IpAddr| web.trusted_proxies.contains(&ip.to_canonical());
    if !trusted(peer.ip()) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    // From the nearest hop back: each trusted proxy vouches for the one
    // before it; the first that is not trusted is the client. A hop that is
    // not an address ends the trail: what lies before it is anyone's word.
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted(ip) => continue,
            // The proxy's port means nothing for the client: keep it, so
            // logs still tell two connections of one client apart.
            Ok(ip) => return SocketAddr::new(ip.to_canonical(), peer.port()),
            Err(_) => break,
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn web(origins: &[&str], proxies: &[&str]) -> WebSettings {
        WebSettings {
            origins: origins.iter().map(|o| o.to_string()).collect(),
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn by_default_only_the_listeners_own_origin_gets_in() {
        let own = web(&[], &[]);
        let same = headers(&[
            ("host", "chat.example:8443"),
            ("origin", "https://chat.example:8443"),
        ]);
        assert!(check_origin(&same, &own).is_ok());
        let other = headers(&[
            ("host", "chat.example:8443"),
            ("origin", "https://evil.example"),
        ]);
        assert!(check_origin(&other, &own).is_err());
        // No Host to compare with: refused.
        assert!(check_origin(&headers(&[("origin", "https://chat.example")]), &own).is_err());
        // Not a browser: no origin to check.
        assert!(check_origin(&headers(&[("host", "chat.example")]), &own).is_ok());
    }

    #[test]
    fn a_listed_origin_gets_in_and_the_rest_do_not() {
        let listed = web(&["https://chat.example.org"], &[]);
        let ok = headers(&[
            ("host", "10.0.0.5:8443"),
            ("origin", "https://Chat.Example.org/"),
        ]);
        assert!(check_origin(&ok, &listed).is_ok());
        let own = headers(&[
            ("host", "10.0.0.5:8443"),
            ("origin", "https://10.0.0.5:8443"),
        ]);
        assert!(
            check_origin(&own, &listed).is_err(),
            "the list replaces the default"
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let trusting = web(&[], &["127.0.0.1", "10.0.0.2"]);
        let forwarded = headers(&[("x-forwarded-for", "198.51.100.7, 10.0.0.2")]);
        assert_eq!(
            client_address(proxy, &forwarded, &trusting).ip(),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // Anyone else's header is ignored.
        assert_eq!(client_address(stranger, &forwarded, &trusting), stranger);
        // A client cannot hide behind a forged first hop.
        let forged = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        assert_eq!(
            client_address(proxy, &forged, &trusting).ip(),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // Nothing to go on: the proxy itself.
        assert_eq!(client_address(proxy, &HeaderMap::new(), &trusting), proxy);
        // A hop the proxy could not name ends the trail: a forged entry
        // before it is not believed.
        let unnamed = headers(&[("x-forwarded-for", "203.0.113.5, unknown")]);
        assert_eq!(client_address(proxy, &unnamed, &trusting), proxy);
        // A dual-stack listener sees the IPv4 proxy as a mapped address.
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        assert_eq!(
            client_address(mapped, &forwarded, &trusting).ip(),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }
}
