use clap::Parser;
use reference_server::clock::Clock;
use reference_server::config::Cli;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match cli.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reference-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let listener = match tokio::net::TcpListener::bind(settings.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("reference-server: cannot listen on {}: {e}", settings.listen);
            return std::process::ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(settings.listen);
    let server = reference_server::start(settings, Clock::system());
    tracing::info!(%addr, "MSC4140 reference server ready");
    // The base URL on stdout, alone on its line, for scripts that start us.
    println!("http://{addr}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    let served = axum::serve(listener, server.router).with_graceful_shutdown(shutdown).await;
    server.timers.abort();
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reference-server: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
