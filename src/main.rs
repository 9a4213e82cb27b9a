use std::process::ExitCode;

fn main() -> ExitCode {
    salesboard::cli::main()
}
