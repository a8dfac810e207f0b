//! The appliance: what turns a server into a box a family plugs in. So far: the local
//! certificate authority and automatic TLS (`tls`), and the first-start claim code and setup
//! wizard (`wizard`). mDNS and the system page arrive next.

pub mod acme;
pub mod export;
pub mod fsck;
pub mod mdns;
pub mod profile;
pub mod storage;
pub mod system;
pub mod tls;
pub mod update;
pub mod wizard;
