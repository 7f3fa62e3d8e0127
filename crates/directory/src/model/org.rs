//! An organisation's directory-sync connection (the organisation itself is
//! [`crate::ids::Organisation`]).

use time::OffsetDateTime;

/// An organisation's directory-sync connection (docs/contract.md, "Tokens and the connection").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No token was ever generated (or the state was never recorded).
    NotConnected,
    /// A token exists; no SCIM request has succeeded with it yet.
    Pending,
    /// A SCIM request succeeded with a token.
    Active,
    /// An administrator disconnected directory sync.
    Disconnected,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::NotConnected => "not connected",
            ConnectionState::Pending => "pending",
            ConnectionState::Active => "active",
            ConnectionState::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "not connected" => ConnectionState::NotConnected,
            "pending" => ConnectionState::Pending,
            "active" => ConnectionState::Active,
            "disconnected" => ConnectionState::Disconnected,
            _ => return None,
        })
    }
}

/// The connection state and when it last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub state: ConnectionState,
    pub changed: OffsetDateTime,
}
