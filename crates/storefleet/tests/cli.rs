//! The `store` client commands run as a user runs them, against a real `storefleet api` on SQLite:
//! stores named by name or id prefix, and a closed pipe (`store list -o json | head`) ending the
//! command quietly instead of in a panic.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct ApiProcess {
    child: Child,
    url: String,
    token: String,
    db: String,
    _dir: tempfile::TempDir,
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `storefleet api` (no orchestrator, no cluster) with one user.
fn start_api() -> ApiProcess {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("storefleet.db").display());
    let token = common::add_user(&db, "merchant", false);
    let port = storefleet_testkit::free_port().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args(["api", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--database-url")
        .arg(&db)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start storefleet api");
    let url = format!("http://127.0.0.1:{port}");
    common::wait_until_healthy_blocking(&url, "storefleet api");
    ApiProcess {
        child,
        url,
        token,
        db,
        _dir: dir,
    }
}

fn cli(api: &ApiProcess) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_storefleet"));
    command
        .env("STOREFLEET_API_URL", &api.url)
        .env("STOREFLEET_TOKEN", &api.token);
    command
}

fn run(api: &ApiProcess, args: &[&str]) -> Output {
    cli(api).args(args).output().expect("run storefleet")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `id: …` from the human view of a store.
fn id_in(out: &Output) -> String {
    stdout(out)
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|id| id.trim().to_owned())
        .unwrap_or_else(|| panic!("no id in {}", stdout(out)))
}

#[test]
fn stores_are_named_by_name_or_id_prefix_everywhere_an_id_is_taken() {
    let api = start_api();
    let created = run(&api, &["store", "create", "shop-1", "--engine", "medusa"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let id = id_in(&created);
    let other = run(
        &api,
        &["store", "create", "cafe-2", "--engine", "woocommerce"],
    );
    assert!(other.status.success(), "{}", stderr(&other));

    let by_name = run(&api, &["store", "get", "shop-1"]);
    assert!(by_name.status.success(), "{}", stderr(&by_name));
    assert_eq!(id_in(&by_name), id);
    let by_prefix = run(&api, &["store", "get", &id[..13]]);
    assert!(by_prefix.status.success(), "{}", stderr(&by_prefix));
    assert_eq!(id_in(&by_prefix), id);
    let events = run(&api, &["store", "events", "shop-1"]);
    assert!(events.status.success(), "{}", stderr(&events));
    assert!(stdout(&events).contains("Requested"), "{}", stdout(&events));

    let unknown = run(&api, &["store", "get", "no-such-shop"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown)
            .contains("no store with this id, id prefix or live store name: no-such-shop"),
        "{}",
        stderr(&unknown)
    );
    // Both ids were made in the same millisecond range: a short common prefix is ambiguous.
    let ambiguous = run(&api, &["store", "get", &id[..4]]);
    assert!(!ambiguous.status.success());
    assert!(
        stderr(&ambiguous).contains("2 stores match the id prefix"),
        "{}",
        stderr(&ambiguous)
    );

    let deleted = run(&api, &["store", "delete", "shop-1"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(stdout(&deleted).contains(&id), "{}", stdout(&deleted));
}

#[test]
fn a_closed_pipe_ends_a_client_command_quietly_instead_of_in_a_panic() {
    let api = start_api();
    for name in ["pipe-1", "pipe-2", "pipe-3"] {
        let created = run(&api, &["store", "create", name, "--engine", "medusa"]);
        assert!(created.status.success(), "{}", stderr(&created));
    }
    // The reader is gone before the command writes a byte, as with `| head -c0`.
    let mut child = cli(&api)
        .args(["store", "list", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run storefleet");
    drop(child.stdout.take());
    let status = child.wait().expect("wait");
    let mut errors = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut errors)
        .expect("stderr");
    assert!(!errors.contains("panicked"), "{errors}");
    assert_ne!(status.code(), Some(101), "a panic's exit code: {errors}");
    assert!(
        errors.is_empty(),
        "nothing printed on the way out: {errors}"
    );
}

#[test]
fn exit_codes_tell_scripts_what_went_wrong_and_urls_get_hints() {
    let api = start_api();
    let code = |out: &Output| out.status.code();
    let created = run(&api, &["store", "create", "shop-9", "--engine", "medusa"]);
    assert_eq!(code(&created), Some(0), "{}", stderr(&created));

    let missing = run(
        &api,
        &["store", "get", "01900000-0000-7000-8000-000000000000"],
    );
    assert_eq!(code(&missing), Some(3), "not found: {}", stderr(&missing));
    let taken = run(&api, &["store", "create", "shop-9", "--engine", "medusa"]);
    assert_eq!(code(&taken), Some(4), "conflict: {}", stderr(&taken));
    let stranger = cli(&api)
        .args(["store", "list"])
        .env("STOREFLEET_TOKEN", "sf_not-a-token")
        .output()
        .expect("run");
    assert_eq!(code(&stranger), Some(5), "auth: {}", stderr(&stranger));

    let port = storefleet_testkit::free_port().unwrap();
    let nobody = cli(&api)
        .args(["store", "list"])
        .env("STOREFLEET_API_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .expect("run");
    assert_eq!(code(&nobody), Some(6), "unavailable: {}", stderr(&nobody));
    assert!(
        stderr(&nobody).contains(&format!(
            "could not reach the API at http://127.0.0.1:{port}"
        )),
        "names the URL: {}",
        stderr(&nobody)
    );

    let schemeless = api.url.trim_start_matches("http://").to_owned();
    let out = cli(&api)
        .args(["store", "list"])
        .env("STOREFLEET_API_URL", &schemeless)
        .output()
        .expect("run");
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains(&format!("did you mean http://{schemeless}")),
        "{}",
        stderr(&out)
    );
    let out = cli(&api)
        .args(["store", "list"])
        .env("STOREFLEET_API_URL", format!("{}/api/v1", api.url))
        .output()
        .expect("run");
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains(&format!("give the server's base URL, {}", api.url)),
        "{}",
        stderr(&out)
    );

    let bad_engine = run(&api, &["store", "create", "x-1", "--engine", "magento"]);
    assert_eq!(code(&bad_engine), Some(2));
    assert!(
        stderr(&bad_engine).contains("possible values: woocommerce, medusa"),
        "{}",
        stderr(&bad_engine)
    );
}

#[test]
fn waiting_shows_the_step_and_time_elapsed_and_gives_up_at_the_timeout() {
    // No orchestrator runs: the store stays requested, so the wait must run out.
    let api = start_api();
    let created = run(&api, &["store", "create", "slow-1", "--engine", "medusa"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let started = Instant::now();
    let waited = run(&api, &["store", "wait", "slow-1", "--timeout", "2s"]);
    assert_eq!(waited.status.code(), Some(7), "{}", stderr(&waited));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        stderr(&waited).contains("store is still requested after 2 s (--timeout)"),
        "{}",
        stderr(&waited)
    );
    let created = run(
        &api,
        &[
            "store",
            "create",
            "slow-2",
            "--engine",
            "medusa",
            "--wait",
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(created.status.code(), Some(7), "{}", stderr(&created));
    let help = run(&api, &["store", "wait", "--help"]);
    let help = stdout(&help);
    assert!(
        help.contains("--for <FOR>") && help.contains("deleted"),
        "{help}"
    );
    assert!(!help.contains("--api-url <API_URL> --token"), "{help}");
}

#[test]
fn lists_print_as_yaml_and_wide_and_the_shells_get_completions() {
    let api = start_api();
    let created = run(&api, &["store", "create", "yaml-1", "--engine", "medusa"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let id = id_in(&created);

    let yaml = run(&api, &["store", "list", "-o", "yaml"]);
    assert!(yaml.status.success(), "{}", stderr(&yaml));
    let yaml = stdout(&yaml);
    assert!(yaml.starts_with("- "), "a YAML list: {yaml}");
    assert!(yaml.contains(&format!("  id: {id}\n")), "{yaml}");
    assert!(yaml.contains("  name: yaml-1"), "{yaml}");
    let get = run(&api, &["store", "get", "yaml-1", "-o", "yaml"]);
    assert!(
        stdout(&get).contains("phase: requested"),
        "{}",
        stdout(&get)
    );

    let wide = run(&api, &["store", "list", "-o", "wide"]);
    let wide = stdout(&wide);
    let header = wide.lines().next().unwrap_or_default();
    assert!(
        header.contains("CREATED") && header.contains("HOST") && header.contains("STOREFRONT"),
        "{wide}"
    );
    // The host is known from creation, before the store is anywhere.
    assert!(wide.contains("yaml-1.127.0.0.1.nip.io"), "{wide}");
    let narrow = run(&api, &["store", "list"]);
    assert!(
        !stdout(&narrow).contains("STOREFRONT"),
        "{}",
        stdout(&narrow)
    );

    for (shell, marker) in [
        ("bash", "_storefleet()"),
        ("zsh", "#compdef storefleet"),
        ("fish", "complete -c storefleet"),
    ] {
        let out = run(&api, &["completion", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("wait"),
            "{shell} completes the store subcommands"
        );
    }
}

/// The binary with a fresh config home and none of the caller's STOREFLEET_* settings.
fn bare(config_home: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_storefleet"));
    for (key, _) in std::env::vars() {
        if key.starts_with("STOREFLEET_") {
            command.env_remove(key);
        }
    }
    command
        .env("XDG_CONFIG_HOME", config_home)
        .env("HOME", config_home);
    command
}

#[test]
fn login_saves_a_checked_profile_that_later_commands_use_and_flags_override() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let api = start_api();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("storefleet/config.toml");

    // A wrong token is refused by the API and nothing is saved.
    let refused = bare(home.path())
        .args(["login", "--api-url", &api.url, "--token", "sf_wrong"])
        .output()
        .expect("login");
    assert_eq!(refused.status.code(), Some(5), "{}", stderr(&refused));
    assert!(!config.exists(), "nothing saved for a refused token");

    // The token on standard input, as `user add … | tail -1 | storefleet login` would give it.
    let mut login = bare(home.path())
        .args(["login", "--api-url", &api.url, "--profile", "laptop"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("login");
    writeln!(login.stdin.take().expect("stdin"), "{}", api.token).expect("token");
    let out = login.wait_with_output().expect("login");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("profile laptop is current"),
        "{}",
        stdout(&out)
    );
    let mode = std::fs::metadata(&config)
        .expect("config")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the config holds tokens: owner only");

    let created = bare(home.path())
        .args(["store", "create", "prof-1", "--engine", "medusa"])
        .output()
        .expect("create");
    assert!(
        created.status.success(),
        "the profile gives address and token: {}",
        stderr(&created)
    );

    let overridden = bare(home.path())
        .args(["store", "list", "--token", "sf_wrong"])
        .output()
        .expect("list");
    assert_eq!(
        overridden.status.code(),
        Some(5),
        "a flag overrides the profile"
    );

    // Another address never gets the profile's token.
    let port = storefleet_testkit::free_port().unwrap();
    let elsewhere = bare(home.path())
        .args([
            "store",
            "list",
            "--api-url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .expect("list");
    assert_eq!(elsewhere.status.code(), Some(5), "{}", stderr(&elsewhere));
    assert!(
        stderr(&elsewhere).contains("no API token for"),
        "{}",
        stderr(&elsewhere)
    );

    let unknown = bare(home.path())
        .args(["store", "list", "--profile", "prod"])
        .output()
        .expect("list");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no profile prod (profiles: laptop)"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn the_token_file_just_admin_writes_is_never_sent_to_another_server() {
    // The file holds an admin token and no address: a server named by --api-url other than the
    // defaults (serve's, just's dashboard) could be anyone's, so it must not receive it.
    let api = start_api();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("storefleet")).unwrap();
    std::fs::write(
        home.path().join("storefleet/token"),
        format!("{}\n", api.token),
    )
    .unwrap();
    let refused = bare(home.path())
        .args(["store", "list", "--api-url", &api.url])
        .output()
        .expect("list");
    assert_eq!(refused.status.code(), Some(5), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("used only for the default addresses"),
        "{}",
        stderr(&refused)
    );
    // The same token given explicitly works: only the fallback is limited.
    let explicit = bare(home.path())
        .args([
            "store",
            "list",
            "--api-url",
            &api.url,
            "--token",
            &api.token,
        ])
        .output()
        .expect("list");
    assert!(explicit.status.success(), "{}", stderr(&explicit));
}

#[test]
fn a_failed_store_is_retried_by_name_and_only_a_failed_one() {
    let api = start_api();
    let created = run(&api, &["store", "create", "flaky", "--engine", "medusa"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let id = id_in(&created);

    let not_failed = run(&api, &["store", "retry", "flaky"]);
    assert_eq!(not_failed.status.code(), Some(4), "{}", stderr(&not_failed));
    assert!(
        stderr(&not_failed).contains("only a failed store can be retried; this one is requested"),
        "{}",
        stderr(&not_failed)
    );

    // Fail it as the orchestrator would (this API runs none).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let state = storefleet_state::StateStore::connect(&api.db)
            .await
            .unwrap();
        let id = id.parse().unwrap();
        assert!(
            storefleet_state::fixtures::record_failed(&state, id, "chart not found")
                .await
                .unwrap()
        );
        state.close().await;
    });
    let failed = run(&api, &["store", "get", "flaky"]);
    assert!(
        stdout(&failed).contains("phase:      failed"),
        "{}",
        stdout(&failed)
    );

    // With --wait it follows the store; no orchestrator runs here, so the wait times out (7).
    let retried = run(
        &api,
        &["store", "retry", "flaky", "--wait", "--timeout", "2s"],
    );
    assert!(
        stdout(&retried).contains(&format!(
            "retry requested for flaky ({id}); phase: provisioning"
        )),
        "{}",
        stdout(&retried)
    );
    assert_eq!(retried.status.code(), Some(7), "{}", stderr(&retried));
    let again = run(&api, &["store", "retry", &id[..13]]);
    assert_eq!(
        again.status.code(),
        Some(4),
        "now provisioning: {}",
        stderr(&again)
    );
}

#[test]
fn user_commands_say_which_database_and_never_create_one() {
    let elsewhere = tempfile::tempdir().unwrap();
    let add = bare(elsewhere.path())
        .current_dir(elsewhere.path())
        .args(["user", "add", "carol"])
        .output()
        .expect("user add");
    assert_eq!(add.status.code(), Some(3), "{}", stderr(&add));
    let expected = elsewhere.path().join("storefleet.db");
    assert!(
        stderr(&add).contains(&format!("no database at {}", expected.display())),
        "{}",
        stderr(&add)
    );
    assert!(!expected.exists(), "no empty database was made");

    let api = start_api();
    let db = format!(
        "sqlite://{}",
        api._dir.path().join("storefleet.db").display()
    );
    let user = |args: &[&str]| {
        bare(elsewhere.path())
            .args(["user"])
            .args(args)
            .args(["--database-url", &db])
            .output()
            .expect("user command")
    };
    let added = user(&["add", "dave"]);
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(
        stderr(&added).contains(&format!(
            "database: SQLite {}",
            api._dir.path().join("storefleet.db").display()
        )),
        "says which database: {}",
        stderr(&added)
    );
    let listed = user(&["list"]);
    let names: Vec<String> = stdout(&listed)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert_eq!(names, ["merchant", "dave"], "{}", stdout(&listed));

    let created = run(&api, &["store", "create", "kept-1", "--engine", "medusa"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let refused = user(&["remove", "merchant"]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("still owns 1 live store"),
        "{}",
        stderr(&refused)
    );
    let removed = user(&["remove", "dave"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let gone = user(&["remove", "dave"]);
    assert_eq!(gone.status.code(), Some(3), "{}", stderr(&gone));
}

#[test]
fn serve_takes_a_host_name_and_exits_promptly_on_sigterm_with_an_event_stream_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("storefleet.db").display());
    let token = common::add_user(&db, "merchant", false);
    let port = storefleet_testkit::free_port().unwrap();
    let log = dir.path().join("serve.log");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args(["serve", "--listen", &format!("localhost:{port}")])
        .arg("--database-url")
        .arg(&db)
        .env("KUBECONFIG", "/nonexistent")
        .env("STOREFLEET_LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("serve");
    let url = format!("http://localhost:{port}");
    common::wait_until_healthy_blocking(&url, "serve on localhost");
    let api = ApiProcess {
        child: Command::new("true").spawn().unwrap(),
        url: url.clone(),
        token: token.clone(),
        db: db.clone(),
        _dir: tempfile::tempdir().unwrap(),
    };
    let created = run(&api, &["store", "create", "stream-1", "--engine", "medusa"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let id = id_in(&created);
    // A client following the store's events, as the dashboard or `events --follow` does.
    let follower = cli(&api)
        .args(["store", "events", &id, "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("follow");
    std::thread::sleep(Duration::from_secs(1));

    let asked = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exited_by = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = serve.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < exited_by,
            "serve still running 15 s after SIGTERM with a stream open:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut follower = follower;
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "took {:?}",
        asked.elapsed()
    );
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(log.contains("storefleet listening"), "{log}");
    assert!(
        log.contains("database=SQLite"),
        "the log names the database: {log}"
    );
    assert!(!log.contains('\u{1b}'), "no colour codes in a file: {log}");
}

#[test]
fn serve_names_the_kubernetes_api_server_it_could_not_reach() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("storefleet.db").display());
    let token = common::add_user(&db, "merchant", false);
    // A kubeconfig whose server nobody listens on: a cluster that is down, or the wrong context.
    let dead = storefleet_testkit::free_port().unwrap();
    let server = format!("https://127.0.0.1:{dead}");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: down\n\
             clusters: [{{name: down, cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}}}]\n\
             users: [{{name: someone, user: {{token: not-a-secret}}}}]\n\
             contexts: [{{name: down, context: {{cluster: down, user: someone}}}}]\n"
        ),
    )
    .unwrap();
    let port = storefleet_testkit::free_port().unwrap();
    let log = dir.path().join("serve.log");
    let serve = Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--database-url")
        .arg(&db)
        .env("KUBECONFIG", &kubeconfig)
        .env("STOREFLEET_LOG_FORMAT", "text")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("serve");
    let api = ApiProcess {
        child: serve,
        url: format!("http://127.0.0.1:{port}"),
        token,
        db,
        _dir: dir,
    };
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    let until = |what: &str, found: &dyn Fn(&str) -> bool| {
        let by = Instant::now() + Duration::from_secs(30);
        while !found(&logged()) {
            assert!(Instant::now() < by, "no {what} in the log:\n{}", logged());
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // At startup: the probe says which address did not answer.
    until("startup warning naming the server", &|l| {
        l.lines()
            .any(|line| line.contains("did not answer") && line.contains(&server))
    });
    // And every failed step the orchestrator logs names it too.
    let created = run(&api, &["store", "create", "far-away", "--engine", "medusa"]);
    assert!(created.status.success(), "{}", stderr(&created));
    until("step failure naming the server", &|l| {
        l.lines().any(|line| {
            line.contains("step failed") && line.contains(&format!("api_server={server}"))
        })
    });
    assert!(
        !logged().contains("not-a-secret"),
        "the kubeconfig's token stays out of logs"
    );
}
