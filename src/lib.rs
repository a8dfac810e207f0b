//! Hearth: a family's own cloud in one binary. See docs/architecture.md for the code map.

pub mod accounts;
pub mod alloc;
pub mod appliance;
pub mod blobs;
pub mod bufpool;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod dav;
pub mod error;
pub mod files;
pub mod groupware;
pub mod http;
pub mod net;
pub mod notify;
pub mod ocs;
pub mod pages;
pub mod sched;
pub mod schema;
pub mod state;
pub mod store;
pub mod telemetry;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use config::{Config, Overrides};
use state::App;

/// `hearth serve`: builds the runtime, the app, and runs until SIGTERM/SIGINT.
pub fn serve_blocking(data: &Path, flags: &Overrides) -> ExitCode {
    let config = match Config::load(data, flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hearth: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let recent = telemetry::RecentErrors::default();
    let _log_guard = telemetry::init(&config.log, recent.clone());
    // Tests that drive the real binary move its clock this way; release builds cannot.
    #[cfg(debug_assertions)]
    if let Some(secs) = std::env::var("HEARTH_TEST_CLOCK_OFFSET_SECS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        clock::testing::set_process_offset(secs);
        tracing::warn!("the clock runs {secs} s off for a test (HEARTH_TEST_CLOCK_OFFSET_SECS)");
    }
    // Low-memory mode: the budget bounds threads, connections, hashing and caches.
    let mut config = config;
    let budget = config.apply_memory_budget(config::total_ram_mib());
    tracing::info!(
        "memory budget {budget}, {} password hash{} at once, {} connections, {} MiB metadata cache",
        config.auth.argon2_concurrency,
        if config.auth.argon2_concurrency == 1 {
            ""
        } else {
            "es"
        },
        config.limits.max_connections,
        config.limits.store_cache_mib
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(budget.worker_threads)
        .max_blocking_threads(budget.blocking_threads)
        // A short time slice for the threads that answer requests (see `sched`).
        .on_thread_start(sched::default_slice)
        .on_thread_unpark(sched::request_slice)
        .enable_all()
        .build();
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hearth: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(serve(data, config, recent))
}

async fn serve(data: &Path, config: Config, recent: telemetry::RecentErrors) -> ExitCode {
    let app = match App::open(data, config) {
        Ok(a) => Arc::new(a.with_recent_errors(recent)),
        Err(e) => {
            eprintln!("hearth: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listeners = match http::server::Listeners::bind(&app).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hearth: {e}");
            return ExitCode::FAILURE;
        }
    };
    let control_listener = match control::bind(&app.data_dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "hearth: cannot create the control socket in {}: {e}",
                app.data_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    if let Some(l) = &listeners.http
        && let Ok(a) = l.local_addr()
    {
        tracing::info!("listening on http://{a}");
    }
    if let Some((l, _)) = &listeners.https
        && let Ok(a) = l.local_addr()
    {
        tracing::info!("listening on https://{a}");
    }
    if !app.accounts.is_installed().unwrap_or(false) {
        // Printed for whoever has the console (the image shows it on HDMI and serial too).
        match appliance::wizard::claim_code(&app.data_dir) {
            Ok(code) => tracing::warn!(
                "not set up yet: open this box in a browser and enter the claim code {code} (also in {})",
                appliance::wizard::claim_code_path(&app.data_dir).display()
            ),
            Err(e) => tracing::error!(error = %e, "cannot create the claim code"),
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let control = tokio::spawn(control::listen(app.clone(), control_listener));
    let sweeper = tokio::spawn(sweep_loop(app.clone()));
    let reminders = tokio::spawn(notify::reminder_loop(Arc::new(notify::ReminderJob {
        groupware: app.groupware.clone(),
        accounts: app.accounts.clone(),
        notify: app.notify.clone(),
    })));
    let subscriptions = tokio::spawn(subscription_loop(app.clone()));
    let ports = appliance::mdns::Ports {
        http: listeners
            .http
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port()),
        https: listeners
            .https
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
            .map(|a| a.port()),
    };
    let mdns_task = app
        .config
        .mdns
        .enabled
        .then(|| tokio::spawn(mdns_loop(app.clone(), ports)));
    let tls_task = listeners
        .local_ca
        .clone()
        .map(|slot| tokio::spawn(http::server::maintain_local_ca(app.clone(), slot)));
    let acme_task = listeners.local_ca.clone().map(|slot| {
        let job = appliance::acme::AcmeJob {
            store: app.store.clone(),
            config: app.config.acme.clone(),
            data_dir: app.data_dir.clone(),
            challenges: app.acme.clone(),
        };
        tokio::spawn(appliance::acme::maintain(job, slot))
    });
    if acme_task.is_none() && !app.config.acme.directory.is_empty() {
        tracing::warn!(
            "[acme] is set but not used: ACME needs HTTPS with the box's own certificate (no server.tls_cert)"
        );
    }
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    http::server::serve(app.clone(), listeners, stop_rx).await;
    control.abort();
    sweeper.abort();
    reminders.abort();
    subscriptions.abort();
    if let Some(t) = mdns_task {
        t.abort();
    }
    if let Some(m) = app
        .mdns
        .get()
        .and_then(|m| m.lock().ok().and_then(|g| g.clone()))
    {
        // Goodbye packets, so phones forget the box at once.
        let _ = tokio::task::spawn_blocking(move || m.stop()).await;
    }
    if let Some(t) = tls_task {
        t.abort();
    }
    if let Some(t) = acme_task {
        t.abort();
    }
    let _ = std::fs::remove_file(control::socket_path(&app.data_dir));
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Hourly housekeeping with jitter: expire abandoned uploads, then sweep orphan blobs (only
/// those unreferenced for an hour).
async fn sweep_loop(app: Arc<App>) {
    loop {
        let jitter = Duration::from_secs(rand::random::<u64>() % 600);
        tokio::time::sleep(Duration::from_secs(3600) + jitter).await;
        // Chunked uploads abandoned for a day (Nextcloud's rule), then blobs nothing uses.
        match app.files.expire_uploads(24 * 3600 * 1000).await {
            Ok(n) if n > 0 => tracing::info!(expired = n, "abandoned uploads removed"),
            Err(e) => tracing::warn!(error = %e, "upload expiry failed"),
            _ => {}
        }
        let (store, blobs) = (app.store.clone(), app.blobs.clone());
        let r = tokio::task::spawn_blocking(move || {
            blobs::sweep_orphans(&store, &blobs, Duration::from_secs(3600))
        })
        .await;
        match r {
            Ok(Ok(n)) if n > 0 => tracing::info!(removed = n, "orphan sweep"),
            Ok(Err(e)) => tracing::warn!(error = %e, "orphan sweep failed"),
            _ => {}
        }
    }
}

/// Fetches subscribed calendars again when they are due (weekly by default).
async fn subscription_loop(app: Arc<App>) {
    let every = app.config.groupware.subscription_refresh_secs.max(1) as i64;
    let tick = Duration::from_secs(every.clamp(1, 60) as u64);
    let limit = app.config.groupware.max_subscription_bytes;
    loop {
        tokio::time::sleep(tick).await;
        let now = crate::clock::now_secs();
        let due = match app.groupware.subscriptions_due(now, every) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "subscriptions unreadable");
                continue;
            }
        };
        for c in due {
            let Some(url) = c.source.clone() else {
                continue;
            };
            let fetched = net::get(&url, limit, Duration::from_secs(60))
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| e.to_string());
            let a = app.clone();
            let r = tokio::task::spawn_blocking(move || {
                a.groupware
                    .refresh_subscription(&c, fetched.as_deref().map_err(Clone::clone), now, every)
                    .map(|rep| (c.uri.clone(), fetched.err(), rep))
            })
            .await;
            match r {
                Ok(Ok((uri, None, rep))) => tracing::info!(
                    calendar = %uri,
                    imported = rep.imported,
                    updated = rep.updated,
                    skipped = rep.skipped.len(),
                    "subscription refreshed"
                ),
                Ok(Ok((uri, Some(e), _))) => {
                    tracing::warn!(calendar = %uri, error = %e, "subscription not refreshed")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "subscription refresh failed"),
                Err(_) => {}
            }
        }
    }
}

/// `DATA/hostname`: the name the box answers to on the network (without `.local`), for the
/// image's DHCP client, which sends it to the router so bare names resolve there too.
fn write_hostname(data_dir: &std::path::Path, mdns_name: &str) {
    let bare = mdns_name.trim_end_matches('.').trim_end_matches(".local");
    let path = data_dir.join("hostname");
    if std::fs::read_to_string(&path)
        .ok()
        .as_deref()
        .map(str::trim)
        == Some(bare)
    {
        return;
    }
    let tmp = data_dir.join("hostname.tmp");
    if std::fs::write(&tmp, format!("{bare}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// Announces the box by mDNS, and announces it again under its new name after set-up names it.
async fn mdns_loop(app: Arc<App>, ports: appliance::mdns::Ports) {
    let slot = app.mdns.get_or_init(|| std::sync::Mutex::new(None));
    let mut announced = String::new();
    loop {
        let name = app.accounts.box_name().unwrap_or_else(|_| "hearth".into());
        if name != announced {
            let old = slot.lock().ok().and_then(|mut g| g.take());
            let n = name.clone();
            let started = tokio::task::spawn_blocking(move || {
                if let Some(o) = old {
                    o.stop();
                }
                appliance::mdns::start(&n, ports)
            })
            .await;
            match started {
                Ok(Ok(m)) => {
                    if let Ok(mut g) = slot.lock() {
                        *g = Some(m);
                    }
                    announced = name;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "mDNS announcement failed; retrying"),
                Err(e) => tracing::warn!(error = %e, "mDNS task failed"),
            }
        }
        // (After a conflict the announced name changes by itself: follow it.)
        if let Some(current) = slot
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|m| m.current_name()))
        {
            write_hostname(&app.data_dir, &current);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
