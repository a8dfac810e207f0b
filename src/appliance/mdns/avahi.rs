//! The `zeroconf` cargo feature: on a general-purpose Linux host whose Avahi daemon already
//! owns port 5353, Hearth announces through Avahi (its D-Bus API, with zbus: pure Rust, no
//! libavahi) instead of running a second responder on the same port. Same records as our own
//! responder: `NAME.local` for the host's addresses and the four DAV services with `path=`;
//! a name taken by another host gives the same stable fallback (`NAME-XXXX.local`). Address
//! changes are followed by re-publishing; the entry group is freed on stop (goodbye packets).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{MdnsError, Ports, mac_suffix, services};

const DEST: &str = "org.freedesktop.Avahi";
const SERVER: &str = "org.freedesktop.Avahi.Server";
const GROUP: &str = "org.freedesktop.Avahi.EntryGroup";
/// AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC.
const IF_ANY: i32 = -1;
const PROTO_ANY: i32 = -1;
/// AVAHI_PUBLISH_NO_REVERSE: the host's own name already owns the reverse (PTR) records of
/// its addresses; publishing ours too is a "local name collision".
const NO_REVERSE: u32 = 16;
/// Entry group states.
const ESTABLISHED: i32 = 2;
const COLLISION: i32 = 3;
const FAILURE: i32 = 4;

fn err(e: impl std::fmt::Display) -> MdnsError {
    MdnsError::Avahi(e.to_string())
}

/// Whether an Avahi daemon answers on the system bus. Blocking: call it off the runtime
/// (from `spawn_blocking`).
pub fn running() -> bool {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    rt.block_on(async {
        let Ok(conn) = zbus::Connection::system().await else {
            return false;
        };
        conn.call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "NameHasOwner",
            &(DEST,),
        )
        .await
        .ok()
        .and_then(|m| m.body().deserialize::<bool>().ok())
        .unwrap_or(false)
    })
}

pub struct Avahi {
    rt: tokio::runtime::Handle,
    conn: zbus::Connection,
    group: Mutex<Option<zbus::OwnedObjectPath>>,
    pub name: Arc<Mutex<String>>,
    stopped: std::sync::atomic::AtomicBool,
    /// Publishing and stopping one at a time (the watcher publishes again from its thread).
    busy: Mutex<()>,
}

/// The host's addresses Avahi can publish for a name (no loopback; IPv6 link-local addresses
/// need an interface, which `tls::local_addresses` does not give: left out).
fn addresses() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = crate::appliance::tls::local_addresses()
        .into_iter()
        .filter(|ip| match ip {
            IpAddr::V4(a) => !a.is_loopback(),
            IpAddr::V6(a) => !a.is_loopback() && (a.segments()[0] & 0xffc0) != 0xfe80,
        })
        .collect();
    v.sort();
    v
}

impl Avahi {
    /// Publishes `box_name.local` and the services; blocking (run it off the runtime).
    pub fn start(box_name: &str, ports: Ports) -> Result<Arc<Avahi>, MdnsError> {
        let rt = tokio::runtime::Handle::try_current().map_err(err)?;
        let conn = rt.block_on(zbus::Connection::system()).map_err(err)?;
        let me = Arc::new(Avahi {
            rt,
            conn,
            group: Mutex::new(None),
            name: Arc::new(Mutex::new(String::new())),
            stopped: std::sync::atomic::AtomicBool::new(false),
            busy: Mutex::new(()),
        });
        let mut host = format!("{box_name}.local");
        let mut published = addresses();
        if !me.publish(&host, ports, &published)? {
            let fallback = format!("{box_name}-{}.local", mac_suffix());
            tracing::warn!(
                "{host} is already taken on this network; this box answers as {fallback}"
            );
            host = fallback;
            if !me.publish(&host, ports, &published)? {
                return Err(err(format!("{host} is taken too")));
            }
        }
        if let Ok(mut n) = me.name.lock() {
            n.clone_from(&host);
        }
        tracing::info!(name = %host, "announced on the local network through Avahi");
        // Follow address changes (a new DHCP lease) and collisions found later (another box
        // taking the name): publish again, under the stable fallback name if need be.
        let weak = Arc::downgrade(&me);
        let fallback = format!("{box_name}-{}.local", mac_suffix());
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(10));
                let Some(me) = weak.upgrade() else { break };
                let _one = me.busy.lock();
                if me.stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let now = addresses();
                let collided = me.group_state() == Some(COLLISION);
                if now == published && !collided {
                    continue;
                }
                let mut host = me.current_name();
                let mut outcome = me.publish(&host, ports, &now);
                if matches!(outcome, Ok(false)) && host != fallback {
                    tracing::warn!(
                        "{host} is now taken on this network; this box answers as {fallback}"
                    );
                    host.clone_from(&fallback);
                    if let Ok(mut n) = me.name.lock() {
                        n.clone_from(&host);
                    }
                    outcome = me.publish(&host, ports, &now);
                }
                match outcome {
                    Ok(true) => {
                        tracing::info!(name = %host, addresses = ?now, "published again through Avahi")
                    }
                    Ok(false) => tracing::warn!(name = %host, "{host} is taken too; not announced"),
                    Err(e) => tracing::warn!(error = %e, "publishing through Avahi failed"),
                }
                published = now;
            }
        });
        Ok(me)
    }

    fn call<B>(
        &self,
        path: &str,
        iface: &str,
        method: &str,
        body: &B,
    ) -> Result<zbus::Message, MdnsError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.rt
            .block_on(
                self.conn
                    .call_method(Some(DEST), path, Some(iface), method, body),
            )
            .map_err(err)
    }

    /// (Re)publishes everything in a fresh entry group; `false` on a name collision.
    fn publish(&self, host: &str, ports: Ports, addrs: &[IpAddr]) -> Result<bool, MdnsError> {
        self.free_group();
        let reply = self.call("/", SERVER, "EntryGroupNew", &())?;
        let path: zbus::OwnedObjectPath = reply.body().deserialize().map_err(err)?;
        let p = path.as_str();
        for ip in addrs {
            self.call(
                p,
                GROUP,
                "AddAddress",
                &(IF_ANY, PROTO_ANY, NO_REVERSE, host, ip.to_string()),
            )?;
        }
        let instance = super::instance_name(host);
        let txt: Vec<Vec<u8>> = vec![b"path=/remote.php/dav/".to_vec()];
        for (ty, port) in services(ports) {
            // "_https._tcp.local." → type "_https._tcp", domain "local".
            let ty = ty.trim_end_matches('.').trim_end_matches(".local");
            self.call(
                p,
                GROUP,
                "AddService",
                &(
                    IF_ANY,
                    PROTO_ANY,
                    0u32,
                    instance.as_str(),
                    ty,
                    "local",
                    host,
                    port,
                    txt.clone(),
                ),
            )?;
        }
        self.call(p, GROUP, "Commit", &())?;
        if let Ok(mut g) = self.group.lock() {
            *g = Some(path.clone());
        }
        // Avahi probes for ~1 s before it calls the records established.
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let state: i32 = self
                .call(p, GROUP, "GetState", &())?
                .body()
                .deserialize()
                .map_err(err)?;
            match state {
                ESTABLISHED => return Ok(true),
                COLLISION => {
                    self.free_group();
                    return Ok(false);
                }
                FAILURE => return Err(err("Avahi could not publish the records")),
                _ => {}
            }
        }
        Err(err("Avahi did not establish the records within 5 s"))
    }

    /// The current entry group's state, if there is one.
    fn group_state(&self) -> Option<i32> {
        let path = self.group.lock().ok()?.clone()?;
        self.call(path.as_str(), GROUP, "GetState", &())
            .ok()?
            .body()
            .deserialize()
            .ok()
    }

    fn free_group(&self) {
        let old = self.group.lock().ok().and_then(|mut g| g.take());
        if let Some(path) = old {
            let _ = self.call(path.as_str(), GROUP, "Free", &());
        }
    }

    /// Withdraws every record.
    pub fn stop(&self) {
        let _one = self.busy.lock();
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.free_group();
    }

    pub fn current_name(&self) -> String {
        self.name.lock().map(|n| n.clone()).unwrap_or_default()
    }
}
