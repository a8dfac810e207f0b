//! Login Flow v2 state: a client starts a flow, the user logs in and grants in a browser, the
//! client polls once for its app password. Pending flows live in memory only (they expire
//! after 20 minutes, as Nextcloud's do), so no plaintext app password ever touches the disk.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::random_token;

const FLOW_TTL: Duration = Duration::from_secs(20 * 60);
const MAX_PENDING: usize = 256;

#[derive(Default)]
pub struct LoginFlows {
    flows: Mutex<HashMap<String, Flow>>,
}

struct Flow {
    login_token: String,
    client_name: String,
    created: Instant,
    granted: Option<Granted>,
}

pub struct Granted {
    pub login_name: String,
    pub app_password: String,
}

pub struct Started {
    pub poll_token: String,
    pub login_token: String,
}

impl LoginFlows {
    pub fn start(&self, client_name: &str) -> Option<Started> {
        let mut map = self.flows.lock().ok()?;
        map.retain(|_, f| crate::clock::instant().duration_since(f.created) < FLOW_TTL);
        if map.len() >= MAX_PENDING {
            return None;
        }
        let poll_token = random_token(128);
        let login_token = random_token(128);
        map.insert(
            poll_token.clone(),
            Flow {
                login_token: login_token.clone(),
                client_name: client_name.chars().take(200).collect(),
                created: crate::clock::instant(),
                granted: None,
            },
        );
        Some(Started {
            poll_token,
            login_token,
        })
    }

    /// The client name of a live, ungranted flow with this login token.
    pub fn client_name(&self, login_token: &str) -> Option<String> {
        let map = self.flows.lock().ok()?;
        map.values()
            .find(|f| {
                f.login_token == login_token
                    && crate::clock::instant().duration_since(f.created) < FLOW_TTL
                    && f.granted.is_none()
            })
            .map(|f| f.client_name.clone())
    }

    /// Marks the flow granted; `make` creates the app password only if the flow is live.
    pub fn grant(&self, login_token: &str, make: impl FnOnce(&str) -> Option<Granted>) -> bool {
        let Ok(mut map) = self.flows.lock() else {
            return false;
        };
        let Some(flow) = map.values_mut().find(|f| {
            f.login_token == login_token
                && crate::clock::instant().duration_since(f.created) < FLOW_TTL
                && f.granted.is_none()
        }) else {
            return false;
        };
        match make(&flow.client_name) {
            Some(g) => {
                flow.granted = Some(g);
                true
            }
            None => false,
        }
    }

    /// Returns the grant once; the flow is consumed by that poll.
    pub fn poll(&self, poll_token: &str) -> Option<Granted> {
        let mut map = self.flows.lock().ok()?;
        let ready = map.get(poll_token).is_some_and(|f| {
            f.granted.is_some() && crate::clock::instant().duration_since(f.created) < FLOW_TTL
        });
        if ready {
            map.remove(poll_token).and_then(|f| f.granted)
        } else {
            None
        }
    }
}
