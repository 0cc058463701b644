//! `vitrine-server`: parses flags and runs the library.

fn main() -> std::process::ExitCode {
    vitrine_server::cli_main()
}
