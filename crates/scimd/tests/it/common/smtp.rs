//! An SMTP sink on loopback that keeps what it receives.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message the sink accepted: its recipients and its raw text.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
struct Sink {
    to: Vec<String>,
    data: Vec<u8>,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl mailin_embedded::Handler for Sink {
    fn data_start(
        &mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        self.inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Received {
                to: std::mem::take(&mut self.to),
                data: String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned(),
            });
        mailin_embedded::response::OK
    }
}

/// An SMTP server on a free loopback port, running for the rest of the test process.
pub struct SmtpSink {
    pub url: String,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the SMTP sink");
        let port = listener.local_addr().expect("address").port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let mut server = mailin_embedded::Server::new(Sink {
            to: Vec::new(),
            data: Vec::new(),
            inbox: inbox.clone(),
        });
        server.with_name("sink.test").with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpSink {
            url: format!("smtp://127.0.0.1:{port}"),
            inbox,
        }
    }

    /// Waits (at most 20 s) for a message whose text contains `needle`.
    pub fn wait_for(&self, needle: &str) -> Received {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self
                .inbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|m| m.data.contains(needle))
            {
                return m.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no message containing {needle:?} arrived"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn count(&self) -> usize {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
