//! Test harness: runs the real `hearth` binary on a temp data directory and a free loopback
//! port, and talks to it over real sockets with a tiny HTTP/1.1 client (so hostile requests
//! can be sent byte for byte).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hearth");
pub const ADMIN_PW: &str = "correct-horse-battery";

/// The lines a server wrote to stderr, as read so far, and whether the reader saw the end.
#[derive(Default)]
pub struct Log {
    lines: Mutex<Vec<String>>,
    ended: Mutex<bool>,
    end: Condvar,
}

impl Log {
    pub fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (bounded) until the process's stderr has closed and every line it wrote is
    /// here: after the process exits, its last lines may still be on their way.
    pub fn wait_ended(&self, within: Duration) -> bool {
        let ended = self.ended.lock().unwrap();
        let (ended, _) = self.end.wait_timeout_while(ended, within, |e| !*e).unwrap();
        *ended
    }

    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
    }

    fn close(&self) {
        *self.ended.lock().unwrap() = true;
        self.end.notify_all();
    }
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub child: Option<Child>,
    pub log: Arc<Log>,
    env: Vec<(String, String)>,
}

impl Server {
    /// A fresh, unconfigured server.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut s = Server {
            dir,
            addr: "127.0.0.1:1".parse().unwrap(),
            child: None,
            log: Arc::default(),
            env,
        };
        s.spawn();
        s
    }

    /// A server that has been set up with admin `admin` (password [`ADMIN_PW`]).
    pub fn installed() -> Server {
        let s = Self::start();
        s.set_up();
        s
    }

    /// `hearth setup` as `family` with administrator `admin` (password [`ADMIN_PW`]).
    pub fn set_up(&self) {
        set_up_family(self.data());
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// Starts (or restarts) the process and waits until it listens.
    pub fn spawn(&mut self) {
        let (child, http, _) = serve(
            self.dir.path(),
            &["--http", "127.0.0.1:0"],
            &self.env,
            &self.log,
            (true, false),
        );
        self.addr = http.unwrap().parse().unwrap();
        self.child = Some(child);
    }

    /// Stops the process and starts it again on the same data with `env` instead of the
    /// environment it was started with.
    pub fn restart_with(&mut self, env: &[(&str, &str)]) {
        self.terminate();
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.log = Arc::default();
        self.spawn();
    }

    /// SIGKILL; once it returns, the log holds every line the process wrote.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.log.wait_ended(Duration::from_secs(5));
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit; returns the exit status. Once it
    /// returns, the log holds every line the process wrote (its last words included).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut status = None;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                status = Some(st);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if status.is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.log.wait_ended(Duration::from_secs(5));
        status
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// The log as read so far; for a line that must be there, use [`Self::wait_for_log_line`],
    /// and before checking that one is absent, [`Self::settle_log`].
    pub fn log_text(&self) -> String {
        self.log.text()
    }

    /// Makes a request of its own and waits until its line is in the log: lines are written
    /// in order, so everything logged before it is there too. For checks that a line is
    /// *not* in the log, which would otherwise pass by looking too early.
    pub fn settle_log(&self) {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("/hearth-log-mark-{}-{n}", std::process::id());
        let _ = self.req("HEAD", &tag).send();
        let want = format!("path={tag} ");
        self.wait_for_log_line(|l| l.contains(&want));
    }

    /// The log once a line satisfying `want` is in it (the server writes its log in batches,
    /// up to 50 ms after the line); panics with the log after 20 s.
    pub fn wait_for_log_line(&self, want: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let log = self.log_text();
            if log.lines().any(&want) {
                return log;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the expected line did not reach the log within 20 s:\n{log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Runs a CLI subcommand against this data directory.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOut {
        cli_in(self.dir.path(), args, stdin)
    }

    pub fn req(&self, method: &str, path: &str) -> Req {
        Req::new(self.addr, method, path)
    }

    /// Signs in through the browser login form; returns the session cookie (`name=value`).
    pub fn login_cookie(&self, user: &str, password: &str) -> String {
        let r = self
            .req("POST", "/index.php/login")
            .form(&[("user", user), ("password", password)])
            .send();
        assert_eq!(r.status, 303, "login failed: {}", r.text());
        r.set_cookie()
    }

    pub fn add_user(&self, name: &str, pw: &str, extra: &[&str]) {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        args.extend_from_slice(extra);
        self.cli(&args, Some(pw)).success();
    }
}

/// Starts `hearth serve --data DIR ARGS…` with `env`, collects its log lines into `log`, and
/// waits until the listeners asked for (`want` = (http, https)) report their addresses.
pub fn serve(
    dir: &Path,
    args: &[&str],
    env: &[(String, String)],
    log: &Arc<Log>,
    want: (bool, bool),
) -> (Child, Option<String>, Option<String>) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--data"]).arg(dir).args(args);
    cmd.env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            for scheme in ["http", "https"] {
                if let Some(rest) = line.split(&format!("listening on {scheme}://")).nth(1) {
                    let _ = tx.send((scheme, rest.trim().to_owned()));
                }
            }
            log.push(line);
        }
        log.close();
    });
    let (mut http, mut https) = (None, None);
    while (want.0 && http.is_none()) || (want.1 && https.is_none()) {
        let (scheme, addr) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server did not start");
        if scheme == "http" {
            http = Some(addr);
        } else {
            https = Some(addr);
        }
    }
    (child, http, https)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct CliOut {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOut {
    pub fn success(self) -> Self {
        assert!(
            self.status.success(),
            "command failed: {}\n{}",
            self.stderr,
            self.stdout
        );
        self
    }
}

/// `hearth setup --data DATA` as `family` with administrator `admin` (password [`ADMIN_PW`]).
pub fn set_up_family(data: &Path) {
    cli_in(
        data,
        &[
            "setup",
            "--name",
            "family",
            "--admin",
            "admin",
            "--password-stdin",
        ],
        Some(ADMIN_PW),
    )
    .success();
}

pub fn cli_in(data: &Path, args: &[&str], stdin: Option<&str>) -> CliOut {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg("--data").arg(data);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{s}\n").as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    CliOut {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn tmp_path() -> PathBuf {
    tempfile::tempdir().unwrap().keep()
}

/// A request being built.
pub struct Req {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    pub source: Option<std::net::IpAddr>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The first `Set-Cookie` as `name=value`.
    pub fn set_cookie(&self) -> String {
        self.header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Req {
    pub fn new(addr: SocketAddr, method: &str, path: &str) -> Req {
        Req {
            addr,
            method: method.into(),
            path: path.into(),
            headers: vec![],
            body: vec![],
            source: None,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn basic(self, user: &str, pw: &str) -> Self {
        use base64::Engine;
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        self.header("Authorization", &format!("Basic {v}"))
    }
    pub fn ocs(self) -> Self {
        self.header("OCS-APIRequest", "true")
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = b.into();
        self
    }
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let b: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(b)
    }
    pub fn json(self, v: &serde_json::Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(v.to_string())
    }
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.source = Some(ip.parse().unwrap());
        self
    }

    pub fn raw_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.method, self.path, self.addr
        )
        .into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    pub fn send(self) -> Resp {
        let bytes = self.raw_bytes();
        send_raw_from(self.addr, self.source, &bytes)
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Resp {
    send_raw_from(addr, None, bytes)
}

pub fn send_raw_from(addr: SocketAddr, source: Option<std::net::IpAddr>, bytes: &[u8]) -> Resp {
    let mut s = match source {
        None => connect(addr),
        Some(ip) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let stream = rt.block_on(async {
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                sock.bind(SocketAddr::new(ip, 0)).unwrap();
                sock.connect(addr).await.unwrap()
            });
            let std = stream.into_std().unwrap();
            std.set_nonblocking(false).unwrap();
            std.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            std
        }
    };
    // A server may answer (413, 507…) and stop reading before the body is sent: read the answer
    // anyway.
    let _ = s.write_all(bytes);
    read_response(&mut s)
}

pub fn read_response(s: &mut TcpStream) -> Resp {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&b[..nl]).into_owned();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}
