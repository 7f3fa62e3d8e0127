//! The conformance cases, one part per area of the port. Each takes a fresh store handle,
//! creates its own organisation(s) and panics on the first behaviour that differs from the
//! contract of [`directory::Store`].

mod activity;
mod admins;
mod apps;
mod events;
mod isolation;
mod lists;
mod members;
mod orgs;
mod outbox;
mod resources;
mod second_factors;
mod tokens;
mod webhooks;

pub use activity::*;
pub use admins::*;
pub use apps::*;
pub use events::*;
pub use isolation::*;
pub use lists::*;
pub use members::*;
pub use orgs::*;
pub use outbox::*;
pub use resources::*;
pub use second_factors::*;
pub use tokens::*;
pub use webhooks::*;

use crate::oracle::{self, Coverage};
use crate::support::*;
use directory::ids::{AdminId, NoticeId};
use directory::store::{
    ActivityEntry, AdminRole, Administrator, Connection, ConnectionState, ListQuery, Load, Notice,
    NoticeKind, TokenRecord, Update,
};
use directory::{OrgId, ResourceId, Store, StoreError, TokenId};
use scim_core::messages::SortOrder;
use scim_core::patch::MemberChange;
use scim_core::schema::{ENTERPRISE_URN, ResourceKind};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use time::Duration;

const USER: ResourceKind = ResourceKind::User;
const GROUP: ResourceKind = ResourceKind::Group;

fn update(expected_version: i64) -> Update {
    Update {
        expected_version: Some(expected_version),
        doc: None,
        member_changes: Vec::new(),
        now: now(),
    }
}

fn token(org: directory::OrgId, seed: u8) -> TokenRecord {
    let mut hash = [seed; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    TokenRecord {
        id: TokenId::new(),
        org_id: org,
        prefix: format!("scimd_{seed:02x}"),
        hash,
        created: now(),
        expires: now() + Duration::days(90),
        first_used: None,
        last_used: None,
        revoked: None,
    }
}

fn long_lived_token(org: OrgId) -> TokenRecord {
    let mut hash = [7u8; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    TokenRecord {
        id: TokenId::new(),
        org_id: org,
        prefix: "scimd_abcdef".into(),
        hash,
        created: now(),
        expires: now() + Duration::days(365),
        first_used: None,
        last_used: None,
        revoked: None,
    }
}
