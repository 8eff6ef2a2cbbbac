//! Client commands: `storefleet store create|list|get|delete|retry|credentials|events` against a running API.

use crate::cli::LoginArgs;
use crate::cli::{ClientArgs, StoreCommand, StoreOutput, WaitFor};
use crate::exit_code::{fail, Failure};
use crate::profiles;
use crate::store_ref;
use crate::views::{self, read};
use anyhow::Context as _;
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let config = match profiles::config_path() {
            Some(path) => profiles::load(&path)?,
            None => profiles::Config::default(),
        };
        let target = profiles::resolve(
            args.api_url.as_deref(),
            args.token.as_deref(),
            args.profile.as_deref(),
            &config,
        )?;
        let token = target
            .token
            .or_else(|| profiles::token_from_file(&target.api_url));
        Self::at(&target.api_url, token)
    }

    /// A client of the API at `url` (checked for the mistakes people make) with `token`.
    fn at(url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/');
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return fail(
                Failure::Usage,
                format!("--api-url {base} has no scheme: did you mean http://{base} ?"),
            );
        }
        if let Some(server) = base.strip_suffix("/api/v1") {
            return fail(
                Failure::Usage,
                format!("--api-url {base} ends in /api/v1: give the server's base URL, {server}"),
            );
        }
        let Some(token) = token else {
            let file = if profiles::token_file_serves(base) {
                ""
            } else {
                " (the token file `just admin` writes is used only for the default addresses)"
            };
            return fail(
                Failure::Auth,
                format!("no API token for {base}: run storefleet login, pass --token or set STOREFLEET_TOKEN{file}"),
            );
        };
        Ok(Self {
            base: base.to_owned(),
            token,
            http: reqwest::Client::new(),
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn send(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return self.unreachable(&e),
        };
        json_or_error(response).await
    }
}

impl Api {
    /// A request that never got an answer: name the URL and the cause.
    fn unreachable<T>(&self, error: &reqwest::Error) -> anyhow::Result<T> {
        let cause = std::error::Error::source(error)
            .map(|c| c.to_string())
            .unwrap_or_else(|| error.to_string());
        fail(
            Failure::Unavailable,
            format!("could not reach the API at {}: {cause}", self.base),
        )
    }

    /// Every store the caller may see that `filter` (query parameters) selects, page by page.
    async fn list_all(&self, filter: &[(&str, &str)]) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut request = self
                .request(Method::GET, "/stores")
                .query(&[("limit", "200")])
                .query(filter);
            if let Some(after) = &after {
                request = request.query(&[("after", after)]);
            }
            let page: views::StorePage = read(&self.send(request).await?)?;
            items.extend(page.items);
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// The id of the store a command line names (see [`store_ref`]); a full id is taken as is.
    async fn store_id(&self, reference: &str) -> anyhow::Result<String> {
        if uuid::Uuid::parse_str(reference).is_ok() {
            return Ok(reference.to_owned());
        }
        // Deleted stores too: an id prefix may name one (its events stay readable).
        let stores: Vec<views::Store> =
            read(&Value::Array(self.list_all(&[("phase", "all")]).await?))?;
        store_ref::resolve(reference, &stores)
    }
}

async fn json_or_error(response: Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    // An error answer of another shape (a proxy's HTML page) still names its status.
    let detail = read::<views::ErrorBody>(&body).unwrap_or_default().error;
    let message = detail.message.as_deref().unwrap_or("no error message");
    let failure = Failure::from_status(status.as_u16());
    match detail.field {
        Some(field) => fail(failure, format!("{status}: {field}: {message}")),
        None => fail(failure, format!("{status}: {message}")),
    }
}

/// The text of an optional field, or `default` where the answer has none.
fn text_or<'a>(value: &'a Option<String>, default: &'a str) -> &'a str {
    value.as_deref().unwrap_or(default)
}

fn print_store(store: &views::Store) {
    println!("id:         {}", text_or(&store.id, "-"));
    println!("name:       {}", text_or(&store.name, "-"));
    println!("owner:      {}", text_or(&store.owner, "-"));
    println!(
        "engine:     {}  plan: {}",
        text_or(&store.engine, "-"),
        text_or(&store.plan, "-")
    );
    println!("phase:      {}", text_or(&store.phase, "-"));
    println!("host:       {}", text_or(&store.host, "-"));
    println!("namespace:  {}", text_or(&store.namespace, "-"));
    if let Some(message) = &store.message {
        println!("message:    {message}");
    }
    for (key, value) in [
        ("storefront_url", &store.storefront_url),
        ("admin_url", &store.admin_url),
        ("expires_at", &store.expires_at),
    ] {
        if let Some(value) = value {
            println!("{:<11} {value}", format!("{key}:"));
        }
    }
    for condition in &store.conditions {
        println!(
            "  {:<18} {:<6} {:<22} {}",
            text_or(&condition.kind, "?"),
            text_or(&condition.status, "?"),
            text_or(&condition.reason, ""),
            text_or(&condition.message, "")
        );
    }
}

/// The owner's credential view, one `label: value` per line; absent fields are left out.
fn print_credentials(credentials: &views::Credentials) {
    for (label, field) in [
        ("storefront", &credentials.storefront_url),
        ("admin", &credentials.admin_url),
        ("admin user", &credentials.admin_user),
        ("admin email", &credentials.admin_email),
        ("admin password", &credentials.admin_password),
        ("publishable key", &credentials.publishable_key),
    ] {
        if let Some(value) = field {
            println!("{:<16} {value}", format!("{label}:"));
        }
    }
}

fn print_event(event: &views::Event) {
    println!(
        "{}  {:<7} {:<22} {}",
        text_or(&event.at, "?"),
        text_or(&event.kind, "?"),
        text_or(&event.reason, "?"),
        text_or(&event.message, "")
    );
}

/// Print `value` as asked: JSON or YAML as the API answered it, or read as `T` through `human`
/// (which is told whether the wide view was asked for).
fn emit<T: DeserializeOwned>(
    output: StoreOutput,
    value: &Value,
    human: impl FnOnce(T, bool),
) -> anyhow::Result<()> {
    match output {
        StoreOutput::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        StoreOutput::Yaml => print!("{}", serde_yaml_ng::to_string(value).unwrap_or_default()),
        StoreOutput::Human => human(read(value)?, false),
        StoreOutput::Wide => human(read(value)?, true),
    }
    Ok(())
}

pub async fn store_command(command: StoreCommand) -> anyhow::Result<()> {
    match command {
        StoreCommand::Create {
            name,
            engine,
            plan,
            ttl_seconds,
            idempotency_key,
            wait,
            timeout,
            client,
        } => {
            let api = Api::new(&client)?;
            let mut body = json!({"name": name, "engine": engine});
            if let Some(plan) = plan {
                body["plan"] = json!(plan);
            }
            if let Some(ttl) = ttl_seconds {
                body["ttl_seconds"] = json!(ttl);
            }
            let mut request = api.request(Method::POST, "/stores").json(&body);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            let store = api.send(request).await?;
            emit(client.output, &store, |s, _| print_store(&s))?;
            if wait {
                let id = read::<views::Store>(&store)?
                    .id
                    .context("API returned a store without an id")?;
                wait_for(&api, &id, WaitFor::Ready, timeout).await?;
            }
            Ok(())
        }
        StoreCommand::List {
            phase,
            engine,
            owner,
            client,
        } => {
            let api = Api::new(&client)?;
            let mut filter = vec![("phase", phase.as_str())];
            filter.extend(engine.as_deref().map(|e| ("engine", e)));
            filter.extend(owner.as_deref().map(|o| ("owner", o)));
            let items = api.list_all(&filter).await?;
            emit(
                client.output,
                &Value::Array(items),
                |items: Vec<views::Store>, wide| {
                    let head = format!(
                        "{:<38} {:<24} {:<12} {:<7} {:<13} {:<16}",
                        "ID", "NAME", "ENGINE", "PLAN", "PHASE", "OWNER"
                    );
                    if wide {
                        println!(
                            "{head} {:<26} {:<44} {:<40} MESSAGE",
                            "CREATED", "HOST", "STOREFRONT"
                        );
                    } else {
                        println!("{}", head.trim_end());
                    }
                    for s in &items {
                        let row = format!(
                            "{:<38} {:<24} {:<12} {:<7} {:<13} {:<16}",
                            text_or(&s.id, "-"),
                            text_or(&s.name, "-"),
                            text_or(&s.engine, "-"),
                            text_or(&s.plan, "-"),
                            text_or(&s.phase, "-"),
                            text_or(&s.owner, "-")
                        );
                        if wide {
                            println!(
                                "{row} {:<26} {:<44} {:<40} {}",
                                text_or(&s.created_at, "-"),
                                text_or(&s.host, "-"),
                                text_or(&s.storefront_url, "-"),
                                text_or(&s.message, "")
                            );
                        } else {
                            println!("{}", row.trim_end());
                        }
                    }
                },
            )
        }
        StoreCommand::Get { id, client } => {
            let api = Api::new(&client)?;
            let id = api.store_id(&id).await?;
            let store = api
                .send(api.request(Method::GET, &format!("/stores/{id}")))
                .await?;
            emit(client.output, &store, |s, _| print_store(&s))
        }
        StoreCommand::Delete { id, client } => {
            let api = Api::new(&client)?;
            let id = api.store_id(&id).await?;
            let store = api
                .send(api.request(Method::DELETE, &format!("/stores/{id}")))
                .await?;
            emit(client.output, &store, |s: views::Store, _| {
                println!(
                    "deletion requested for {} ({}); phase: {}",
                    text_or(&s.name, "?"),
                    id,
                    text_or(&s.phase, "?")
                )
            })?;
            Ok(())
        }
        StoreCommand::Retry {
            id,
            wait,
            timeout,
            client,
        } => {
            let api = Api::new(&client)?;
            let id = api.store_id(&id).await?;
            let store = api
                .send(api.request(Method::POST, &format!("/stores/{id}/retry")))
                .await?;
            emit(client.output, &store, |s: views::Store, _| {
                println!(
                    "retry requested for {} ({}); phase: {}",
                    text_or(&s.name, "?"),
                    id,
                    text_or(&s.phase, "?")
                )
            })?;
            if wait {
                wait_for(&api, &id, WaitFor::Ready, timeout).await?;
            }
            Ok(())
        }
        StoreCommand::Credentials { id, client } => {
            let api = Api::new(&client)?;
            let id = api.store_id(&id).await?;
            let credentials = api
                .send(api.request(Method::GET, &format!("/stores/{id}/credentials")))
                .await?;
            emit(client.output, &credentials, |c, _| print_credentials(&c))
        }
        StoreCommand::Wait {
            id,
            r#for,
            timeout,
            client,
        } => {
            let api = Api::new(&client)?;
            let id = api.store_id(&id).await?;
            wait_for(&api, &id, r#for, timeout).await
        }
        StoreCommand::Events { id, follow, client } => {
            let api = Api::new(&client)?;
            let id = api.store_id(&id).await?;
            if follow {
                return follow_events(&api, &id, client.output).await;
            }
            let events = api
                .send(api.request(Method::GET, &format!("/stores/{id}/events")))
                .await?;
            let events: views::EventPage = read(&events)?;
            emit(
                client.output,
                &Value::Array(events.items),
                |items: Vec<views::Event>, _| items.iter().for_each(print_event),
            )
        }
    }
}

/// Stream events over Server-Sent Events until the store is deleted or the user stops.
async fn follow_events(api: &Api, id: &str, output: StoreOutput) -> anyhow::Result<()> {
    let response = api
        .request(Method::GET, &format!("/stores/{id}/events"))
        .header("Accept", "text/event-stream")
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(e) => return api.unreachable(&e),
    };
    if !response.status().is_success() {
        json_or_error(response).await?;
        return Ok(());
    }
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(
            &chunk.context("event stream broke")?,
        ));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let event_name = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("message");
            let data = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect::<Vec<_>>()
                .join("\n");
            match event_name {
                "store-event" => {
                    let event: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                    match output {
                        StoreOutput::Json => println!("{data}"),
                        StoreOutput::Yaml => print!(
                            "---\n{}",
                            serde_yaml_ng::to_string(&event).unwrap_or_default()
                        ),
                        // A frame this client cannot read prints as unknown rather than
                        // ending the stream.
                        StoreOutput::Human | StoreOutput::Wide => {
                            print_event(&read(&event).unwrap_or_default())
                        }
                    }
                }
                "end" => return Ok(()),
                _ => {}
            }
        }
    }
    Ok(())
}

/// How often a store being waited on is looked at, and how often a wait with no change says
/// it is still waiting.
const WAIT_POLL: Duration = Duration::from_secs(1);
const STILL_WAITING_EVERY: Duration = Duration::from_secs(15);

/// Wait until the store is ready (or deleted), printing each condition as it changes and, while
/// nothing changes, the step it waits on, each line with the time elapsed. Ends with
/// [`Failure::Timeout`] at `timeout`, [`Failure::StoreFailed`] when the store fails.
async fn wait_for(api: &Api, id: &str, target: WaitFor, timeout: Duration) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut last_line = started;
    loop {
        let elapsed = started.elapsed();
        let stamp = format!("[{:>4}s]", elapsed.as_secs());
        let response = api
            .request(Method::GET, &format!("/stores/{id}"))
            .send()
            .await;
        let store = match response {
            Ok(response) if target == WaitFor::Deleted && response.status() == 404 => {
                println!("{stamp} store is deleted");
                return Ok(());
            }
            Ok(response) => read::<views::Store>(&json_or_error(response).await?)?,
            Err(e) => return api.unreachable(&e),
        };
        for condition in &store.conditions {
            let kind = text_or(&condition.kind, "?").to_owned();
            let line = format!(
                "{} {} {}",
                text_or(&condition.status, "?"),
                text_or(&condition.reason, ""),
                text_or(&condition.message, "")
            );
            if seen.get(&kind) != Some(&line) {
                println!("{stamp} {kind:<18} {line}");
                seen.insert(kind, line);
                last_line = std::time::Instant::now();
            }
        }
        let phase = text_or(&store.phase, "?");
        match (target, phase) {
            (WaitFor::Ready, "ready") => {
                println!("{stamp} store is ready");
                println!("storefront: {}", text_or(&store.storefront_url, "-"));
                println!("admin:      {}", text_or(&store.admin_url, "-"));
                println!("credentials: storefleet store credentials {id}");
                return Ok(());
            }
            (WaitFor::Ready, "failed") => {
                return fail(
                    Failure::StoreFailed,
                    format!(
                        "store failed: {}",
                        text_or(&store.message, "no reason recorded")
                    ),
                )
            }
            (WaitFor::Ready, "deleting" | "deleted") => {
                return fail(Failure::StoreFailed, "store is being deleted")
            }
            (WaitFor::Deleted, "deleted") => {
                println!("{stamp} store is deleted");
                return Ok(());
            }
            _ => {}
        }
        if elapsed >= timeout {
            return fail(
                Failure::Timeout,
                format!(
                    "store is still {phase} after {} s (--timeout); {}",
                    timeout.as_secs(),
                    store.waiting_on()
                ),
            );
        }
        if last_line.elapsed() >= STILL_WAITING_EVERY {
            println!("{stamp} still {phase}: {}", store.waiting_on());
            last_line = std::time::Instant::now();
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// `storefleet login`: check the token against the API, then save it as a profile and make that
/// profile current.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let token = match args.token {
        Some(token) => token,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("could not read the token from standard input")?;
            line.trim().to_owned()
        }
    };
    if token.is_empty() {
        return fail(
            Failure::Usage,
            "no token: pass --token, set STOREFLEET_TOKEN or give it on standard input",
        );
    }
    let api = Api::at(&args.api_url, Some(token.clone()))?;
    api.send(api.request(Method::GET, "/stores?limit=1"))
        .await
        .context("the token was not saved")?;
    let Some(path) = profiles::config_path() else {
        return fail(
            Failure::General,
            "no place for the config: set HOME, XDG_CONFIG_HOME or STOREFLEET_CONFIG",
        );
    };
    let mut config = profiles::load(&path)?;
    config.profiles.insert(
        args.profile.clone(),
        profiles::Profile {
            api_url: api.base.clone(),
            token,
        },
    );
    config.current = Some(args.profile.clone());
    profiles::save(&path, &config)?;
    println!(
        "logged in to {}; profile {} is current (saved in {})",
        api.base,
        args.profile,
        path.display()
    );
    Ok(())
}
