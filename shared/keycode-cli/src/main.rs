//! `keycode`: generate and check PAYG keycodes from the command line, for
//! support staff and factories. Every computation is the `keycode` crate's;
//! this file only reads arguments and prints.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use keycode::codes::{self, CodeType, DeviceProtocol, DeviceSecrets};
use keycode::nexus::full::{self, FullMessage};
use keycode::nexus::small::{self, SmallMessage, Test};
use keycode::nexus::{NexusReceiver, PaygState, ReceiptWindow, Received};
use keycode::openpaygo::{self, Decoded, TokenType};
use keycode::SecretKey;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "keycode",
    version,
    about = "Generate and decode OpenPAYGO Token and Nexus Keycode codes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the next code for a device.
    Generate(GenerateArgs),
    /// Check a code against a device's state, as the device would.
    Decode(DecodeArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Protocol {
    /// OpenPAYGO Token, 9-digit standard tokens.
    Openpaygo,
    /// OpenPAYGO Token, 12-digit extended tokens.
    OpenpaygoExtended,
    /// Nexus Keycode, full protocol (0-9 keypads).
    NexusFull,
    /// Nexus Keycode, small protocol (keypads 1-5).
    NexusSmall,
}

#[derive(Args)]
struct DeviceArgs {
    /// The device's protocol (not needed with --device-list).
    #[arg(long, value_enum)]
    protocol: Option<Protocol>,
    /// The device's secret key, 32 hexadecimal characters.
    #[arg(long)]
    key: Option<String>,
    /// OpenPAYGO starting code (derived from the key when left out).
    #[arg(long)]
    starting_code: Option<u32>,
    /// OpenPAYGO: tokens in the restricted digit set (digits 1-4).
    #[arg(long)]
    restricted: bool,
    /// OpenPAYGO: token units per day.
    #[arg(long, default_value_t = 1)]
    time_divider: u32,
    /// Read the device from an OpenPAYGO device-list CSV
    /// (Serial Number,Starting Code,Key,Count,Time Divider,Restricted Digit Mode,...).
    #[arg(long, requires = "serial")]
    device_list: Option<std::path::PathBuf>,
    /// The serial number to pick from --device-list.
    #[arg(long)]
    serial: Option<String>,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// OpenPAYGO: the last count issued. Nexus: the next message id.
    /// Taken from --device-list when left out.
    #[arg(long)]
    count: Option<u32>,
    /// The code type: a platform type (add_time, set_time, 1_hour, 1_minute,
    /// credit_reset, history_reset, full_reset, unlock) or a protocol extra
    /// (counter_sync; allow_test, oqc_test, display_payg_id; short_test).
    #[arg(long = "type")]
    code_type: String,
    /// Days for add_time and set_time.
    #[arg(long, default_value_t = 0)]
    value: u32,
}

#[derive(Args)]
struct DecodeArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// OpenPAYGO: the device's last accepted count. Nexus: its Pd index.
    #[arg(long)]
    count: Option<u32>,
    /// OpenPAYGO: counts the device recorded as used, comma-separated.
    #[arg(long, value_delimiter = ',')]
    used_counts: Vec<u32>,
    /// Nexus: the device's 24 received-id flags, as a number.
    #[arg(long, default_value_t = 0)]
    received_flags: u32,
    /// Nexus: the device's PAYG state.
    #[arg(long, value_enum, default_value_t = State::Enabled)]
    payg_state: State,
    /// The code as typed.
    code: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum State {
    Disabled,
    Enabled,
    Unlocked,
}

struct Device {
    secrets: DeviceSecrets,
    count: Option<u32>,
}

fn resolve(args: &DeviceArgs) -> Result<Device, String> {
    if let Some(path) = &args.device_list {
        let serial = args.serial.as_deref().unwrap_or_default();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let row = keycode::device_list::find(&text, serial)?;
        let extended = matches!(args.protocol, Some(Protocol::OpenpaygoExtended));
        return Ok(Device {
            secrets: DeviceSecrets {
                protocol: DeviceProtocol::OpenPaygo {
                    extended,
                    restricted_digit_set: row.restricted_digit_set,
                    time_divider: row.time_divider,
                },
                key: row.key,
                starting_code: Some(row.starting_code),
            },
            count: Some(row.count),
        });
    }
    let protocol = args
        .protocol
        .ok_or("--protocol is required without --device-list")?;
    let key = args
        .key
        .as_deref()
        .ok_or("--key is required without --device-list")?;
    let key = SecretKey::from_hex(key).map_err(|e| e.to_string())?;
    let protocol = match protocol {
        Protocol::Openpaygo | Protocol::OpenpaygoExtended => DeviceProtocol::OpenPaygo {
            extended: matches!(protocol, Protocol::OpenpaygoExtended),
            restricted_digit_set: args.restricted,
            time_divider: args.time_divider,
        },
        Protocol::NexusFull => DeviceProtocol::NexusFull,
        Protocol::NexusSmall => DeviceProtocol::NexusSmall,
    };
    Ok(Device {
        secrets: DeviceSecrets {
            protocol,
            key,
            starting_code: args.starting_code,
        },
        count: None,
    })
}

fn generate(args: &GenerateArgs) -> Result<serde_json::Value, String> {
    let device = resolve(&args.device)?;
    let count = args
        .count
        .or(device.count)
        .ok_or("--count is required (the last OpenPAYGO count, or the next Nexus message id)")?;
    let secrets = &device.secrets;
    if let Ok(code_type) = args.code_type.parse::<CodeType>() {
        let code =
            codes::generate(secrets, count, code_type, args.value).map_err(|e| e.to_string())?;
        return Ok(code_json(
            &code.code,
            code_type.as_str(),
            code.count,
            code.next_count,
        ));
    }
    let code = match (args.code_type.as_str(), secrets.protocol) {
        (
            "counter_sync",
            DeviceProtocol::OpenPaygo {
                extended,
                restricted_digit_set,
                ..
            },
        ) => {
            let config = secrets.token_config(extended, restricted_digit_set);
            let token = openpaygo::encode_token(&config, count, TokenType::CounterSync, 0)
                .map_err(|e| e.to_string())?;
            return Ok(code_json(
                &token.digits,
                "counter_sync",
                token.count,
                token.count,
            ));
        }
        ("allow_test", DeviceProtocol::NexusFull) => {
            full::encode(0, FullMessage::FactoryAllowTest, &secrets.key)
        }
        ("oqc_test", DeviceProtocol::NexusFull) => {
            full::encode(0, FullMessage::FactoryOqcTest, &secrets.key)
        }
        ("display_payg_id", DeviceProtocol::NexusFull) => {
            full::encode(0, FullMessage::FactoryDisplayPaygId, &secrets.key)
        }
        ("short_test" | "oqc_test", DeviceProtocol::NexusSmall) => {
            let test = if args.code_type == "short_test" {
                Test::ShortTest
            } else {
                Test::OqcTest
            };
            let code = small::encode(0, SmallMessage::Test(test), &secrets.key)
                .map_err(|e| e.to_string())?;
            return Ok(code_json(&code.rendered, &args.code_type, 0, count));
        }
        (other, protocol) => {
            return Err(format!(
                "{other} is not a code type for the {} protocol",
                protocol.name()
            ))
        }
    }
    .map_err(|e| e.to_string())?;
    // Factory and test keycodes carry message id 0 and consume no id.
    Ok(code_json(&code.rendered, &args.code_type, 0, count))
}

/// What `generate` prints for every kind of code.
fn code_json(code: &str, code_type: &str, count: u32, next_count: u32) -> serde_json::Value {
    json!({"code": code, "type": code_type, "count": count, "nextCount": next_count})
}

fn decode(args: &DecodeArgs) -> Result<serde_json::Value, String> {
    let device = resolve(&args.device)?;
    let secrets = &device.secrets;
    let state = match args.payg_state {
        State::Disabled => PaygState::Disabled,
        State::Enabled => PaygState::Enabled,
        State::Unlocked => PaygState::Unlocked,
    };
    match secrets.protocol {
        DeviceProtocol::OpenPaygo {
            extended,
            restricted_digit_set,
            time_divider,
        } => {
            let count = args
                .count
                .or(device.count)
                .ok_or("--count (the device's last count) is required")?;
            let config = secrets.token_config(extended, restricted_digit_set);
            let decoded = openpaygo::decode_token(&config, &args.code, count, &args.used_counts)
                .map_err(|e| e.to_string())?;
            Ok(match decoded {
                Decoded::Valid {
                    value,
                    token_type,
                    count: found,
                    used_counts,
                } => json!({
                    "result": "valid",
                    "tokenType": token_type,
                    "value": value,
                    // Shown to a person: a fraction of a day, never money.
                    "days": days_shown(value, time_divider),
                    "count": found,
                    "newDeviceCount": found.max(count),
                    "usedCounts": used_counts,
                }),
                Decoded::AlreadyUsed => json!({"result": "already_used"}),
                Decoded::Invalid => json!({"result": "invalid"}),
            })
        }
        DeviceProtocol::NexusFull | DeviceProtocol::NexusSmall => {
            let window = ReceiptWindow {
                pd_index: args.count.unwrap_or(ReceiptWindow::default().pd_index),
                flags: args.received_flags,
            };
            let mut receiver = NexusReceiver {
                window,
                oqc_tests_received: 0,
            };
            let received = if secrets.protocol == DeviceProtocol::NexusFull {
                receiver.receive_full(&secrets.key, state, &args.code)
            } else {
                receiver.receive_small(&secrets.key, state, &args.code)
            };
            let window = receiver.window;
            let mut out = match received {
                Received::Applied(action) => json!({"result": "applied", "action": action}),
                Received::Duplicate => json!({"result": "duplicate"}),
                Received::Invalid => json!({"result": "invalid"}),
            };
            out["pdIndex"] = json!(window.pd_index);
            out["receivedFlags"] = json!(window.flags);
            Ok(out)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Generate(args) => generate(args),
        Command::Decode(args) => decode(args),
    };
    let (printed, status) = match result {
        Ok(value) => (print_result(&value, cli.json), ExitCode::SUCCESS),
        Err(message) if cli.json => (
            writeln!(io::stdout().lock(), "{}", json!({ "error": message })),
            ExitCode::from(2),
        ),
        Err(message) => (
            writeln!(io::stderr().lock(), "error: {message}"),
            ExitCode::from(2),
        ),
    };
    match printed {
        // A reader that stops early (`keycode ... | head -1`) is not an error.
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => ExitCode::from(1),
        _ => status,
    }
}

/// Prints a result as JSON, or as `name: value` lines. Writes through a
/// fallible writer because `println!` panics when stdout is a closed pipe.
fn print_result(value: &serde_json::Value, as_json: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if as_json {
        return writeln!(out, "{value}");
    }
    for (name, field) in value.as_object().into_iter().flatten() {
        match field {
            serde_json::Value::String(text) => writeln!(out, "{name}: {text}")?,
            other => writeln!(out, "{name}: {other}")?,
        }
    }
    Ok(())
}

/// Token units as days for display; the device counts whole units.
#[allow(clippy::float_arithmetic)]
fn days_shown(units: u32, time_divider: u32) -> f64 {
    f64::from(units) / f64::from(time_divider.max(1))
}
