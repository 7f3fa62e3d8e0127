//! Protocol messages.
