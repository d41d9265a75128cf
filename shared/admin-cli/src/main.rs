//! `platform-admin`: the operator's tool. Works on the local API's seed file
//! (the in-memory backend) or on a DynamoDB table, local or on AWS.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use domain::auth::{ClientAuthClaims, P256SigningKey};
use domain::clients::api_keys::ApiKey;
use domain::clients::{AccountId, Client, PublicKey, RegisteredKey};
use domain::clock::{Clock, SystemClock, Timestamp};
use domain::devices::{CreditState, NewDevice, ProtocolName, SerialNumber, StatedCredit};
use domain::money::Currency;
use domain::mpesa::{MpesaCallback, ShortCode};
use domain::{CodesError, CodesService, StoreError};
use serde_json::json;
use storage::{dynamodb_client, DynamoStore, MemoryStore, Seed, StoreBudget, Stores};

#[derive(Parser)]
#[command(
    name = "platform-admin",
    about = "Administer the activation-code platform"
)]
struct Args {
    /// The local API's seed file (the in-memory backend).
    #[arg(long, default_value = ".local/seed.json", global = true)]
    seed: PathBuf,
    /// Work on DynamoDB Local at this URL instead of the seed file.
    #[arg(long, global = true, conflicts_with = "aws")]
    dynamodb_endpoint: Option<String>,
    /// Work on the DynamoDB table in AWS, with the environment's credentials.
    #[arg(long, global = true)]
    aws: bool,
    /// The DynamoDB table.
    #[arg(long, default_value = "activation-platform", global = true)]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new P-256 private key (PKCS#8 PEM) to FILE and its public key to FILE.pub.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Create a client, optionally with its first public key.
    CreateClient {
        #[arg(long)]
        name: String,
        /// Defaults to a new random key.
        #[arg(long)]
        client_key: Option<String>,
        /// A public key PEM (or base64 SPKI) file.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Register another public key for a client.
    AddKey {
        #[arg(long)]
        client_key: String,
        #[arg(long)]
        public_key: PathBuf,
    },
    /// Print a fresh auth token for POST /auth, signed with the client's private key.
    SignAuthToken {
        #[arg(long)]
        client_key: String,
        #[arg(long)]
        private_key: PathBuf,
        /// Print this many tokens, one per line, each with its own `jti`
        /// (for load tests: every token is accepted once).
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
    /// Register every device of an OpenPAYGO device-list CSV for a client.
    ImportDevices {
        #[arg(long)]
        client_key: String,
        #[arg(long)]
        csv: PathBuf,
        /// The devices take 12-digit extended tokens.
        #[arg(long)]
        extended: bool,
    },
    /// Set how many days before a device's credit ends its account hears of
    /// it (`device.credit_expiring`; 3 unless set, 1 to 30).
    SetCreditNoticeDays {
        #[arg(long)]
        client_key: String,
        #[arg(long)]
        days: u32,
    },
    /// Print a device's secret key, e.g. to flash a device whose key the
    /// platform generated. The API never returns keys.
    DeviceKey {
        #[arg(long)]
        client_key: String,
        #[arg(long)]
        serial: String,
    },
    /// Create an API key for a client's account (`Authorization: Apikey KEY`
    /// on the licensing APIs). The key is printed once; only its hash is kept.
    CreateApiKey {
        #[arg(long)]
        client_key: String,
        /// What the key is for, to tell keys apart when listing them.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a client's API keys (ids and labels, never the keys).
    ListApiKeys {
        #[arg(long)]
        client_key: String,
    },
    /// Revoke an API key by its id; it stops working at once.
    RevokeApiKey {
        #[arg(long)]
        client_key: String,
        #[arg(long)]
        id: String,
    },
    /// Register an M-Pesa short code for a client's account: prints, once,
    /// the callback token and the validation and confirmation paths to
    /// register with Daraja. Only the token's hash is kept.
    CreateMpesaCallback {
        #[arg(long)]
        client_key: String,
        /// The paybill or till number the payments are made to.
        #[arg(long)]
        short_code: String,
        /// The currency of the short code's payments.
        #[arg(long, default_value = "KES")]
        currency: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a client's M-Pesa callbacks (ids and short codes, never the tokens).
    ListMpesaCallbacks {
        #[arg(long)]
        client_key: String,
    },
    /// Revoke an M-Pesa callback by its id; its URLs answer 404 at once.
    RevokeMpesaCallback {
        #[arg(long)]
        client_key: String,
        #[arg(long)]
        id: String,
    },
    /// Create the DynamoDB table (with --dynamodb-endpoint or --aws).
    CreateTable,
}

enum Backend {
    SeedFile(PathBuf, Arc<MemoryStore>),
    Dynamo(Arc<DynamoStore>),
}

impl Backend {
    async fn open(args: &Args) -> Result<Self, String> {
        if args.aws || args.dynamodb_endpoint.is_some() {
            let client =
                dynamodb_client(args.dynamodb_endpoint.as_deref(), StoreBudget::BACKGROUND).await;
            return Ok(Backend::Dynamo(Arc::new(DynamoStore::new(
                client,
                &args.table,
            ))));
        }
        let store = MemoryStore::from_seed(Seed::load(&args.seed)?).map_err(|e| e.to_string())?;
        Ok(Backend::SeedFile(args.seed.clone(), Arc::new(store)))
    }

    fn stores(&self) -> Stores {
        match self {
            Backend::SeedFile(_, store) => Stores::from(store.clone()),
            Backend::Dynamo(store) => Stores::from(store.clone()),
        }
    }

    /// Writes changes back; DynamoDB has them already.
    fn save(&self) -> Result<(), String> {
        match self {
            Backend::SeedFile(path, store) => store.to_seed().save(path),
            Backend::Dynamo(_) => Ok(()),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(message) = run(Args::parse()).await {
        eprintln!("platform-admin: {message}");
        std::process::exit(2);
    }
}

fn account_id(text: &str) -> Result<AccountId, String> {
    AccountId::parse(text).map_err(|e| e.to_string())
}

/// The account of a client that exists, for commands that give it something.
async fn existing_client(stores: &Stores, key: &str) -> Result<AccountId, String> {
    let key = account_id(key)?;
    match stores.clients().get_client(&key).await {
        Ok(Some(_)) => Ok(key),
        Ok(None) => Err(format!("no client {key}")),
        Err(e) => Err(e.to_string()),
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_public_key(path: &Path) -> Result<PublicKey, String> {
    PublicKey::parse(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

async fn run(args: Args) -> Result<(), String> {
    let clock = SystemClock;
    if let Command::Keygen { out } = &args.command {
        return keygen(out);
    }
    if let Command::SignAuthToken {
        client_key: key,
        private_key,
        count,
    } = &args.command
    {
        let signing_key =
            P256SigningKey::from_pkcs8_pem(&read(private_key)?).map_err(|e| e.to_string())?;
        let key = account_id(key)?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for _ in 0..*count {
            let claims = ClientAuthClaims::new(&key, &signing_key, clock.now());
            writeln!(out, "{}", signing_key.sign(&claims)).map_err(|e| e.to_string())?;
        }
        return out.flush().map_err(|e| e.to_string());
    }
    let backend = Backend::open(&args).await?;
    let stores = backend.stores();
    match &args.command {
        Command::CreateClient {
            name,
            client_key: key,
            public_key,
        } => {
            let key = match key {
                Some(text) => account_id(text)?,
                None => AccountId::generate(),
            };
            let mut public_keys = Vec::new();
            if let Some(path) = public_key {
                public_keys.push(RegisteredKey::new(&read_public_key(path)?, clock.now()));
            }
            let client = Client {
                key: key.clone(),
                name: name.clone(),
                public_keys,
                created_at: clock.now(),
            };
            stores
                .clients()
                .create_client(&client)
                .await
                .map_err(|e| match e {
                    StoreError::AlreadyExists => format!("client {key} already exists"),
                    other => other.to_string(),
                })?;
            println!("{}", json!({"clientKey": key, "name": name}));
        }
        Command::SetCreditNoticeDays {
            client_key: key,
            days,
        } => {
            let key = account_id(key)?;
            let days = domain::notices::check_days(*days)?;
            stores
                .notices()
                .set_notice_days(&key, days)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => format!("no client {key}"),
                    other => other.to_string(),
                })?;
            println!("{}", json!({"clientKey": key, "creditNoticeDays": days}));
        }
        Command::AddKey {
            client_key: key,
            public_key,
        } => {
            let key = account_id(key)?;
            let public_key = read_public_key(public_key)?;
            let registered = RegisteredKey::new(&public_key, clock.now());
            stores
                .clients()
                .add_public_key(&key, &registered)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => format!("no client {key}"),
                    StoreError::AlreadyExists => "the key is already registered".into(),
                    other => other.to_string(),
                })?;
            println!(
                "{}",
                json!({"clientKey": key, "publicKey": registered.spki})
            );
        }
        Command::ImportDevices {
            client_key: key,
            csv,
            extended,
        } => import_devices(&stores, &account_id(key)?, &read(csv)?, *extended).await?,
        Command::DeviceKey {
            client_key: key,
            serial,
        } => {
            let serial = SerialNumber::parse(serial).map_err(|e| e.to_string())?;
            let device = stores
                .devices()
                .get_device(&account_id(key)?, &serial)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no such device")?;
            println!("{}", device.secrets.key.to_hex());
        }
        Command::CreateApiKey {
            client_key: key,
            label,
        } => {
            let key = existing_client(&stores, key).await?;
            let issued = ApiKey::issue(&key, label, clock.now());
            stores
                .api_keys()
                .create_api_key(&issued.record)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                json!({"clientKey": key, "id": issued.record.id, "apiKey": issued.key})
            );
        }
        Command::ListApiKeys { client_key: key } => {
            let keys = stores
                .api_keys()
                .list_api_keys(&account_id(key)?)
                .await
                .map_err(|e| e.to_string())?;
            for k in keys {
                println!(
                    "{}",
                    json!({"id": k.id, "label": k.label, "createdAt": k.created_at})
                );
            }
        }
        Command::RevokeApiKey {
            client_key: key,
            id,
        } => {
            let key = account_id(key)?;
            stores
                .api_keys()
                .revoke_api_key(&key, id)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => format!("client {key} has no API key {id}"),
                    other => other.to_string(),
                })?;
            println!("{}", json!({"clientKey": key, "revoked": id}));
        }
        Command::CreateMpesaCallback {
            client_key: key,
            short_code,
            currency,
            label,
        } => {
            let key = existing_client(&stores, key).await?;
            let short_code =
                ShortCode::parse("--short-code", short_code).map_err(|e| e.to_string())?;
            let currency = Currency::parse("--currency", currency).map_err(|e| e.to_string())?;
            let issued = MpesaCallback::issue(&key, short_code, currency, label, clock.now());
            stores
                .mpesa()
                .create_callback(&issued.record)
                .await
                .map_err(|e| e.to_string())?;
            let path = |step: &str| format!("/payments/mpesa/{}/{step}", issued.token);
            println!(
                "{}",
                json!({"clientKey": key, "id": issued.record.id,
                    "shortCode": issued.record.short_code, "currency": issued.record.currency,
                    "callbackToken": issued.token,
                    "validationPath": path("validation"), "confirmationPath": path("confirmation")})
            );
        }
        Command::ListMpesaCallbacks { client_key: key } => {
            let callbacks = stores
                .mpesa()
                .list_callbacks(&account_id(key)?)
                .await
                .map_err(|e| e.to_string())?;
            for c in callbacks {
                println!(
                    "{}",
                    json!({"id": c.id, "shortCode": c.short_code, "currency": c.currency,
                        "label": c.label, "createdAt": c.created_at})
                );
            }
        }
        Command::RevokeMpesaCallback {
            client_key: key,
            id,
        } => {
            let key = account_id(key)?;
            stores
                .mpesa()
                .revoke_callback(&key, id)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => format!("client {key} has no M-Pesa callback {id}"),
                    other => other.to_string(),
                })?;
            println!("{}", json!({"clientKey": key, "revoked": id}));
        }
        Command::CreateTable => match &backend {
            Backend::Dynamo(store) => {
                store.create_table().await.map_err(|e| e.to_string())?;
                println!("{}", json!({"table": store.table()}));
            }
            Backend::SeedFile(..) => {
                return Err("create-table needs --dynamodb-endpoint or --aws".into())
            }
        },
        Command::Keygen { .. } | Command::SignAuthToken { .. } => unreachable!("handled above"),
    }
    backend.save()
}

/// The credit a device-list row states in its `Credit State` and
/// `Credit Until` columns, if any.
fn stated_credit(row: &keycode::device_list::DeviceRow) -> Result<Option<StatedCredit>, String> {
    let until = row
        .credit_until
        .as_deref()
        .map(|text| {
            Timestamp::parse_rfc3339(text)
                .ok_or_else(|| format!("credit until {text:?} is not an RFC 3339 time"))
        })
        .transpose()?;
    let state = match row.credit_state.as_deref() {
        None if until.is_none() => return Ok(None),
        None => CreditState::Active,
        Some("locked") => CreditState::Locked,
        Some("active") => CreditState::Active,
        Some("unlocked") => CreditState::Unlocked,
        Some(other) => {
            return Err(format!(
                "credit state {other:?} is not locked, active or unlocked"
            ))
        }
    };
    // Checked here, with the rest of the row, rather than at registration.
    domain::devices::Credit::stated(state, until, Timestamp::MIN).map_err(|e| e.to_string())?;
    Ok(Some(StatedCredit { state, until }))
}

fn keygen(out: &Path) -> Result<(), String> {
    let key = P256SigningKey::generate();
    let public = out.with_extension("pub");
    storage::memory::write_private(out, key.to_pkcs8_pem().as_bytes())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let public_pem = key.public_key().to_pem();
    std::fs::write(&public, &public_pem).map_err(|e| format!("{}: {e}", public.display()))?;
    println!(
        "{}",
        json!({"privateKey": out, "publicKey": public, "publicKeySpki": key.public_key().to_spki_base64()})
    );
    Ok(())
}

async fn import_devices(
    stores: &Stores,
    account: &AccountId,
    csv: &str,
    extended: bool,
) -> Result<(), String> {
    let rows = keycode::device_list::read_all(csv)?;
    if stores
        .clients()
        .get_client(account)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err(format!("no client {account}"));
    }
    let codes = CodesService::new(stores.devices(), stores.codes(), Arc::new(SystemClock));
    // Every row is checked before any is registered, so a bad row leaves
    // nothing half-imported.
    let requests = rows
        .iter()
        .map(|row| {
            let line = |e: String| format!("line {}: {e}", row.line);
            Ok((
                row.line,
                NewDevice {
                    serial: SerialNumber::parse(&row.serial).map_err(|e| line(e.to_string()))?,
                    protocol: ProtocolName::Openpaygo,
                    extended: Some(extended),
                    restricted_digit_set: Some(row.restricted_digit_set),
                    time_divider: Some(row.time_divider),
                    secret_key: Some(row.key.to_hex()),
                    starting_code: Some(row.starting_code),
                    count: Some(row.count),
                    credit: stated_credit(row).map_err(line)?,
                },
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let (mut created, mut existing) = (0, 0);
    for (line, request) in requests {
        match codes.register_device(account, request).await {
            Ok(_) => created += 1,
            Err(CodesError::DeviceExists) => existing += 1,
            Err(err) => return Err(format!("line {line}: {err}")),
        }
    }
    println!(
        "{}",
        json!({"created": created, "alreadyRegistered": existing})
    );
    Ok(())
}
