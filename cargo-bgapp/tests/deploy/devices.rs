//! Devices for the deploy tests: each a real systemd booted in a private
//! PID and mount namespace over an overlay of this machine's root (the
//! end-to-end suite's `System`), running Debian's OpenSSH server on its own
//! loopback port (`ListenAddress 127.0.0.1:PORT`, nothing else), with host
//! keys of its own, the test key authorised for `root`, for `deployer`
//! (passwordless sudo) and for `nosudo` (no sudo at all).
//!
//! A device boots over this machine's root, or over a lean device image
//! ([`lean_image`]: Debian's minbase with systemd, OpenSSH's server and
//! sudo, no D-Bus), as a device's own image is built.
//!
//! The test's ssh config names each device (`Host dev1`: its port, user,
//! key, and a known_hosts file of the test's own); the user's own files
//! are never read (`-F`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::system::{Disk, System};

/// The keys and the ssh config of one test.
pub struct Keys {
    /// The test's client key (`id`, `id.pub`).
    pub key: PathBuf,
    pub config: PathBuf,
    known_hosts: PathBuf,
    /// Lines of the ssh config, written by [`Keys::write_config`].
    hosts: String,
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "bgapp-deploy-test",
            "-f",
        ])
        .arg(path)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn public(path: &Path) -> String {
    std::fs::read_to_string(path.with_extension("pub"))
        .expect("read a public key")
        .trim()
        .to_string()
}

/// A free loopback port (closed again at once: a closed port too).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("its address").port()
}

impl Keys {
    pub fn new(dir: &Path) -> Keys {
        if dir.exists() {
            std::fs::remove_dir_all(dir).expect("remove old keys");
        }
        std::fs::create_dir_all(dir).expect("create the key folder");
        let key = dir.join("id");
        keygen(&key);
        Keys {
            key,
            config: dir.join("ssh_config"),
            known_hosts: dir.join("known_hosts"),
            hosts: String::new(),
        }
    }

    /// Adds `Host alias` for a device; `known_key` is the host key its
    /// known_hosts entry holds (another one: a changed key).
    pub fn add_host(&mut self, alias: &str, port: u16, user: &str, known_key: &str) {
        let _ = write!(
            self.hosts,
            "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  HostKeyAlias {alias}\n\n"
        );
        let mut known = std::fs::read_to_string(&self.known_hosts).unwrap_or_default();
        let _ = writeln!(known, "{alias} {known_key}");
        std::fs::write(&self.known_hosts, known).expect("write known_hosts");
    }

    pub fn write_config(&self) {
        let text = format!(
            "{}Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n",
            self.hosts,
            self.key.display(),
            self.known_hosts.display()
        );
        std::fs::write(&self.config, text).expect("write the ssh config");
    }
}

/// A booted device and how to reach it.
pub struct Device {
    pub sys: System,
    pub port: u16,
    /// Its host key, as known_hosts writes it (`ssh-ed25519 AAAA...`).
    pub host_key: String,
}

/// The packages of a lean device image besides minbase's.
const LEAN_PACKAGES: &str = "systemd,systemd-sysv,openssh-server,sudo";

/// A lean device's root filesystem in `dir`: `mmdebstrap
/// --variant=minbase` of the Debian release this machine runs, with
/// [`LEAN_PACKAGES`]; no D-Bus, no polkit, a package database of a few
/// thousand files. Built once (about half a minute, from this machine's
/// apt sources) and reused while `dir` holds it; built beside it and
/// renamed, so that a run killed half-way leaves no half an image.
pub fn lean_image(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    if root.join("usr/sbin/sshd").is_file() {
        return root;
    }
    let release = std::fs::read_to_string("/etc/os-release")
        .expect("read /etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME=").map(str::to_string))
        .expect("this machine's Debian release (VERSION_CODENAME in /etc/os-release)");
    let building = dir.join("rootfs.building");
    if building.exists() {
        std::fs::remove_dir_all(&building).expect("remove a half-built image");
    }
    std::fs::create_dir_all(dir).expect("create the image folder");
    let out = Command::new("mmdebstrap")
        .args(["--quiet", "--variant=minbase", "--mode=root"])
        .arg(format!("--include={LEAN_PACKAGES}"))
        .arg(&release)
        .arg(&building)
        .output()
        .expect("run mmdebstrap");
    assert!(
        out.status.success(),
        "mmdebstrap of a lean {release} image failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&building, &root).expect("keep the image");
    root
}

/// What a device boots from.
#[derive(Clone, Copy)]
pub enum Image<'a> {
    /// An overlay of this machine's root.
    Host,
    /// An overlay of this root filesystem ([`lean_image`]).
    Root(&'a Path),
}

/// Boots a device on a fresh disk in `dir`, with sshd on `port`.
pub fn boot(dir: &Path, name: &str, keys: &Keys, image: Image) -> Device {
    let disk = match image {
        Image::Host => Disk::new(dir, name),
        Image::Root(root) => Disk::over(dir, name, root),
    };
    let port = free_port();
    let etc = disk.upper("/etc/ssh/bgapp-test");
    std::fs::create_dir_all(etc.join("authorized")).expect("create the sshd folder");
    let host_key = etc.join("host_ed25519");
    keygen(&host_key);
    let client = public(&keys.key);
    for user in ["root", "deployer", "nosudo"] {
        std::fs::write(etc.join("authorized").join(user), format!("{client}\n"))
            .expect("authorise the test key");
    }
    std::fs::write(
        etc.join("sshd_config"),
        format!(
            "ListenAddress 127.0.0.1:{port}\nHostKey /etc/ssh/bgapp-test/host_ed25519\n\
             AuthorizedKeysFile /etc/ssh/bgapp-test/authorized/%u\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n\
             PidFile /run/bgapp-test-sshd.pid\nMaxStartups 100\nMaxSessions 100\nSubsystem sftp /usr/lib/openssh/sftp-server\n"
        ),
    )
    .expect("write sshd_config");
    let units = disk.upper("/etc/systemd/system");
    std::fs::create_dir_all(units.join("multi-user.target.wants")).expect("create the wants");
    std::fs::write(
        units.join("bgapp-test-sshd.service"),
        "[Unit]\nDescription=sshd of the deploy test\n\n[Service]\n\
         ExecStart=/usr/sbin/sshd -D -e -f /etc/ssh/bgapp-test/sshd_config\n\
         RuntimeDirectory=sshd\nRuntimeDirectoryMode=0755\n\n[Install]\nWantedBy=multi-user.target\n",
    )
    .expect("write the sshd unit");
    std::os::unix::fs::symlink(
        "../bgapp-test-sshd.service",
        units.join("multi-user.target.wants/bgapp-test-sshd.service"),
    )
    .expect("enable the sshd unit");
    let host_key = public(&host_key)
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");

    let mut sys = disk.boot();
    sys.watch("bgapp-test-sshd.service");
    sys.run(
        "set -e
         useradd -m -s /bin/sh deployer && usermod -p '*' deployer
         useradd -m -s /bin/sh nosudo && usermod -p '*' nosudo
         echo 'deployer ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/bgapp-test
         chmod 0440 /etc/sudoers.d/bgapp-test",
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sshd of {name} does not listen on 127.0.0.1:{port}:\n{}",
            sys.journal("bgapp-test-sshd.service")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Device {
        sys,
        port,
        host_key,
    }
}
