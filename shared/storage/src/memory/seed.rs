//! The seed file: the clients, devices, API key and callback token hashes a memory store
//! starts from and the admin CLI writes.

use super::*;

/// The clients and devices of a memory store, as the admin CLI writes them
/// to a seed file and the local API loads them at start. Codes and used
/// token ids are not part of it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Seed {
    pub clients: Vec<Client>,
    pub devices: Vec<DeviceRecord>,
    /// Hashes only, like every store of API keys.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    /// M-Pesa callback registrations, their tokens hashed.
    #[serde(default)]
    pub mpesa_callbacks: Vec<MpesaCallback>,
    /// The notice days accounts set (`device.credit_expiring`).
    #[serde(default)]
    pub credit_notice_days: std::collections::BTreeMap<AccountId, u32>,
}

impl MemoryStore {
    pub fn from_seed(seed: Seed) -> Result<Self, StoreError> {
        let store = MemoryStore::new();
        {
            let mut state = store.lock();
            for client in seed.clients {
                state.clients.insert(client.key.clone(), client);
            }
            for record in seed.devices {
                let device = Device::try_from(record)?;
                state
                    .devices
                    .insert((device.account.clone(), device.serial.clone()), device);
            }
            for key in seed.api_keys {
                state.api_keys.insert(key.hash.clone(), key);
            }
            for callback in seed.mpesa_callbacks {
                state
                    .mpesa_callbacks
                    .insert(callback.hash.clone(), callback);
            }
            state.notice_days.extend(seed.credit_notice_days);
        }
        Ok(store)
    }

    pub fn to_seed(&self) -> Seed {
        let state = self.lock();
        Seed {
            clients: state.clients.values().cloned().collect(),
            devices: state.devices.values().map(DeviceRecord::from).collect(),
            api_keys: state.api_keys.values().cloned().collect(),
            mpesa_callbacks: state.mpesa_callbacks.values().cloned().collect(),
            credit_notice_days: state
                .notice_days
                .iter()
                .map(|(account, days)| (account.clone(), *days))
                .collect(),
        }
    }
}

impl Seed {
    /// Reads a seed file; a missing file is an empty seed.
    pub fn load(path: &std::path::Path) -> Result<Seed, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Seed::default()),
            Err(err) => Err(format!("{}: {err}", path.display())),
        }
    }

    /// Writes the seed file whole (write then rename), readable by its owner
    /// only: it holds device keys.
    pub fn save(&self, path: &std::path::Path) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("{}: {e}", path.display());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        let text = serde_json::to_string_pretty(self).expect("seeds always serialize");
        let temporary = path.with_extension("json.tmp");
        write_private(&temporary, text.as_bytes()).map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)
    }
}

/// Writes `bytes` to a new file only its owner can read.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
