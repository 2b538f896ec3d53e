//! Socket addresses as `socket(listen = "...")` takes them: the forms of
//! systemd's `ListenStream=`, so the attribute's text goes into the unit
//! unchanged and the runtime binds the same address when not activated.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// A stream socket address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `"8080"`: the port on every address, IPv6 and IPv4.
    Port(u16),
    /// `"127.0.0.1:8080"`, `"[::1]:8080"`.
    Inet(SocketAddr),
    /// `"/run/app.sock"`: a Unix socket file.
    Unix(PathBuf),
    /// `"@app"`: a Linux abstract Unix socket.
    Abstract(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    #[error(
        "it is empty; write a port like `8080`, an address like `127.0.0.1:8080`, or a socket path"
    )]
    Empty,
    #[error("port `{0}` is out of range 1..65535")]
    Port(String),
    #[error("`{0}` is not a port, `IP:PORT`, `[IPv6]:PORT`, an absolute path or `@name`")]
    Malformed(String),
}

impl ListenAddress {
    pub fn parse(text: &str) -> Result<ListenAddress, ListenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(ListenError::Empty);
        }
        if t.starts_with('/') {
            return Ok(ListenAddress::Unix(PathBuf::from(t)));
        }
        if let Some(name) = t.strip_prefix('@') {
            if name.is_empty() {
                return Err(ListenError::Malformed(t.to_string()));
            }
            return Ok(ListenAddress::Abstract(name.to_string()));
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            return match t.parse::<u16>() {
                Ok(p) if p > 0 => Ok(ListenAddress::Port(p)),
                _ => Err(ListenError::Port(t.to_string())),
            };
        }
        match t.parse::<SocketAddr>() {
            Ok(addr) if addr.port() == 0 => Err(ListenError::Port("0".to_string())),
            Ok(addr) => Ok(ListenAddress::Inet(addr)),
            Err(_) => {
                // Tell a bad port apart from a bad address.
                if let Some((_, port)) = t.rsplit_once(':') {
                    if !port.is_empty()
                        && port.bytes().all(|b| b.is_ascii_digit())
                        && port.parse::<u16>().is_err()
                    {
                        return Err(ListenError::Port(port.to_string()));
                    }
                }
                Err(ListenError::Malformed(t.to_string()))
            }
        }
    }

    /// The TCP port, for addresses that have one.
    pub fn port(&self) -> Option<u16> {
        match self {
            ListenAddress::Port(p) => Some(*p),
            ListenAddress::Inet(a) => Some(a.port()),
            _ => None,
        }
    }

    /// Whether binding it needs `CAP_NET_BIND_SERVICE`.
    pub fn is_privileged_port(&self) -> bool {
        self.port().is_some_and(|p| p < 1024)
    }

    /// Whether it is an IP (as opposed to a Unix) socket.
    pub fn is_inet(&self) -> bool {
        matches!(self, ListenAddress::Port(_) | ListenAddress::Inet(_))
    }

    /// The address a process binds itself when it was not socket-activated.
    pub fn bind_addr(&self) -> Option<SocketAddr> {
        match self {
            ListenAddress::Port(p) => Some(SocketAddr::from((Ipv6Addr::UNSPECIFIED, *p))),
            ListenAddress::Inet(a) => Some(*a),
            _ => None,
        }
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Port(p) => write!(f, "{p}"),
            ListenAddress::Inet(a) => write!(f, "{a}"),
            ListenAddress::Unix(p) => write!(f, "{}", p.display()),
            ListenAddress::Abstract(n) => write!(f, "@{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_stream_forms() {
        assert_eq!(ListenAddress::parse("8080"), Ok(ListenAddress::Port(8080)));
        assert_eq!(
            ListenAddress::parse("127.0.0.1:80").unwrap().to_string(),
            "127.0.0.1:80"
        );
        assert!(ListenAddress::parse("[::1]:8080").unwrap().is_inet());
        assert_eq!(
            ListenAddress::parse("/run/x.sock"),
            Ok(ListenAddress::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            ListenAddress::parse("@x"),
            Ok(ListenAddress::Abstract("x".into()))
        );
        assert!(ListenAddress::parse("80").unwrap().is_privileged_port());
    }

    #[test]
    fn rejects_bad_addresses() {
        assert_eq!(ListenAddress::parse(""), Err(ListenError::Empty));
        assert_eq!(
            ListenAddress::parse("0"),
            Err(ListenError::Port("0".into()))
        );
        assert_eq!(
            ListenAddress::parse("70000"),
            Err(ListenError::Port("70000".into()))
        );
        assert_eq!(
            ListenAddress::parse("localhost:99999"),
            Err(ListenError::Port("99999".into()))
        );
        assert!(matches!(
            ListenAddress::parse("run/x.sock"),
            Err(ListenError::Malformed(_))
        ));
    }
}
