//! `local-api`: the whole platform on 127.0.0.1, with an embedded in-memory
//! store by default or DynamoDB Local with `--dynamodb-endpoint`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use domain::auth::{AuthConfig, P256SigningKey};
use domain::clock::SystemClock;
use domain::webhooks::url::UrlPolicy;
use local_api::{LocalApi, LocalConfig};
use runtime_support::Platform;
use storage::{dynamodb_client, DynamoStore, MemoryStore, Seed, StoreBudget, Stores};

#[derive(Parser)]
#[command(name = "local-api", about = "Serve the platform's API locally")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: String,
    /// Use DynamoDB (Local) at this URL instead of the in-memory store.
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// The DynamoDB table.
    #[arg(long, default_value = "activation-platform")]
    table: String,
    /// Create the DynamoDB table first when it does not exist.
    #[arg(long)]
    create_table: bool,
    /// Clients and devices for the in-memory store, as `platform-admin`
    /// writes them.
    #[arg(long, default_value = ".local/seed.json")]
    seed: PathBuf,
    /// The access-token signing key (PKCS#8 PEM); generated on first start.
    #[arg(long, default_value = ".local/platform-signing-key.pem")]
    signing_key: PathBuf,
    /// The license-certificate signing key (PKCS#8 PEM); generated on first
    /// start.
    #[arg(long, default_value = ".local/license-certificate-key.pem")]
    certificate_key: PathBuf,
    /// Run the activation-challenge cleanup this often while serving.
    #[arg(long, default_value_t = 60)]
    cleanup_interval_secs: u64,
    /// Run the cleanup once on the chosen backend, print what it did, and
    /// exit instead of serving.
    #[arg(long)]
    cleanup_once: bool,
    /// How many batch chunks the in-process worker runs at once; the
    /// template's `BatchWorkerConcurrency` default unless given.
    #[arg(long, default_value_t = batch_worker_function::DEFAULT_CONCURRENCY)]
    worker_concurrency: usize,
    /// The local-development flag of webhooks: also allow endpoint URLs
    /// on loopback, over http too, so a receiver on this machine can be
    /// tried. Every other private, link-local or metadata address stays
    /// refused.
    #[arg(long)]
    allow_loopback_webhooks: bool,
    /// Resolve no webhook host names (only IP literals and `localhost`
    /// work): the contract fuzz runs this way so it asks no DNS server.
    #[arg(long)]
    no_webhook_dns: bool,
    /// Deliver webhooks to loopback only (implies
    /// --allow-loopback-webhooks): the contract fuzz runs so, so no URL it
    /// makes up is ever connected to.
    #[arg(long)]
    loopback_webhooks_only: bool,
    /// How often the in-process dispatcher and courier run, in ms.
    #[arg(long, default_value_t = 200)]
    webhook_interval_ms: u64,
}

#[tokio::main]
async fn main() {
    runtime_support::telemetry::init();
    if let Err(message) = run(Args::parse()).await {
        eprintln!("local-api: {message}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let stores = match &args.dynamodb_endpoint {
        Some(endpoint) => {
            let store = DynamoStore::new(
                dynamodb_client(Some(endpoint), StoreBudget::REQUEST).await,
                &args.table,
            );
            if args.create_table {
                store.create_table().await.map_err(|e| e.to_string())?;
            }
            Stores::from(Arc::new(store))
        }
        None => {
            let seed = Seed::load(&args.seed)?;
            let store = MemoryStore::from_seed(seed).map_err(|e| e.to_string())?;
            Stores::from(Arc::new(store))
        }
    };
    let signing_key = load_or_create_signing_key(&args.signing_key)?;
    let certificate_key = load_or_create_signing_key(&args.certificate_key)?;
    let api = Arc::new(LocalApi::new(LocalConfig {
        platform: Platform {
            stores,
            clock: Arc::new(SystemClock),
            auth: AuthConfig::default(),
            challenges: runtime_support::config::challenge_config_from_env()
                .map_err(|e| e.to_string())?,
            rate_limits: runtime_support::config::rate_limits_from_env()
                .map_err(|e| e.to_string())?,
        },
        signing_key,
        certificate_key,
        cleanup_every: (!args.cleanup_once)
            .then(|| std::time::Duration::from_secs(args.cleanup_interval_secs.max(1))),
        worker_concurrency: args.worker_concurrency,
        resolver: if args.no_webhook_dns {
            Arc::new(webhook_sender::NoResolver)
        } else {
            Arc::new(webhook_sender::SystemResolver)
        },
        webhook_policy: UrlPolicy {
            allow_loopback: args.allow_loopback_webhooks || args.loopback_webhooks_only,
            loopback_only: args.loopback_webhooks_only,
        },
        webhooks_every: (!args.cleanup_once)
            .then(|| std::time::Duration::from_millis(args.webhook_interval_ms.max(10))),
        dynamodb_endpoint: args.dynamodb_endpoint.clone(),
    }));
    if args.cleanup_once {
        let report = api.cleanup().await.map_err(|e| e.to_string())?;
        println!(
            "{}",
            serde_json::to_string(&report).expect("a report serializes")
        );
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("{}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let backend = match &args.dynamodb_endpoint {
        Some(endpoint) => format!("DynamoDB at {endpoint}, table {}", args.table),
        None => format!("in-memory store seeded from {}", args.seed.display()),
    };
    tracing::info!(%address, %backend, "local API listening");
    println!("local API on http://{address} ({backend})");
    tokio::select! {
        served = local_api::serve(listener, api) => served.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

fn load_or_create_signing_key(path: &std::path::Path) -> Result<P256SigningKey, String> {
    match std::fs::read_to_string(path) {
        Ok(pem) => {
            P256SigningKey::from_pkcs8_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = P256SigningKey::generate();
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            storage::memory::write_private(path, key.to_pkcs8_pem().as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(key)
        }
        Err(err) => Err(format!("{}: {err}", path.display())),
    }
}
