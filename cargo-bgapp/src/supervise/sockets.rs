//! The listening sockets of socket tasks, bound by the supervisor as a
//! `.socket` unit's `ListenStream=` is bound by systemd: `"8080"` on every
//! address (IPv6 and IPv4), an `IP:PORT`, a Unix socket file (a stale one
//! is replaced) or an abstract `@name`. The task is started on the first
//! connection with the socket as fd 3 (`Accept=no`): it accepts the
//! connections itself, and the supervisor watches the socket again only
//! after the task has ended.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::UnixListener;

use anyhow::Context as _;
use bgapp_manifest::ListenAddress;

pub fn bind(listen: &str) -> anyhow::Result<OwnedFd> {
    let address = ListenAddress::parse(listen)
        .map_err(|e| anyhow::anyhow!("invalid listen address `{listen}`: {e}"))?;
    let fd = match &address {
        ListenAddress::Port(_) | ListenAddress::Inet(_) => {
            let addr = address.bind_addr().expect("an IP address");
            OwnedFd::from(bind_tcp(addr).with_context(|| bind_error(listen))?)
        }
        ListenAddress::Unix(path) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("failed to create `{}`", parent.display()))?;
            }
            // A socket file left by an earlier run would refuse the bind.
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(path);
            }
            OwnedFd::from(UnixListener::bind(path).with_context(|| bind_error(listen))?)
        }
        ListenAddress::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt as _;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            OwnedFd::from(UnixListener::bind_addr(&addr).with_context(|| bind_error(listen))?)
        }
    };
    Ok(fd)
}

fn bind_error(listen: &str) -> String {
    format!("failed to listen on `{listen}`")
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    match TcpListener::bind(addr) {
        Ok(l) => Ok(l),
        // `[::]` is not available on hosts without IPv6; fall back to IPv4.
        Err(e) if addr.is_ipv6() && addr.ip().is_unspecified() => {
            TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], addr.port()))).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}
