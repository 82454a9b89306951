//! A tiny SMTP server on `127.0.0.1:0` for the sender's tests: it speaks just enough of RFC 5321
//! (220 greeting, EHLO with `AUTH PLAIN LOGIN`, AUTH, MAIL, RCPT, DATA up to the lone `.`,
//! RSET, NOOP, QUIT), answers from a script of replies and records what the client said.

use base64::Engine;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The reply to each step (a full line without CRLF).
#[derive(Debug, Clone, Copy)]
pub struct Replies {
    /// To `AUTH`.
    pub auth: &'static str,
    /// To `RCPT TO`.
    pub rcpt: &'static str,
    /// To the `.` that ends `DATA`.
    pub data_end: &'static str,
}

impl Default for Replies {
    fn default() -> Self {
        Self {
            auth: "235 2.7.0 Authentication successful",
            rcpt: "250 2.1.5 Ok",
            data_end: "250 2.0.0 Ok: queued as 4F2A1",
        }
    }
}

/// What the client said in its last session.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The decoded `AUTH PLAIN` response (`\0user\0password`).
    pub auth_plain: Option<String>,
    /// The `MAIL FROM:` argument.
    pub mail_from: String,
    /// Every `RCPT TO:` argument.
    pub rcpt_to: Vec<String>,
    /// The message as transmitted between `DATA` and `.`.
    pub data: String,
}

#[derive(Default)]
struct Seen {
    session: Session,
    connections: usize,
}

/// A running fake SMTP server.
pub struct FakeSmtp {
    /// Its port on 127.0.0.1.
    pub port: u16,
    seen: Arc<Mutex<Seen>>,
}

impl FakeSmtp {
    /// Starts a server answering with `replies`.
    pub async fn start(replies: Replies) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                shared.lock().unwrap().connections += 1;
                tokio::spawn(converse(socket, replies, shared.clone()));
            }
        });
        Self { port, seen }
    }

    /// The last session's record.
    pub fn session(&self) -> Session {
        self.seen.lock().unwrap().session.clone()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.seen.lock().unwrap().connections
    }
}

async fn converse(socket: tokio::net::TcpStream, replies: Replies, seen: Arc<Mutex<Seen>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    if write.write_all(&say("220 fake.test ESMTP")).await.is_err() {
        return;
    }
    let mut session = Session::default();
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" | "HELO" => "250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME".to_owned(),
            "AUTH" => {
                let encoded = line.split_whitespace().nth(2).unwrap_or_default();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap_or_default();
                session.auth_plain = Some(String::from_utf8_lossy(&decoded).into_owned());
                replies.auth.to_owned()
            }
            "MAIL" => {
                session.mail_from = argument(&line);
                "250 2.1.0 Ok".to_owned()
            }
            "RCPT" => {
                session.rcpt_to.push(argument(&line));
                replies.rcpt.to_owned()
            }
            "DATA" => {
                if write
                    .write_all(&say("354 End data with <CR><LF>.<CR><LF>"))
                    .await
                    .is_err()
                {
                    break;
                }
                let mut data = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    data.push_str(&line);
                    data.push_str("\r\n");
                }
                session.data = data;
                replies.data_end.to_owned()
            }
            "RSET" | "NOOP" => "250 2.0.0 Ok".to_owned(),
            "QUIT" => {
                let _ = write.write_all(&say("221 2.0.0 Bye")).await;
                break;
            }
            _ => "502 5.5.2 Command not recognized".to_owned(),
        };
        seen.lock().unwrap().session = session.clone();
        if write.write_all(&say(&reply)).await.is_err() {
            break;
        }
    }
    seen.lock().unwrap().session = session;
}

/// One reply line with its CRLF.
fn say(line: &str) -> Vec<u8> {
    format!("{line}\r\n").into_bytes()
}

/// What follows the colon of `MAIL FROM:<…>` / `RCPT TO:<…>`, without parameters.
fn argument(line: &str) -> String {
    let (_, rest) = line.split_once(':').unwrap_or_default();
    rest.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}
