//! The `storefleet` binary: one process kind per subcommand, configuration from flags and env.

mod cli;
mod client;
mod order_check;
mod platform_key;
mod server;
mod users;

use clap::Parser;
use cli::{Cli, Command, DatabaseArgs, LogFormat, UserCommand};
use std::process::ExitCode;

fn init_logging(db: &DatabaseArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&db.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match db.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            init_logging(&args.db);
            server::serve_until_shutdown(args, server::Role::Both).await
        }
        Command::Api(args) => {
            init_logging(&args.db);
            server::serve_until_shutdown(args, server::Role::ApiOnly).await
        }
        Command::Orchestrator(args) => {
            init_logging(&args.db);
            server::serve_until_shutdown(args, server::Role::OrchestratorOnly).await
        }
        Command::Migrate(db) => users::migrate(&db).await,
        Command::User(UserCommand::Add { name, admin, db }) => users::add(&name, admin, &db).await,
        Command::User(UserCommand::RotateToken { name, db }) => {
            users::rotate_token(&name, &db).await
        }
        Command::Store(command) => client::store_command(command).await,
        Command::OrderCheck(args) => order_check::place_and_report(&args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
