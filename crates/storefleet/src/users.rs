//! `storefleet migrate` and `storefleet user add|rotate-token|list|remove`: direct database
//! commands for operators. The user commands say which database they act on and never create
//! one: run elsewhere than `serve`, they would otherwise make an empty database whose tokens
//! the running server rejects.

use crate::cli::DatabaseArgs;
use crate::exit_code::{fail, Failure};
use anyhow::Context as _;
use storefleet_state::{AuditAction, AuditEntry, AuditOutcome, Role, StateStore, UserError};

/// Open the existing state store for a user command, saying which one on stderr; a SQLite file
/// that does not exist is an error instead of a new, empty database.
async fn open_existing(db: &DatabaseArgs) -> anyhow::Result<StateStore> {
    if let Some(path) = crate::database_url::absolute_sqlite_file(&db.database_url) {
        if !path.exists() {
            return fail(
                Failure::NotFound,
                format!(
                    "no database at {}: user commands never create one. Run them where `storefleet serve` runs, \
                     or pass the --database-url (STOREFLEET_DATABASE_URL) it uses; `storefleet migrate` creates a new one",
                    path.display()
                ),
            );
        }
    }
    eprintln!(
        "database: {}",
        crate::database_url::describe(&db.database_url)
    );
    StateStore::connect(&db.database_url)
        .await
        .context("could not open the state store")
}

pub async fn migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    StateStore::connect(&db.database_url)
        .await
        .context("migration failed")?;
    println!("database is up to date");
    Ok(())
}

/// Create a user; the token is printed once, alone on the last line, and only its hash is kept.
pub async fn add(name: &str, admin: bool, db: &DatabaseArgs) -> anyhow::Result<()> {
    let name = storefleet_domain::UserName::parse(name)?;
    let state = open_existing(db).await?;
    let token = storefleet_api::auth::generate_token();
    let role = if admin { Role::Admin } else { Role::User };
    let user = state
        .create_user(
            &name,
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
    let state = open_existing(db).await?;
    let token = storefleet_api::auth::generate_token();
    let audit = AuditEntry {
        actor: "cli".to_owned(),
        action: AuditAction::UserRotateToken,
        target: Some(name.to_owned()),
        source_ip: None,
        request_id: None,
        outcome: AuditOutcome::Succeeded,
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

/// Every user, one per line: name, role, created.
pub async fn list(db: &DatabaseArgs) -> anyhow::Result<()> {
    let state = open_existing(db).await?;
    println!("{:<32} {:<6} CREATED", "NAME", "ROLE");
    for user in state.list_users().await? {
        println!(
            "{:<32} {:<6} {}",
            user.name,
            user.role,
            user.created_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    Ok(())
}

/// Remove a user (audited); refused while the user owns a store that is not deleted.
pub async fn remove(name: &str, db: &DatabaseArgs) -> anyhow::Result<()> {
    let state = open_existing(db).await?;
    let audit = AuditEntry {
        actor: "cli".to_owned(),
        action: AuditAction::UserRemove,
        target: Some(name.to_owned()),
        source_ip: None,
        request_id: None,
        outcome: AuditOutcome::Succeeded,
        detail: None,
    };
    match state.remove_user(name, &audit, chrono::Utc::now()).await {
        Ok(user) => {
            println!(
                "removed {} {} ({}); its token no longer works",
                user.role, user.name, user.id
            );
            Ok(())
        }
        Err(e @ UserError::NotFound(_)) => fail(Failure::NotFound, format!("{e}; nothing changed")),
        Err(e @ UserError::OwnsStores { .. }) => fail(Failure::Conflict, e.to_string()),
        Err(e) => Err(e.into()),
    }
}
