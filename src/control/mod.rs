//! Admin commands, run either in-process (no server running: the command opens the store) or
//! by the running server on behalf of the CLI, over `DATA/control.sock` (owner-only, so only
//! whoever can read the data directory can use it). One JSON line each way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::accounts::{Actor, NewUser, parse_quota};
use crate::state::App;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Command {
    UserAdd {
        name: String,
        admin: bool,
        display_name: Option<String>,
        email: Option<String>,
        quota: Option<String>,
        groups: Vec<String>,
        password: String,
    },
    UserPasswd {
        name: String,
        password: String,
    },
    UserList,
    UserDelete {
        name: String,
    },
    GroupAdd {
        name: String,
    },
    GroupDel {
        name: String,
    },
    GroupList,
    Setup {
        name: String,
        admin: String,
        password: String,
    },
    Fsck {
        repair: bool,
    },
    TlsCa,
    ClaimCode,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    pub output: String,
}

pub fn socket_path(data: &Path) -> PathBuf {
    data.join("control.sock")
}

/// Runs one command against the services.
pub async fn execute(app: &App, cmd: Command) -> Reply {
    match run(app, cmd).await {
        Ok(output) => Reply { ok: true, output },
        Err(output) => Reply { ok: false, output },
    }
}

async fn run(app: &App, cmd: Command) -> Result<String, String> {
    let acc = &app.accounts;
    let console = Actor::console();
    let e = |e: crate::accounts::AccountsError| e.to_string();
    match cmd {
        Command::UserAdd {
            name,
            admin,
            display_name,
            email,
            quota,
            mut groups,
            password,
        } => {
            let quota = quota
                .as_deref()
                .map(parse_quota)
                .transpose()
                .map_err(e)?
                .flatten();
            if admin {
                groups.push(crate::accounts::ADMIN_GROUP.to_owned());
            }
            // Groups named on the command line are created if they do not exist yet.
            for g in &groups {
                if acc.group(g).is_err() {
                    acc.create_group(&console, g, None).map_err(e)?;
                }
            }
            let new = NewUser {
                uid: name.clone(),
                display_name,
                email,
                quota,
                groups,
            };
            acc.create_user(&console, new, Some(password))
                .await
                .map_err(e)?;
            Ok(format!("created user {name}"))
        }
        Command::UserPasswd { name, password } => {
            acc.set_password(&console, &name, password)
                .await
                .map_err(e)?;
            Ok(format!("password of {name} changed"))
        }
        Command::UserList => {
            let mut out = String::new();
            for u in acc.list_users(&console, "", 0, None).map_err(e)? {
                let quota = u
                    .quota
                    .map_or_else(|| "unlimited".into(), |q| format!("{q} bytes"));
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\tquota {}\tgroups {}\n",
                    u.uid,
                    u.display_name,
                    u.email.as_deref().unwrap_or("-"),
                    if u.enabled { "enabled" } else { "disabled" },
                    quota,
                    u.groups.join(",")
                ));
            }
            Ok(out)
        }
        Command::UserDelete { name } => {
            acc.delete_user(&console, &name).map_err(e)?;
            Ok(format!("deleted user {name}"))
        }
        Command::GroupAdd { name } => {
            acc.create_group(&console, &name, None).map_err(e)?;
            Ok(format!("created group {name}"))
        }
        Command::GroupDel { name } => {
            acc.delete_group(&console, &name).map_err(e)?;
            Ok(format!("deleted group {name}"))
        }
        Command::GroupList => {
            let mut out = String::new();
            for g in acc.groups("", 0, None).map_err(e)? {
                let n = acc.group_members(&g.gid).map_err(e)?.len();
                out.push_str(&format!("{}\t{}\t{n} member(s)\n", g.gid, g.display_name));
            }
            Ok(out)
        }
        Command::Setup {
            name,
            admin,
            password,
        } => {
            acc.setup(&name, &admin, password).await.map_err(e)?;
            // Set up without the wizard: its claim code and any half-done progress go too.
            let _ = crate::appliance::wizard::finish(&app.store, &app.data_dir);
            // A box that already serves HTTPS from its local CA gets a CA and certificate for its
            // new name now, before anyone downloads the CA.
            let ca = crate::appliance::tls::LocalCa::new(&app.data_dir);
            if ca.ca_pem().is_some() {
                let name = acc.box_name().map_err(e)?;
                let names =
                    crate::appliance::tls::wanted_names(&name, &app.config.server.tls_extra_names);
                ca.issue_server(&name, &names).map_err(|e| e.to_string())?;
                if let Some(slot) = app.tls_slot.get() {
                    slot.replace(ca.certified_key().map_err(|e| e.to_string())?);
                }
            }
            Ok(format!(
                "Hearth is set up: box {name}, administrator {admin}"
            ))
        }
        Command::ClaimCode => {
            if acc.is_installed().map_err(e)? {
                return Err("this box is already set up; there is no claim code any more".into());
            }
            crate::appliance::wizard::claim_code(&app.data_dir).map_err(|e| e.to_string())
        }
        Command::TlsCa => {
            let name = acc.box_name().map_err(e)?;
            crate::appliance::tls::LocalCa::new(&app.data_dir)
                .ensure_ca(&name)
                .map_err(|e| e.to_string())
        }
        Command::Fsck { repair } => {
            let (store, blobs) = (app.store.clone(), app.blobs.clone());
            let report = tokio::task::spawn_blocking(move || {
                crate::appliance::fsck::fsck(&store, &blobs, repair).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())??;
            let text = report.render();
            if report.is_clean() || report.repaired {
                Ok(text)
            } else {
                Err(text)
            }
        }
    }
}

/// Binds the control socket (owner-only) before the server announces itself, so a CLI
/// command started right after "listening" always finds it.
pub fn bind(data: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(data);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the control socket until the server stops.
pub async fn listen(app: Arc<App>, listener: UnixListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let app = app.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(r).take(64 * 1024);
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match serde_json::from_str::<Command>(&line) {
                Ok(cmd) => execute(&app, cmd).await,
                Err(err) => Reply {
                    ok: false,
                    output: format!("bad control request: {err}"),
                },
            };
            let mut out = serde_json::to_vec(&reply).unwrap_or_default();
            out.push(b'\n');
            let _ = w.write_all(&out).await;
        });
    }
}

use tokio::io::AsyncReadExt as _;

/// Sends a command to the server running on `data`, if one is. `None`: nobody listens.
pub async fn ask_server(data: &Path, cmd: &Command) -> Option<std::io::Result<Reply>> {
    let stream = UnixStream::connect(socket_path(data)).await.ok()?;
    Some(
        async move {
            let (r, mut w) = stream.into_split();
            let mut line = serde_json::to_vec(cmd)?;
            line.push(b'\n');
            w.write_all(&line).await?;
            let mut reply = String::new();
            BufReader::new(r).read_line(&mut reply).await?;
            serde_json::from_str(&reply)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        }
        .await,
    )
}
