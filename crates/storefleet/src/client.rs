//! Client commands: `storefleet store create|list|get|delete|credentials|events` against a running API.

use crate::cli::{ClientArgs, Output, StoreCommand};
use anyhow::{bail, Context as _};
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response};
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
        let token = args
            .token
            .clone()
            .context("no API token: pass --token or set STOREFLEET_TOKEN")?;
        Ok(Self {
            base: args.api_url.trim_end_matches('/').to_owned(),
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
        let response = request
            .send()
            .await
            .with_context(|| format!("could not reach the API at {}", self.base))?;
        json_or_error(response).await
    }
}

async fn json_or_error(response: Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("no error message");
    match body["error"]["field"].as_str() {
        Some(field) => bail!("{status}: {field}: {message}"),
        None => bail!("{status}: {message}"),
    }
}

fn print_store(store: &Value) {
    let field = |k: &str| store[k].as_str().unwrap_or("-").to_owned();
    println!("id:         {}", field("id"));
    println!("name:       {}", field("name"));
    println!("owner:      {}", field("owner"));
    println!("engine:     {}  plan: {}", field("engine"), field("plan"));
    println!("phase:      {}", field("phase"));
    println!("namespace:  {}", field("namespace"));
    if let Some(message) = store["message"].as_str() {
        println!("message:    {message}");
    }
    for key in ["storefront_url", "admin_url", "expires_at"] {
        if let Some(value) = store[key].as_str() {
            println!("{:<11} {value}", format!("{key}:"));
        }
    }
    for condition in store["conditions"].as_array().into_iter().flatten() {
        println!(
            "  {:<18} {:<6} {:<22} {}",
            condition["type"].as_str().unwrap_or("?"),
            condition["status"].as_str().unwrap_or("?"),
            condition["reason"].as_str().unwrap_or(""),
            condition["message"].as_str().unwrap_or("")
        );
    }
}

/// The owner's credential view, one `label: value` per line; absent fields are left out.
fn print_credentials(credentials: &Value) {
    for (label, field) in [
        ("storefront", "storefront_url"),
        ("admin", "admin_url"),
        ("admin user", "admin_user"),
        ("admin email", "admin_email"),
        ("admin password", "admin_password"),
        ("publishable key", "publishable_key"),
    ] {
        if let Some(value) = credentials[field].as_str() {
            println!("{:<16} {value}", format!("{label}:"));
        }
    }
}

fn print_event(event: &Value) {
    println!(
        "{}  {:<7} {:<22} {}",
        event["at"].as_str().unwrap_or("?"),
        event["kind"].as_str().unwrap_or("?"),
        event["reason"].as_str().unwrap_or("?"),
        event["message"].as_str().unwrap_or("")
    );
}

fn emit(output: Output, value: &Value, human: impl FnOnce(&Value)) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        Output::Human => human(value),
    }
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
            emit(client.output, &store, print_store);
            if wait {
                let id = store["id"]
                    .as_str()
                    .context("API returned a store without an id")?;
                wait_until_settled(&api, id).await?;
            }
            Ok(())
        }
        StoreCommand::List { client } => {
            let api = Api::new(&client)?;
            let mut items = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let path = match &after {
                    Some(a) => format!("/stores?limit=200&after={a}"),
                    None => "/stores?limit=200".to_owned(),
                };
                let page = api.send(api.request(Method::GET, &path)).await?;
                items.extend(page["items"].as_array().cloned().unwrap_or_default());
                match page["next_after"].as_str() {
                    Some(next) => after = Some(next.to_owned()),
                    None => break,
                }
            }
            emit(client.output, &Value::Array(items), |items| {
                println!(
                    "{:<38} {:<24} {:<12} {:<7} {:<13} OWNER",
                    "ID", "NAME", "ENGINE", "PLAN", "PHASE"
                );
                for s in items.as_array().into_iter().flatten() {
                    println!(
                        "{:<38} {:<24} {:<12} {:<7} {:<13} {}",
                        s["id"].as_str().unwrap_or("?"),
                        s["name"].as_str().unwrap_or("?"),
                        s["engine"].as_str().unwrap_or("?"),
                        s["plan"].as_str().unwrap_or("?"),
                        s["phase"].as_str().unwrap_or("?"),
                        s["owner"].as_str().unwrap_or("?")
                    );
                }
            });
            Ok(())
        }
        StoreCommand::Get { id, client } => {
            let api = Api::new(&client)?;
            let store = api
                .send(api.request(Method::GET, &format!("/stores/{id}")))
                .await?;
            emit(client.output, &store, print_store);
            Ok(())
        }
        StoreCommand::Delete { id, client } => {
            let api = Api::new(&client)?;
            let store = api
                .send(api.request(Method::DELETE, &format!("/stores/{id}")))
                .await?;
            emit(client.output, &store, |s| {
                println!(
                    "deletion requested for {} ({}); phase: {}",
                    s["name"].as_str().unwrap_or("?"),
                    id,
                    s["phase"].as_str().unwrap_or("?")
                )
            });
            Ok(())
        }
        StoreCommand::Credentials { id, client } => {
            let api = Api::new(&client)?;
            let credentials = api
                .send(api.request(Method::GET, &format!("/stores/{id}/credentials")))
                .await?;
            emit(client.output, &credentials, print_credentials);
            Ok(())
        }
        StoreCommand::Events { id, follow, client } => {
            let api = Api::new(&client)?;
            if follow {
                return follow_events(&api, &id, client.output).await;
            }
            let events = api
                .send(api.request(Method::GET, &format!("/stores/{id}/events")))
                .await?;
            emit(client.output, &events["items"], |items| {
                items.as_array().into_iter().flatten().for_each(print_event)
            });
            Ok(())
        }
    }
}

/// Stream events over Server-Sent Events until the store is deleted or the user stops.
async fn follow_events(api: &Api, id: &str, output: Output) -> anyhow::Result<()> {
    let response = api
        .request(Method::GET, &format!("/stores/{id}/events"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .with_context(|| format!("could not reach the API at {}", api.base))?;
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
                        Output::Json => println!("{data}"),
                        Output::Human => print_event(&event),
                    }
                }
                "end" => return Ok(()),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Print each condition as it changes until the store is ready or failed.
async fn wait_until_settled(api: &Api, id: &str) -> anyhow::Result<()> {
    let mut seen: HashMap<String, String> = HashMap::new();
    loop {
        let store = api
            .send(api.request(Method::GET, &format!("/stores/{id}")))
            .await?;
        for condition in store["conditions"].as_array().into_iter().flatten() {
            let kind = condition["type"].as_str().unwrap_or("?").to_owned();
            let line = format!(
                "{} {} {}",
                condition["status"].as_str().unwrap_or("?"),
                condition["reason"].as_str().unwrap_or(""),
                condition["message"].as_str().unwrap_or("")
            );
            if seen.get(&kind) != Some(&line) {
                println!("{kind:<18} {line}");
                seen.insert(kind, line);
            }
        }
        match store["phase"].as_str() {
            Some("ready") => {
                println!("store is ready");
                println!(
                    "storefront: {}",
                    store["storefront_url"].as_str().unwrap_or("-")
                );
                println!("admin:      {}", store["admin_url"].as_str().unwrap_or("-"));
                println!("credentials: storefleet store credentials {id}");
                return Ok(());
            }
            Some("failed") => bail!(
                "store failed: {}",
                store["message"].as_str().unwrap_or("no reason recorded")
            ),
            Some("deleting") | Some("deleted") => bail!("store is being deleted"),
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}
