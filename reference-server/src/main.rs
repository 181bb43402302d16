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
    let dir = settings.data_dir.clone();
    let server = match reference_server::open(settings, Clock::system(), Default::default()) {
        Ok(s) => s,
        Err(e) => {
            let dir = dir.map(|d| d.display().to_string()).unwrap_or_default();
            eprintln!("reference-server: cannot open the data directory {dir}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    tracing::info!(%addr, persistent = server.engine.store().is_some(), "MSC4140 reference server ready");
    // The base URL on stdout, alone on its line, for scripts that start us.
    println!("http://{addr}");
    let engine = server.engine.clone();
    let storage_failed = async move {
        match engine.store() {
            Some(store) => store.journal.failed().await,
            None => std::future::pending().await,
        }
    };
    let shutdown = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
            () = storage_failed => tracing::error!("storage failed; shutting down"),
        }
    };
    let served = axum::serve(listener, server.router).with_graceful_shutdown(shutdown).await;
    server.timers.abort();
    let failed = server.engine.store().is_some_and(|s| s.journal.watermark().failed);
    if let Some(store) = server.engine.store() {
        // Everything queued so far is written before the process ends.
        store.close();
    }
    match served {
        Ok(()) if !failed => std::process::ExitCode::SUCCESS,
        Ok(()) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("reference-server: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
