use clap::Parser;
use conformance::Options;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let opts = Options::parse();
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
