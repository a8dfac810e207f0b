//! mDNS / DNS-SD: `NAME.local` on every non-loopback interface and the services clients look
//! for (`_https._tcp`, `_webdavs._tcp`, `_caldavs._tcp`, `_carddavs._tcp` with `path=` TXT, or
//! the plain-HTTP variants before TLS), re-announced when addresses change and withdrawn on
//! shutdown.
//!
//! A second box already answering to `NAME.local` makes this one take a stable fallback name,
//! `NAME-<last 4 hex digits of its MAC>.local`, the same after every boot (never a `-2` that
//! depends on who booted first).

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mdns_sd::{DaemonEvent, HostnameResolutionEvent, ServiceDaemon, ServiceInfo};

#[cfg(feature = "zeroconf")]
pub mod avahi;

#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    #[error("mDNS: {0}")]
    Daemon(#[from] mdns_sd::Error),
    #[error("mDNS through Avahi: {0}")]
    Avahi(String),
}

/// What announces the box: our own responder, or Avahi (`zeroconf` feature).
pub trait Announcer: Send + Sync {
    /// Withdraws every record.
    fn stop(&self);
    /// The host name in use, e.g. `family.local`.
    fn current_name(&self) -> String;
}

impl Announcer for Mdns {
    fn stop(&self) {
        Mdns::stop(self);
    }
    fn current_name(&self) -> String {
        Mdns::current_name(self)
    }
}

#[cfg(feature = "zeroconf")]
impl Announcer for avahi::Avahi {
    fn stop(&self) {
        avahi::Avahi::stop(self);
    }
    fn current_name(&self) -> String {
        avahi::Avahi::current_name(self)
    }
}

/// Starts announcing: through Avahi when the `zeroconf` feature is built in and an Avahi
/// daemon runs (it owns port 5353 then), else with our own responder. Blocking.
pub fn start(box_name: &str, ports: Ports) -> Result<Arc<dyn Announcer>, MdnsError> {
    #[cfg(feature = "zeroconf")]
    if avahi::running() {
        return Ok(avahi::Avahi::start(box_name, ports)?);
    }
    Ok(Mdns::start(box_name, ports)?)
}

/// Ports to announce: HTTPS when it is on, plain HTTP otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub http: Option<u16>,
    pub https: Option<u16>,
}

pub struct Mdns {
    daemon: ServiceDaemon,
    registered: Mutex<Vec<String>>,
    /// The host name in use, e.g. `family.local` (shown to people).
    pub name: Arc<Mutex<String>>,
}

/// The last four hex digits of the first real network interface's MAC address.
pub fn mac_suffix() -> String {
    let mut ifaces: Vec<_> = std::fs::read_dir("/sys/class/net")
        .map(|d| d.filter_map(Result::ok).collect())
        .unwrap_or_default();
    ifaces.sort_by_key(std::fs::DirEntry::file_name);
    for i in ifaces {
        if i.file_name() == "lo" {
            continue;
        }
        if let Ok(mac) = std::fs::read_to_string(i.path().join("address")) {
            let hex: String = mac.trim().chars().filter(char::is_ascii_hexdigit).collect();
            if hex.len() == 12 && hex != "000000000000" {
                return hex[8..].to_lowercase();
            }
        }
    }
    "0000".into()
}

fn services(ports: Ports) -> Vec<(&'static str, u16)> {
    match (ports.https, ports.http) {
        (Some(p), _) => vec![
            ("_https._tcp.local.", p),
            ("_webdavs._tcp.local.", p),
            ("_caldavs._tcp.local.", p),
            ("_carddavs._tcp.local.", p),
        ],
        (None, Some(p)) => vec![
            ("_http._tcp.local.", p),
            ("_webdav._tcp.local.", p),
            ("_caldav._tcp.local.", p),
            ("_carddav._tcp.local.", p),
        ],
        (None, None) => vec![],
    }
}

/// The services' instance name, from the host name in use ("Hearth family", "Hearth
/// family-1a2b"): a box that had to rename itself must not keep another box's instance names.
fn instance_name(host: &str) -> String {
    format!(
        "Hearth {}",
        host.trim_end_matches('.').trim_end_matches(".local")
    )
}

/// Whether another host already answers to `host` (addresses that are not ours).
fn taken(daemon: &ServiceDaemon, host: &str) -> bool {
    let ours: HashSet<IpAddr> = super::tls::local_addresses().into_iter().collect();
    let Ok(rx) = daemon.resolve_hostname(host, Some(1500)) else {
        return false;
    };
    let deadline = std::time::Instant::now() + Duration::from_millis(2000);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(HostnameResolutionEvent::AddressesFound(_, addrs))
                if addrs.iter().any(|a| !ours.contains(a)) =>
            {
                let _ = daemon.stop_resolve_hostname(host);
                return true;
            }
            Ok(
                HostnameResolutionEvent::SearchTimeout(_)
                | HostnameResolutionEvent::SearchStopped(_),
            )
            | Err(_) => break,
            Ok(_) => {}
        }
    }
    false
}

impl Mdns {
    /// Starts announcing (blocking for the ~2 s conflict check; run it off the runtime).
    pub fn start(box_name: &str, ports: Ports) -> Result<Arc<Mdns>, MdnsError> {
        let daemon = ServiceDaemon::new()?;
        // Loopback is no network: announce on the real interfaces only.
        let _ = daemon.disable_interface(mdns_sd::IfKind::LoopbackV4);
        let _ = daemon.disable_interface(mdns_sd::IfKind::LoopbackV6);
        let mut host = format!("{box_name}.local.");
        if taken(&daemon, &host) {
            let fallback = format!("{box_name}-{}.local.", mac_suffix());
            tracing::warn!(
                "{}.local is already taken on this network; this box answers as {}",
                box_name,
                fallback.trim_end_matches('.')
            );
            host = fallback;
        }
        let me = Arc::new(Mdns {
            daemon,
            registered: Mutex::new(Vec::new()),
            name: Arc::new(Mutex::new(host.trim_end_matches('.').to_owned())),
        });
        me.register(&host, ports)?;
        tracing::info!(name = %host.trim_end_matches('.'), "announced on the local network (mDNS)");
        me.watch(box_name.to_owned(), ports);
        Ok(me)
    }

    fn register(&self, host: &str, ports: Ports) -> Result<(), MdnsError> {
        let mut done = Vec::new();
        for (ty, port) in services(ports) {
            let info = ServiceInfo::new(
                ty,
                &instance_name(host),
                host,
                "",
                port,
                [("path", "/remote.php/dav/")].as_slice(),
            )?
            .enable_addr_auto();
            done.push(info.get_fullname().to_owned());
            self.daemon.register(info)?;
        }
        if let Ok(mut r) = self.registered.lock() {
            *r = done;
        }
        Ok(())
    }

    /// A conflict found after start (the daemon's own `-2` rename) is replaced by the stable
    /// fallback name; address changes are re-announced by the daemon itself.
    fn watch(self: &Arc<Self>, box_name: String, ports: Ports) {
        let Ok(events) = self.daemon.monitor() else {
            return;
        };
        let me = Arc::downgrade(self);
        std::thread::spawn(move || {
            while let Ok(ev) = events.recv() {
                let Some(me) = me.upgrade() else { break };
                if let DaemonEvent::NameChange(change) = ev {
                    let fallback = format!("{box_name}-{}.local.", mac_suffix());
                    if change.new_name != fallback
                        && change.original.ends_with(".local.")
                        && !change.original.contains("._")
                    {
                        tracing::warn!(taken = %change.original, "name conflict on the network; switching to {}", fallback.trim_end_matches('.'));
                        me.unregister_all();
                        if let Ok(mut n) = me.name.lock() {
                            *n = fallback.trim_end_matches('.').to_owned();
                        }
                        let _ = me.register(&fallback, ports);
                    }
                }
            }
        });
    }

    fn unregister_all(&self) {
        let names = self
            .registered
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        for n in names {
            if let Ok(rx) = self.daemon.unregister(&n) {
                let _ = rx.recv_timeout(Duration::from_secs(1));
            }
        }
    }

    /// Withdraws every record (goodbye packets) and stops the daemon.
    pub fn stop(&self) {
        self.unregister_all();
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
    }

    pub fn current_name(&self) -> String {
        self.name.lock().map(|n| n.clone()).unwrap_or_default()
    }
}
