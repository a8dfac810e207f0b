//! The system page's update upload: `POST /settings/system/update` with the bundle as the
//! body (administrators only; a browser session also needs its CSRF token in a header). The
//! body is streamed into the installer, never held whole, and a bundle that fails a check
//! leaves the box as it was.

use std::io::Read;
use std::path::Path;
use tokio::sync::mpsc;

use bytes::{Buf, Bytes};
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::json;

use crate::appliance::update::{self, Boot, UpdateError};
use crate::http::{Ctx, Resp, response};

/// Where the image mounts its boot partition.
pub const BOOT_DIR: &str = "/boot";

/// A blocking `Read` over body pieces sent from the async side.
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = self.chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

pub(super) fn refuse(status: StatusCode, message: &str) -> Resp {
    response::json(status, &json!({"status": "refused", "message": message}))
}

pub async fn upload(mut ctx: Ctx) -> Resp {
    let key = match update::build_key() {
        Ok(k) => k,
        Err(e) => return refuse(StatusCode::CONFLICT, &e.to_string()),
    };
    let boot = match Boot::detect(Path::new(BOOT_DIR)) {
        Ok(b) => b,
        Err(e) => return refuse(StatusCode::CONFLICT, &e.to_string()),
    };
    let Some(mut body) = ctx.body.take() else {
        return refuse(StatusCode::BAD_REQUEST, "The request has no bundle in it.");
    };
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
    let data_dir = ctx.app.data_dir.clone();
    let installer = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx,
            chunk: Bytes::new(),
        };
        update::install(
            std::io::BufReader::with_capacity(256 * 1024, reader),
            &key,
            &boot,
            &data_dir,
            env!("CARGO_PKG_VERSION"),
        )
    });
    let stall = std::time::Duration::from_secs(ctx.app.config.limits.body_read_timeout_secs);
    loop {
        let frame = match tokio::time::timeout(stall, body.frame()).await {
            Err(_) => Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the upload stalled",
            ))),
            Ok(None) => None,
            Ok(Some(Ok(f))) => match f.into_data() {
                Ok(d) => Some(Ok(d)),
                Err(_) => continue,
            },
            Ok(Some(Err(e))) => Some(Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                e,
            ))),
        };
        let Some(frame) = frame else { break };
        let failed = frame.is_err();
        // The installer stops reading once a check fails: then the rest is not wanted.
        if tx.send(frame).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    let outcome = installer.await;
    if matches!(outcome, Ok(Err(_))) {
        // A refused bundle: read the rest of the upload (bounded) so that the client, still
        // sending, gets the answer instead of a reset connection.
        let mut left: u64 = 1 << 30;
        while left > 0 {
            match tokio::time::timeout(stall, body.frame()).await {
                Ok(Some(Ok(f))) => {
                    let n = f.data_ref().map_or(0, |d| d.len() as u64);
                    left = left.saturating_sub(n.max(1));
                }
                _ => break,
            }
        }
    }
    match outcome {
        Ok(Ok(i)) => {
            tracing::info!(version = %i.version, build = %i.build, slot = %i.slot.letter(), "update installed; restarting into it");
            tokio::spawn(async {
                // Time for the answer to reach the browser first.
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                if !update::request_reboot() {
                    tracing::warn!(
                        "could not ask /init to restart; restart the box to try the update"
                    );
                }
            });
            response::json(
                StatusCode::OK,
                &json!({
                    "status": "installed",
                    "version": i.version,
                    "build": i.build,
                    "slot": i.slot.letter().to_string(),
                    "message": format!("Hearth {} is installed and the box restarts into it now. It is kept only if it starts well; otherwise the box goes back to this version.", i.version),
                }),
            )
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "update refused");
            let status = match &e {
                UpdateError::Busy => StatusCode::CONFLICT,
                e if e.is_bundle_fault() => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            refuse(status, &e.to_string())
        }
        Err(e) => {
            tracing::error!(error = %e, "the update installer stopped");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The installer stopped unexpectedly; nothing was selected.",
            )
        }
    }
}

/// The system page's update section.
pub fn section(data_dir: &Path, csrf: Option<&str>) -> String {
    use super::common::esc;
    let running = update::running_slot().map_or_else(
        || "not on the Hearth image (no boot slots)".to_owned(),
        |s| format!("slot {}", s.letter()),
    );
    let last = match update::read_state(data_dir) {
        None => "none yet".to_owned(),
        Some(s) => match s.state.as_str() {
            "committed" => format!(
                "Hearth {} ({}) installed in slot {} and running well",
                esc(&s.version),
                esc(&s.build),
                esc(&s.slot)
            ),
            "trying" => format!(
                "Hearth {} ({}) in slot {} is being tried",
                esc(&s.version),
                esc(&s.build),
                esc(&s.slot)
            ),
            "failed" => format!(
                "<span class=\"err\" id=\"update-failed\">The update to Hearth {} ({}) did not start well, so the box went back to slot {}. Nothing was lost.</span><pre>{}</pre>",
                esc(&s.version),
                esc(&s.build),
                esc(&s.from),
                esc(&s.why)
            ),
            other => esc(other),
        },
    };
    let form = match csrf {
        Some(token) if update::running_slot().is_some() => format!(
            "<form id=\"update-form\"><input type=\"file\" id=\"bundle\" accept=\".bundle\" required> \
<button type=\"submit\">Install update</button></form><p id=\"update-result\"></p>\
<script>document.getElementById('update-form').onsubmit=async e=>{{e.preventDefault();\
const f=document.getElementById('bundle').files[0];const out=document.getElementById('update-result');\
out.textContent='Uploading and checking…';\
try{{const r=await fetch('/settings/system/update',{{method:'POST',body:f,headers:{{'requesttoken':'{}'}}}});\
const j=await r.json();out.textContent=j.message;}}catch(err){{out.textContent='The upload failed: '+err;}}}};</script>",
            esc(token)
        ),
        _ => String::new(),
    };
    format!(
        "<h2>Updates</h2><table id=\"update\"><tr><td>Running from</td><td id=\"slot\">{}</td></tr>\
<tr><td>Last update</td><td id=\"update-state\">{last}</td></tr></table>{form}",
        esc(&running)
    )
}
