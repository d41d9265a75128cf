//! The `keycode` binary end to end: generate a code, then decode it against
//! the device state the generation started from.

use std::process::{Command, Stdio};

use serde_json::Value;

fn run(args: &[&str]) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_keycode"))
        .args(args)
        .arg("--json")
        .output()
        .expect("the keycode binary runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"));
    (output.status.code().unwrap(), value)
}

const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";

#[test]
fn generates_the_official_openpaygo_vector_and_decodes_it() {
    let device = [
        "--protocol",
        "openpaygo",
        "--key",
        KEY,
        "--starting-code",
        "516959010",
    ];
    let (status, out) = run(&[
        &["generate"][..],
        &device,
        &["--count", "1", "--type", "add_time", "--value", "1"],
    ]
    .concat());
    assert_eq!(status, 0);
    assert_eq!(out["code"], "588224011");
    assert_eq!(out["nextCount"], 2);
    let (status, out) = run(&[&["decode"][..], &device, &["--count", "1", "588224011"]].concat());
    assert_eq!(status, 0);
    assert_eq!(out["result"], "valid");
    assert_eq!(out["value"], 1);
    let (_, out) = run(&[
        &["decode"][..],
        &device,
        &["--count", "2", "--used-counts", "2", "588224011"],
    ]
    .concat());
    assert_eq!(out["result"], "already_used");
}

#[test]
fn reads_a_device_list() {
    let dir = std::env::temp_dir().join(format!("keycode-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("devices.csv");
    std::fs::write(
        &list,
        format!("Serial Number,Starting Code,Key,Count,Time Divider,Restricted Digit Mode\nSN1,516959010,{KEY},1,1,0\n"),
    )
    .unwrap();
    let list = list.to_str().unwrap();
    let (status, out) = run(&[
        "generate",
        "--device-list",
        list,
        "--serial",
        "SN1",
        "--type",
        "add_time",
        "--value",
        "1",
    ]);
    assert_eq!(status, 0);
    assert_eq!(out["code"], "588224011");
    let (status, out) = run(&[
        "generate",
        "--device-list",
        list,
        "--serial",
        "SN2",
        "--type",
        "unlock",
    ]);
    assert_eq!(status, 2);
    assert!(out["error"].as_str().unwrap().contains("SN2"));
}

#[test]
fn nexus_codes_round_trip_and_bad_input_is_a_json_error() {
    let key = "deadbeefdeadbeefdeadbeefdeadbeef";
    let (_, out) = run(&[
        "generate",
        "--protocol",
        "nexus-full",
        "--key",
        key,
        "--count",
        "44",
        "--type",
        "unlock",
    ]);
    assert_eq!(out["code"], "*578 396 697 305 45#");
    let (_, out) = run(&[
        "decode",
        "--protocol",
        "nexus-full",
        "--key",
        key,
        "*578 396 697 305 45#",
    ]);
    assert_eq!(out["result"], "applied");
    assert_eq!(out["action"]["action"], "unlock");
    let nexus_full = |key: &'static str, code_type: &'static str| {
        vec![
            "generate",
            "--protocol",
            "nexus-full",
            "--key",
            key,
            "--count",
            "1",
            "--type",
            code_type,
        ]
    };
    for bad in [
        nexus_full("nothex", "unlock"),
        nexus_full(key, "1_minute"),
        nexus_full(key, "warp_speed"),
        vec![
            "decode",
            "--protocol",
            "openpaygo",
            "--key",
            key,
            "--count",
            "1",
            "12ab",
        ],
    ] {
        let (status, out) = run(&bad);
        assert_eq!(status, 2, "{bad:?}");
        assert!(out["error"].is_string(), "{bad:?}: {out}");
    }
}

#[test]
fn a_reader_that_stops_early_is_not_a_crash() {
    // Many lines of text output, and a stdout pipe whose reader is already
    // gone, as with `keycode ... | head -0`.
    let mut child = Command::new(env!("CARGO_BIN_EXE_keycode"))
        .args([
            "decode",
            "--protocol",
            "openpaygo",
            "--key",
            KEY,
            "--count",
            "1",
            "588224011",
        ])
        .args(["--starting-code", "516959010"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the keycode binary runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
