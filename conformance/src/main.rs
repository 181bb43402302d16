use clap::Parser;
use conformance::Options;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let opts = Options::parse();
    if opts.write_appservice_registration {
        return write_registration(&opts);
    }
    let fail_on = opts.fail_levels();
    let allow_na = opts.allow_not_applicable;
    let outputs = (opts.junit.clone(), opts.json.clone(), opts.markdown.clone());
    let report = match conformance::runner::run(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("msc4140-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.summary());
    let files =
        [(outputs.0, report.to_junit()), (outputs.1, report.to_json()), (outputs.2, report.to_markdown())];
    for (path, text) in files {
        if let Some(path) = path {
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("msc4140-conformance: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::from(report.exit_code(&fail_on, allow_na))
}

/// `--write-appservice-registration`: a fresh registration for the suite's service.
fn write_registration(opts: &Options) -> ExitCode {
    let (Some(path), Some(url)) = (
        opts.appservice_registration.as_ref(),
        opts.appservice_url.clone().or_else(|| opts.appservice_listen.map(|a| format!("http://{a}"))),
    ) else {
        eprintln!("msc4140-conformance: --write-appservice-registration needs --appservice-url or --appservice-listen");
        return ExitCode::from(2);
    };
    let text = conformance::appservice::fresh_registration(&url);
    if let Err(e) = std::fs::write(path, &text) {
        eprintln!("msc4140-conformance: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    print!("{text}");
    eprintln!("msc4140-conformance: wrote {}; install it in the server under test", path.display());
    ExitCode::SUCCESS
}
