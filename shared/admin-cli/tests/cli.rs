//! The quick-start path: keygen, create a client, import devices into the
//! seed file, sign an auth token, and check the seed serves it.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use domain::auth::{AuthConfig, P256SigningKey};
use domain::clients::AccountId;
use domain::clock::{SystemClock, Timestamp};
use domain::devices::{CreditState, SerialNumber};
use domain::AuthService;
use storage::{MemoryStore, Seed, Stores};

fn admin(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_platform-admin"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = admin(dir, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

const IMPORT: &[&str] = &[
    "import-devices",
    "--client-key",
    "ck_demo",
    "--csv",
    "devices.csv",
];

const DEVICE_LIST: &str =
    "Serial Number,Starting Code,Key,Count,Time Divider,Restricted Digit Mode,Credit State,Credit Until\n\
    TEST1,516959010,bc41ec9530f6dac86b1a29ab82edc5fb,1,1,0,,\n\
    TEST2,432435255,dac86b1a29ab82edc5fbbc41ec9530f6,10,24,1,active,2030-01-01T00:00:00Z\n";

/// A list whose second device states a credit that does not exist.
const BAD_CREDIT_LIST: &str = "Serial Number,Starting Code,Key,Credit State\n\
    BAD1,516959010,bc41ec9530f6dac86b1a29ab82edc5fb,locked\n\
    BAD2,516959010,bc41ec9530f6dac86b1a29ab82edc5fb,paid\n";

#[tokio::test]
async fn the_seed_file_carries_clients_keys_and_devices_to_the_local_api() {
    let dir = std::env::temp_dir().join(format!("platform-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("devices.csv"), DEVICE_LIST).unwrap();

    ok(&dir, &["keygen", "--out", "demo.pem"]);
    ok(&dir, &["keygen", "--out", "second.pem"]);
    let created = ok(
        &dir,
        &[
            "create-client",
            "--name",
            "Demo",
            "--client-key",
            "ck_demo",
            "--public-key",
            "demo.pub",
        ],
    );
    assert!(created.contains("ck_demo"));
    let (code, _, err) = admin(
        &dir,
        &[
            "create-client",
            "--name",
            "Again",
            "--client-key",
            "ck_demo",
        ],
    );
    assert_eq!((code, err.contains("already exists")), (2, true));
    ok(
        &dir,
        &[
            "add-key",
            "--client-key",
            "ck_demo",
            "--public-key",
            "second.pub",
        ],
    );
    let (code, _, err) = admin(
        &dir,
        &[
            "add-key",
            "--client-key",
            "ck_nobody",
            "--public-key",
            "second.pub",
        ],
    );
    assert_eq!((code, err.contains("no client")), (2, true));

    std::fs::write(dir.join("bad-credit.csv"), BAD_CREDIT_LIST).unwrap();
    let (code, _, err) = admin(
        &dir,
        &[
            "import-devices",
            "--client-key",
            "ck_demo",
            "--csv",
            "bad-credit.csv",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("line 3") && err.contains("credit state"),
        "{err}"
    );
    let imported = ok(&dir, IMPORT);
    assert!(imported.contains(r#""created":2"#), "{imported}");
    let again = ok(&dir, IMPORT);
    assert!(again.contains(r#""alreadyRegistered":2"#), "{again}");
    let key = ok(
        &dir,
        &["device-key", "--client-key", "ck_demo", "--serial", "TEST2"],
    );
    assert_eq!(key.trim(), "dac86b1a29ab82edc5fbbc41ec9530f6");

    let token = ok(
        &dir,
        &[
            "sign-auth-token",
            "--client-key",
            "ck_demo",
            "--private-key",
            "second.pem",
        ],
    );

    let seed = Seed::load(&dir.join(".local/seed.json")).unwrap();
    let store = Arc::new(MemoryStore::from_seed(seed).unwrap());
    let stores = Stores::from(store);
    let demo = AccountId::parse("ck_demo").unwrap();
    let device = stores
        .devices()
        .get_device(&demo, &SerialNumber::parse("TEST2").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (device.count, device.secrets.starting_code),
        (10, Some(432435255))
    );
    assert_eq!(
        (device.credit.state, device.credit.until),
        (
            CreditState::Active,
            Timestamp::parse_rfc3339("2030-01-01T00:00:00Z")
        )
    );
    let plain = stores
        .devices()
        .get_device(&demo, &SerialNumber::parse("TEST1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plain.credit.state, CreditState::Locked);
    assert_eq!(
        stores
            .devices()
            .get_device(&demo, &SerialNumber::parse("BAD1").unwrap())
            .await
            .unwrap(),
        None,
        "a list with a bad row imports nothing"
    );
    let auth = AuthService::new(
        stores.clients(),
        Arc::new(SystemClock),
        P256SigningKey::generate(),
        AuthConfig::default(),
    );
    auth.exchange(token.trim(), "auth")
        .await
        .expect("the signed token authenticates");

    // API keys: shown once, stored as hashes, revocable by id.
    let api_key = |label: &str| -> (String, String) {
        let out = ok(
            &dir,
            &[
                "create-api-key",
                "--client-key",
                "ck_demo",
                "--label",
                label,
            ],
        );
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        (
            json["id"].as_str().unwrap().to_owned(),
            json["apiKey"].as_str().unwrap().to_owned(),
        )
    };
    let (first_id, first) = api_key("ci");
    let (_, second) = api_key("ops");
    let (code, _, err) = admin(&dir, &["create-api-key", "--client-key", "ck_nobody"]);
    assert_eq!((code, err.contains("no client")), (2, true));
    let listed = ok(&dir, &["list-api-keys", "--client-key", "ck_demo"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(!listed.contains(&first) && listed.contains(&first_id));
    ok(
        &dir,
        &[
            "revoke-api-key",
            "--client-key",
            "ck_demo",
            "--id",
            &first_id,
        ],
    );
    let (code, _, err) = admin(
        &dir,
        &[
            "revoke-api-key",
            "--client-key",
            "ck_demo",
            "--id",
            &first_id,
        ],
    );
    assert_eq!((code, err.contains("has no API key")), (2, true));

    // M-Pesa callbacks: the token shown once, in both Daraja paths.
    let created = ok(
        &dir,
        &[
            "create-mpesa-callback",
            "--client-key",
            "ck_demo",
            "--short-code",
            "600638",
        ],
    );
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let token = created["callbackToken"].as_str().unwrap().to_owned();
    assert_eq!(created["currency"], "KES");
    assert_eq!(
        created["confirmationPath"],
        format!("/payments/mpesa/{token}/confirmation")
    );
    for refused in [
        &["--client-key", "ck_nobody", "--short-code", "600638"][..],
        &["--client-key", "ck_demo", "--short-code", "6006x8"],
        &[
            "--client-key",
            "ck_demo",
            "--short-code",
            "600638",
            "--currency",
            "kes",
        ],
    ] {
        let mut args = vec!["create-mpesa-callback"];
        args.extend_from_slice(refused);
        assert_eq!(admin(&dir, &args).0, 2, "{refused:?}");
    }
    let listed = ok(&dir, &["list-mpesa-callbacks", "--client-key", "ck_demo"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(!listed.contains(&token) && listed.contains("600638"));
    let callback_id = created["id"].as_str().unwrap();
    let seed_text = std::fs::read_to_string(dir.join(".local/seed.json")).unwrap();
    assert!(!seed_text.contains(&second), "only hashes are stored");
    assert!(!seed_text.contains(&token), "only hashes are stored");
    assert!(seed_text.contains(callback_id));
    let store = MemoryStore::from_seed(Seed::load(&dir.join(".local/seed.json")).unwrap()).unwrap();
    let stores = Stores::from(Arc::new(store));
    let find = |key: &str| domain::clients::api_keys::lookup_hash(key).unwrap();
    assert!(stores
        .api_keys()
        .find_api_key(&find(&second))
        .await
        .unwrap()
        .is_some());
    assert!(stores
        .api_keys()
        .find_api_key(&find(&first))
        .await
        .unwrap()
        .is_none());
    let mpesa = stores
        .mpesa()
        .list_callbacks(&AccountId::parse("ck_demo").unwrap())
        .await
        .unwrap();
    assert_eq!(mpesa.len(), 1);
    let revoke = [
        "revoke-mpesa-callback",
        "--client-key",
        "ck_demo",
        "--id",
        callback_id,
    ];
    ok(&dir, &revoke);
    let (code, _, err) = admin(&dir, &revoke);
    assert_eq!((code, err.contains("has no M-Pesa callback")), (2, true));
    std::fs::remove_dir_all(&dir).unwrap();
}
