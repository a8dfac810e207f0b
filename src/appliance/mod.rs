//! The appliance: what turns a server into a box a family plugs in. So far: the local
//! certificate authority and automatic TLS (`tls`). The setup wizard, mDNS and the system
//! page arrive next.

pub mod tls;
