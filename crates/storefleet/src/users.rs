//! `storefleet migrate`, `storefleet user add` and `user rotate-token`: direct database
//! commands for operators.

use crate::cli::DatabaseArgs;
use anyhow::Context as _;
use storefleet_state::{AuditEntry, Role, StateStore};

pub async fn migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    StateStore::connect(&db.database_url)
        .await
        .context("migration failed")?;
    println!("database is up to date");
    Ok(())
}

/// Create a user; the token is printed once, alone on the last line, and only its hash is kept.
pub async fn add(name: &str, admin: bool, db: &DatabaseArgs) -> anyhow::Result<()> {
    storefleet_domain::validate_user_name(name).map_err(anyhow::Error::msg)?;
    let state = StateStore::connect(&db.database_url)
        .await
        .context("could not open the state store")?;
    let token = storefleet_api::auth::generate_token();
    let role = if admin { Role::Admin } else { Role::User };
    let user = state
        .create_user(
            name,
            role,
            &storefleet_api::auth::hash_token(&token),
            chrono::Utc::now(),
        )
        .await?;
    println!(
        "created {} {} ({}); its API token follows and is shown only once:",
        user.role, user.name, user.id
    );
    println!("{token}");
    Ok(())
}

/// Replace a user's token; the new one is printed once, alone on the last line.
pub async fn rotate_token(name: &str, db: &DatabaseArgs) -> anyhow::Result<()> {
    let state = StateStore::connect(&db.database_url)
        .await
        .context("could not open the state store")?;
    let token = storefleet_api::auth::generate_token();
    let audit = AuditEntry {
        actor: "cli".to_owned(),
        action: "user.rotate_token".to_owned(),
        target: Some(name.to_owned()),
        source_ip: None,
        request_id: None,
        outcome: "succeeded".to_owned(),
        detail: None,
    };
    let user = state
        .rotate_token(
            name,
            &storefleet_api::auth::hash_token(&token),
            &audit,
            chrono::Utc::now(),
        )
        .await?
        .with_context(|| format!("no user named {name:?}; nothing changed"))?;
    println!(
        "new API token for {} {} ({}); the old one no longer works. It follows and is shown only once:",
        user.role, user.name, user.id
    );
    println!("{token}");
    Ok(())
}
