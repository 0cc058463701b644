//! The real `vitrine-server` program, built in this package so that its
//! tests can run it as a process of its own, and `kill -9` it.

fn main() -> std::process::ExitCode {
    vitrine_server::cli_main()
}
