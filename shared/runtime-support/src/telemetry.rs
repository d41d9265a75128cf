//! Logging: JSON lines on Lambda (CloudWatch parses them), readable text
//! locally. Every line of a request carries its span's request id, and,
//! once authenticated, its client key; never a secret. On Lambda the EMF
//! metrics (`metrics`) are switched on here too.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
    let on_lambda = function.is_some();
    if let Some(name) = &function {
        crate::metrics::enable(name);
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second init (tests start several servers) keeps the first subscriber.
    let _ = if on_lambda {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init()
    } else {
        let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
        builder.compact().with_ansi(colour).try_init()
    };
}
