//! `updraft users ...`: what an `[[api.users]]` entry needs.

use clap::Subcommand;
use std::io::BufRead;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Read a password (one line on stdin) and print its Argon2 hash for
    /// `[[api.users]] password_hash`
    HashPassword,
}

pub fn run(cmd: UsersCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UsersCommand::HashPassword => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = line.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err(super::usage("give the password as one line on stdin"));
            }
            let hash = crate::settings::hash_password(password).map_err(anyhow::Error::msg)?;
            println!("{hash}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
