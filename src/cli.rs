//! The command line. A stable contract (docs/cli.md): acceptance scripts drive any build
//! through it. Admin commands go to a running server over its control socket when there is
//! one, and open the data directory themselves otherwise.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides, data_dir};
use crate::control::{self, Command};
use crate::state::App;

#[derive(Parser)]
#[command(
    name = "hearth",
    version,
    about = "A family's own cloud, Nextcloud-compatible, in one binary"
)]
pub struct Cli {
    /// Data directory (default ./hearth-data, or HEARTH_DATA).
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Run the server.
    Serve {
        /// HTTP listener, e.g. 127.0.0.1:8080 or 0.0.0.0:80.
        #[arg(long, value_name = "ADDR:PORT")]
        http: Option<String>,
        /// HTTPS listener (needs server.tls_cert and server.tls_key).
        #[arg(long, value_name = "ADDR:PORT")]
        https: Option<String>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage groups.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Complete first-time setup without the wizard.
    Setup {
        /// The box name (becomes NAME.local).
        #[arg(long)]
        name: String,
        /// Login name of the first administrator.
        #[arg(long)]
        admin: String,
        /// Read the administrator's password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Check (and with --repair fix) agreement between metadata and stored content.
    Fsck {
        #[arg(long)]
        repair: bool,
    },
    /// Print the effective configuration (defaults, file, environment) as TOML.
    PrintConfig,
    /// Print the claim code that the setup wizard asks for (only before set-up).
    ClaimCode,
    /// Make a recovery code (valid for a day, usable once) that gives an administrator a new
    /// password at /recover. Whoever can read the data directory may do this.
    RecoveryCode,
    /// TLS: `hearth tls ca` prints the local CA certificate (PEM), creating it if needed.
    #[command(subcommand)]
    Tls(TlsCmd),
    /// Copy every user's files, calendars (.ics) and contacts (.vcf) into plain folders under
    /// DEST, e.g. to read a box's card on a PC. Stop the server on that data directory first.
    Export {
        /// A new (or empty) folder.
        dest: PathBuf,
    },
    /// Install a signed update bundle into the image's other boot slot and restart into it
    /// (on the Hearth image only; docs/image.md).
    Update {
        /// The bundle, e.g. hearth-0.2.0-arm64.bundle.
        file: PathBuf,
        /// Where the boot partition is mounted.
        #[arg(long, default_value = "/boot", value_name = "DIR")]
        boot: PathBuf,
        /// Install and select the new slot, but do not restart now.
        #[arg(long)]
        no_reboot: bool,
    },
}

#[derive(Subcommand)]
pub enum TlsCmd {
    /// Print the local certificate authority's certificate (PEM).
    Ca,
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Add {
        name: String,
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// e.g. 10GB, 512MB, none.
        #[arg(long)]
        quota: Option<String>,
        /// A group to add the user to (created if missing); repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Change a user's password.
    Passwd {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Delete a user.
    Delete { name: String },
}

#[derive(Subcommand)]
pub enum GroupCmd {
    Add { name: String },
    Del { name: String },
    List,
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_owned();
    if pw.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(pw)
}

pub fn run(cli: Cli) -> ExitCode {
    let data = data_dir(cli.data);
    match cli.command {
        Cmd::Serve { http, https } => crate::serve_blocking(&data, &Overrides { http, https }),
        Cmd::Update {
            file,
            boot,
            no_reboot,
        } => update(&data, &file, &boot, no_reboot),
        Cmd::Export { dest } => export(&data, &dest),
        Cmd::RecoveryCode => {
            // Before set-up there is nothing to recover: the claim code is the way in.
            if crate::appliance::wizard::claim_code_path(&data).exists()
                || !data.join("hearth.redb").exists()
            {
                return fail("this box is not set up yet: use the claim code (hearth claim-code)");
            }
            match crate::appliance::wizard::new_recovery_code(&data) {
                Ok(code) => {
                    println!("{code}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&format!("cannot write the recovery code: {e}")),
            }
        }
        Cmd::PrintConfig => match Config::load(&data, &Overrides::default()) {
            Ok(c) => {
                print!("{}", toml::to_string_pretty(&c).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        other => {
            let cmd = match admin_command(other) {
                Ok(c) => c,
                Err(e) => return fail(&e),
            };
            admin(&data, cmd)
        }
    }
}

fn admin_command(cmd: Cmd) -> Result<Command, String> {
    Ok(match cmd {
        Cmd::User(UserCmd::Add {
            name,
            admin,
            display_name,
            email,
            quota,
            groups,
            ..
        }) => Command::UserAdd {
            name,
            admin,
            display_name,
            email,
            quota,
            groups,
            password: read_password()?,
        },
        Cmd::User(UserCmd::Passwd { name, .. }) => Command::UserPasswd {
            name,
            password: read_password()?,
        },
        Cmd::User(UserCmd::List) => Command::UserList,
        Cmd::User(UserCmd::Delete { name }) => Command::UserDelete { name },
        Cmd::Group(GroupCmd::Add { name }) => Command::GroupAdd { name },
        Cmd::Group(GroupCmd::Del { name }) => Command::GroupDel { name },
        Cmd::Group(GroupCmd::List) => Command::GroupList,
        Cmd::Setup { name, admin, .. } => Command::Setup {
            name,
            admin,
            password: read_password()?,
        },
        Cmd::Fsck { repair } => Command::Fsck { repair },
        Cmd::Tls(TlsCmd::Ca) => Command::TlsCa,
        Cmd::ClaimCode => Command::ClaimCode,
        Cmd::Serve { .. }
        | Cmd::PrintConfig
        | Cmd::Update { .. }
        | Cmd::Export { .. }
        | Cmd::RecoveryCode => {
            return Err("not an admin command".into());
        }
    })
}

fn admin(data: &std::path::Path, cmd: Command) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    rt.block_on(async {
        let reply = match control::ask_server(data, &cmd).await {
            Some(Ok(reply)) => reply,
            Some(Err(e)) => return fail(&format!("the running server did not answer: {e}")),
            None => {
                let config = match Config::load(data, &Overrides::default()) {
                    Ok(c) => c,
                    Err(e) => return fail(&e.to_string()),
                };
                let app = match App::open(data, config) {
                    Ok(a) => a,
                    // A server may be starting right now: give its socket a moment.
                    Err(crate::state::StartError::Busy(path)) => {
                        for _ in 0..50 {
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            if let Some(r) = control::ask_server(data, &cmd).await {
                                return finish(r.map_err(|e| e.to_string()));
                            }
                        }
                        return fail(&crate::state::StartError::Busy(path).to_string());
                    }
                    Err(e) => return fail(&e.to_string()),
                };
                control::execute(&app, cmd).await
            }
        };
        finish(Ok(reply))
    })
}

fn finish(reply: Result<control::Reply, String>) -> ExitCode {
    match reply {
        Ok(r) if r.ok => {
            print!("{}", with_newline(&r.output));
            ExitCode::SUCCESS
        }
        Ok(r) => fail(r.output.trim_end()),
        Err(e) => fail(&format!("the running server did not answer: {e}")),
    }
}

fn with_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

/// `hearth export DEST` (crate::appliance::export), on the data directory itself.
fn export(data: &std::path::Path, dest: &std::path::Path) -> ExitCode {
    let config = match Config::load(data, &Overrides::default()) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    let _guard = rt.enter();
    let app = match App::open(data, config) {
        Ok(a) => a,
        Err(crate::state::StartError::Busy(_)) => {
            return fail("a Hearth server is using this data directory; stop it, then export");
        }
        Err(e) => return fail(&e.to_string()),
    };
    let sources = crate::appliance::export::Sources {
        accounts: &app.accounts,
        files: &app.files,
        groupware: &app.groupware,
    };
    match crate::appliance::export::export(&sources, dest) {
        Ok(r) => {
            println!(
                "exported {} user(s): {} files ({} bytes) in {} folders, {} calendars, {} address books, into {}",
                r.users,
                r.files,
                r.bytes,
                r.folders,
                r.calendars,
                r.addressbooks,
                dest.display()
            );
            for p in &r.problems {
                eprintln!("hearth: not exported: {p}");
            }
            if r.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(&e),
    }
}

/// `hearth update FILE`: checks and installs a bundle (the same code as the system page's
/// upload), then asks `/init` to restart into the new slot.
fn update(
    data: &std::path::Path,
    file: &std::path::Path,
    boot: &std::path::Path,
    no_reboot: bool,
) -> ExitCode {
    use crate::appliance::update;
    let run = || -> Result<update::Installed, update::UpdateError> {
        let key = update::build_key()?;
        let b = update::Boot::detect(boot)?;
        let f = std::fs::File::open(file)?;
        update::install(
            std::io::BufReader::new(f),
            &key,
            &b,
            data,
            env!("CARGO_PKG_VERSION"),
        )
    };
    match run() {
        Ok(i) => {
            println!(
                "installed Hearth {} ({}) into slot {}; it is tried once and kept only if it starts well",
                i.version,
                i.build,
                i.slot.letter()
            );
            if !no_reboot {
                if update::request_reboot() {
                    println!("restarting now");
                } else {
                    println!("restart the box to try it");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("hearth: {msg}");
    ExitCode::FAILURE
}
