//! `vitrine-server`: parses flags and runs the library.

use clap::Parser;
use std::process::ExitCode;
use vitrine_server::config::{Cli, ServerConfig};

fn main() -> ExitCode {
    // Parsed first: the flags say how to log. Clap prints its own errors.
    let cli = Cli::parse();
    if let Err(e) = vitrine_server::telemetry::init(cli.log_format) {
        eprintln!("vitrine-server: cannot start logging: {e}");
        return ExitCode::FAILURE;
    }
    let config = match ServerConfig::resolve(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("vitrine-server: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vitrine-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(vitrine_server::config::Command::Admin(admin)) = &cli.command {
        use vitrine_server::config::AdminCommand;
        let done = match admin {
            AdminCommand::CreateUser {
                username,
                role,
                display_name,
                password,
            } => runtime.block_on(vitrine_server::create_user(
                &config,
                username,
                (*role).into(),
                display_name.as_deref(),
                password.as_deref(),
            )),
            AdminCommand::SetRole { username, role } => {
                runtime.block_on(vitrine_server::set_role(&config, username, (*role).into()))
            }
        };
        return match done {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vitrine-server: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(vitrine_server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vitrine-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
