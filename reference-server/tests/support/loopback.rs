//! The release-style server as a child process on loopback, and a keep-alive HTTP/1.1 client:
//! shared by the process-level tests and the benchmark.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

pub struct Process {
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Process {
    /// Start the server binary with `args` (a free loopback port is added) and wait for the base
    /// URL it prints once it serves.
    pub fn start(args: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start reference-server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout).read_line(&mut line).expect("base URL");
        let addr = line.trim().trim_start_matches("http://").to_string();
        assert!(!addr.is_empty(), "reference-server did not start ({args:?})");
        Process { child, addr }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

pub type Client = SendRequest<Full<Bytes>>;

pub async fn connect(addr: &str) -> Client {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    tx
}

/// One request; `None` when the connection broke (the server died) before an answer.
pub async fn try_call(
    tx: &mut Client,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Option<(u16, Bytes)> {
    tx.ready().await.ok()?;
    let mut req = hyper::Request::builder().method(method).uri(path).header("host", "localhost");
    if !token.is_empty() {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let req =
        req.header("content-type", "application/json").body(Full::new(Bytes::from(body.to_string()))).ok()?;
    let res = tx.send_request(req).await.ok()?;
    let status = res.status().as_u16();
    Some((status, res.into_body().collect().await.ok()?.to_bytes()))
}

pub async fn call(tx: &mut Client, method: &str, path: &str, token: &str, body: &str) -> (u16, Bytes) {
    try_call(tx, method, path, token, body).await.expect("an answer")
}

pub fn field(body: &Bytes, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("json");
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_string()
}
