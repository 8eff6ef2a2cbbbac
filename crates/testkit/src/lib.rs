//! Test harnesses that start real servers from binaries on this machine, or use ones given
//! by environment variables, and say `skipped: <reason>` when neither is there.

pub mod kube;
pub mod kubelet;
pub mod node;
mod node_services;
pub mod postgres;
pub mod rig;

/// Print the skip line test runners' users look for, and return so the test can end.
/// With `STOREFLEET_SKIP_LOG` set, the line is also appended to that file, so a CI script can
/// count skipped tests apart from passed ones (a test runner counts an early return as a pass).
pub fn skip(reason: &str) {
    println!("skipped: {reason}");
    eprintln!("skipped: {reason}");
    if let Ok(path) = std::env::var("STOREFLEET_SKIP_LOG") {
        use std::io::Write;
        let test = std::thread::current()
            .name()
            .unwrap_or("unknown")
            .to_owned();
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{test}: skipped: {reason}");
        }
    }
}

/// Whether CI demands the PostgreSQL tier: then a missing server fails instead of skipping.
pub fn postgres_required() -> bool {
    std::env::var("STOREFLEET_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// What a test does with an attempt to get a PostgreSQL server: use it; or, when there is none,
/// fail if `STOREFLEET_REQUIRE_POSTGRES=1` (CI) and otherwise say `skipped:` and get `None`.
pub fn postgres_or_skip<T>(attempt: Result<T, String>) -> Option<T> {
    match attempt {
        Ok(server) => Some(server),
        Err(reason) if postgres_required() => panic!("PostgreSQL required: {reason}"),
        Err(reason) => {
            skip(&format!("no PostgreSQL server: {reason}"));
            None
        }
    }
}

/// Run `program args…` (in `dir` when given); its stderr becomes the error when it fails.
pub(crate) fn run_tool(
    program: &str,
    args: &[&str],
    dir: Option<&std::path::Path>,
) -> Result<(), String> {
    let mut command = std::process::Command::new(program);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.output().map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A free TCP port on loopback (racy by nature; fine for test servers).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The helm binary for tests: `STOREFLEET_TEST_HELM`, else `helm` on `PATH`.
pub fn helm_binary() -> Option<std::path::PathBuf> {
    if let Ok(path) = std::env::var("STOREFLEET_TEST_HELM") {
        return Some(std::path::PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("helm"))
        .find(|p| p.is_file())
}
