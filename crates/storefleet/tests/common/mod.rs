//! Shared by the binary's process tests: running `storefleet` as a user would.

#![allow(dead_code)] // each test binary uses its own subset

use std::process::Command;

/// `storefleet user add NAME [--admin]` against `db`; the new user's API token.
pub fn add_user(db: &str, name: &str, admin: bool) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_storefleet"));
    command.args(["user", "add", name, "--database-url", db]);
    if admin {
        command.arg("--admin");
    }
    let added = command.output().expect("user add");
    assert!(
        added.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    String::from_utf8(added.stdout)
        .expect("utf-8")
        .lines()
        .last()
        .expect("token")
        .to_owned()
}
