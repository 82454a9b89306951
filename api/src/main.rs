//! The `switchboard` binary.
#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc instead of the system allocator: the outbound engine spent about a fifth of its
/// time in glibc's malloc and free (per-record buffers freed on other threads), and ran about
/// 1.5x faster with mimalloc in `api/benches/outbound.rs`. Built without transparent huge
/// pages (the workspace's `no_thp` feature): with them `serve` spent about a tenth of its CPU
/// zeroing 2 MiB pages faulted in again after mimalloc returned them, and peaked above 150 MB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match switchboard_api::cli::Cli::parse().run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("switchboard: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
