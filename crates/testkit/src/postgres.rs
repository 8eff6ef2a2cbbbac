//! A real PostgreSQL server for tests.
//!
//! `STOREFLEET_TEST_DATABASE_URL` points at an existing server the tests may create databases
//! on. Otherwise one server per test process is started from the machine's PostgreSQL binaries
//! (`pg_config --bindir`, else `/usr/lib/postgresql/*/bin`): `initdb` into a temp dir, a free
//! port on 127.0.0.1, fsync off. As root it runs as the `postgres` user, because PostgreSQL
//! refuses to run as root. A watchdog shell stops the server and removes its files when the
//! test process exits. Each test gets a database of its own.

use sqlx::{Connection, Executor, PgConnection};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static SERVER: OnceLock<Result<String, String>> = OnceLock::new();

/// A fresh, empty database on a real PostgreSQL server; `Err` says why none can be had.
pub async fn fresh_database() -> Result<String, String> {
    // Started on a plain thread: readiness polling runs its own runtime, which cannot nest in the caller's.
    let admin_url = SERVER
        .get_or_init(|| {
            std::thread::spawn(start_or_reuse)
                .join()
                .unwrap_or_else(|_| Err("PostgreSQL start-up thread panicked".to_owned()))
        })
        .clone()?;
    let name = format!("sf_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::connect(&admin_url)
        .await
        .map_err(|e| format!("connect to test server: {e}"))?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .map_err(|e| format!("create test database: {e}"))?;
    Ok(replace_database(&admin_url, &name))
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn start_or_reuse() -> Result<String, String> {
    if let Ok(url) = std::env::var("STOREFLEET_TEST_DATABASE_URL") {
        return Ok(url);
    }
    let bin = bin_dir().ok_or(
        "no PostgreSQL server binaries (install postgresql, or set STOREFLEET_TEST_DATABASE_URL)",
    )?;
    start_server(&bin)
}

fn bin_dir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let candidates = from_pg_config.into_iter().chain(
        std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin")),
    );
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Run a command as the `postgres` user when we are root, as ourselves otherwise.
fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// `sh -c script` as the `postgres` user when we are root, as ourselves otherwise.
fn shell_as_server_user(script: &str) -> Command {
    let mut cmd = as_server_user(Path::new("sh"));
    cmd.args(["-c", script]);
    cmd
}

/// A temp dir owned by the server's user with a fresh cluster in `data/` (trust auth, no fsync).
fn init_cluster(bin: &Path, prefix: &str) -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?
        .keep();
    if running_as_root() {
        let chowned = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !chowned {
            return Err(
                "chown of the test data dir to postgres failed (is there a postgres user?)".into(),
            );
        }
    }
    let out = as_server_user(&bin.join("initdb"))
        .arg("-D")
        .arg(dir.join("data"))
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-N",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(dir)
}

fn start_server(bin: &Path) -> Result<String, String> {
    let dir = init_cluster(bin, "storefleet-pg-")?;
    let data = dir.join("data");
    let port = crate::free_port().map_err(|e| format!("free port: {e}"))?;
    // The watchdog lives as long as this test process; then it stops the server and cleans up.
    let script = format!(
        "{postgres} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 \
         > {dir}/server.log 2>&1 & pg=$!; \
         while [ -d /proc/{parent} ] && kill -0 $pg 2>/dev/null; do sleep 0.5; done; \
         kill -INT $pg 2>/dev/null; wait $pg; rm -rf {dir}",
        postgres = bin.join("postgres").display(),
        data = data.display(),
        dir = dir.display(),
        parent = std::process::id(),
    );
    shell_as_server_user(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start postgres: {e}"))?;
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    wait_until_ready(&url, &dir)?;
    Ok(url)
}

fn wait_until_ready(url: &str, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let runtime = tokio_runtime()?;
    loop {
        let attempt = runtime.block_on(async { PgConnection::connect(url).await.map(|_| ()) });
        match attempt {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                return Err(format!("PostgreSQL did not start: {e}\n{log}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// A PostgreSQL server of one test's own, which the test may stop and start again (to prove
/// what happens while the database is down). Removed when dropped or when the process exits.
pub struct DedicatedServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl DedicatedServer {
    /// Start a fresh server; `Err` says why none can be had here.
    pub fn start() -> Result<Self, String> {
        let bin = bin_dir().ok_or("no PostgreSQL server binaries (install postgresql)")?;
        let dir = init_cluster(&bin, "storefleet-pg-own-")?;
        let port = crate::free_port().map_err(|e| format!("free port: {e}"))?;
        // Stop the server and remove its files if the test process dies without dropping us.
        let watchdog = format!(
            "while [ -d /proc/{parent} ]; do sleep 0.5; done; {pg_ctl} -D {dir}/data stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
            parent = std::process::id(),
            pg_ctl = bin.join("pg_ctl").display(),
            dir = dir.display()
        );
        shell_as_server_user(&watchdog)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let server = Self { bin, dir, port };
        server.resume()?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stop the server (fast shutdown: open connections are cut, as in an outage).
    pub fn stop(&self) -> Result<(), String> {
        self.pg_ctl(&["stop", "-m", "fast", "-w"])
    }

    /// Start it again on the same port and data.
    pub fn resume(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        self.pg_ctl(&["start", "-w", "-t", "30", "-o", &options, "-l", &log])
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let out = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {}: {}",
                args[0],
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for DedicatedServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_one_in_the_url() {
        assert_eq!(
            replace_database("postgres://u@h:1/postgres", "x"),
            "postgres://u@h:1/x"
        );
        assert_eq!(
            replace_database("postgres://u@h:1/db?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
    }
}
