//! The webhook receiver the tests deliver to: `webhook_receiver.py`, which
//! verifies each request with the PyPI `standardwebhooks` package (code
//! nobody here wrote). It runs from the test command's virtual
//! environment and listens on loopback only.

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Receiver {
    pub url: String,
    base: String,
    _child: Child,
}

fn python() -> String {
    if let Ok(path) = std::env::var("WEBHOOK_RECEIVER_PYTHON") {
        return path;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci-venv/bin/python");
    assert!(
        std::path::Path::new(venv).exists(),
        "{venv} is missing: run scripts/test.sh, which installs standardwebhooks there"
    );
    venv.to_owned()
}

impl Receiver {
    pub async fn start() -> Receiver {
        let mut child = Command::new(python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/webhook_receiver.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the webhook receiver");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("the receiver prints its port");
        let port: u16 = line.trim().parse().expect("a port number");
        let base = format!("http://127.0.0.1:{port}");
        Receiver {
            url: format!("{base}/hook"),
            base,
            _child: child,
        }
    }

    async fn call(&self, method: http::Method, body: Option<Value>) -> Value {
        use http_body_util::{BodyExt, Full};
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}/control", self.base))
            .body(Full::new(bytes::Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .unwrap();
        let response = client.request(request).await.expect("the receiver answers");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).expect("the receiver answers JSON")
    }

    /// The secrets to verify with, each tried alone.
    pub async fn secrets(&self, secrets: &[&str]) {
        self.call(http::Method::PUT, Some(json!({ "secrets": secrets })))
            .await;
    }

    /// The statuses to answer in turn; 200 once they run out.
    pub async fn statuses(&self, statuses: &[u16]) {
        self.call(http::Method::PUT, Some(json!({ "statuses": statuses })))
            .await;
    }

    /// The time the library's timestamp check takes as now.
    pub async fn now(&self, secs: i64) {
        self.call(http::Method::PUT, Some(json!({ "now": secs })))
            .await;
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<Value> {
        let seen = self.call(http::Method::GET, None).await;
        seen["requests"].as_array().cloned().unwrap_or_default()
    }
}
