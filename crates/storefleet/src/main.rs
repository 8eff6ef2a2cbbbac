//! The `storefleet` binary: one process kind per subcommand, configuration from flags and env.

mod cli;
mod client;
mod cluster_connect;
mod database_url;
mod exit_code;
mod order_check;
mod platform_key;
mod profiles;
mod retention;
mod server;
mod store_ref;
mod users;
mod views;

use clap::Parser;
use cli::{Cli, Command, DatabaseArgs, LogFormat, UserCommand};
use std::process::ExitCode;

fn init_logging(db: &DatabaseArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&db.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let json = match db.log_format {
        LogFormat::Auto => !terminal,
        LogFormat::Json => true,
        LogFormat::Text => false,
    };
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init()
    } else {
        // Colour codes only where a terminal shows them, never in a file or a pipe.
        builder.with_ansi(terminal).init()
    }
}

/// Client commands end quietly when their reader goes away (`store list -o json | head`), as
/// kubectl and other Unix tools do, instead of panicking on the broken pipe. Only for them: a
/// server must survive a client that hangs up.
fn reset_sigpipe() {
    sigpipe::reset();
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
        Command::User(UserCommand::List { db }) => users::list(&db).await,
        Command::User(UserCommand::Remove { name, db }) => users::remove(&name, &db).await,
        Command::Store(command) => {
            reset_sigpipe();
            client::store_command(command).await
        }
        Command::Login(args) => client::login(args).await,
        Command::Completion { shell } => {
            reset_sigpipe();
            let mut command = <cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "storefleet", &mut std::io::stdout());
            Ok(())
        }
        Command::OrderCheck(args) => {
            reset_sigpipe();
            order_check::place_and_report(&args).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code::of(&e).exit_code()
        }
    }
}
