//! The SQL the two stores share, free of any database driver. A statement is built once as
//! [`Sql`] (text with parameter slots and [`Value`]s) and rendered by the backend's
//! [`Dialect`], which writes the placeholders and converts the values for its driver.
//! - [`lower_filter`]: SCIM filters as SQL conditions, with the semantics of the filter
//!   evaluator; the dialect writes only how one value is read and compared;
//! - [`plan_list`]: the keyset, NULL order, paging and count logic of a SCIM list;
//! - [`Columns`]: a result row as each backend reads it, so that rows become model values
//!   (resources, accounts, groups) in one place.

pub mod accounts;
pub mod admins;
mod columns;
pub mod credentials;
mod dialect;
pub mod domains;
pub mod events;
pub mod filter;
pub mod groups;
mod list;
pub mod members;
pub mod notices;
pub mod orgs;
mod page;
mod scope;
pub mod search;
pub mod second_factors;
mod sql;
pub mod webhooks;

pub use columns::{
    Columns, RESOURCE_COLS, local_json, opt_time, resource, source, state_local, time,
};
pub use dialect::Dialect;
pub use filter::{lower_filter, top_target};
pub use list::{KeyType, Keyset, ListPlan, SCIM_VISIBLE, key_value, plan_list, scim_rows};
pub use page::{ListPage, cut_page, keyset_page, open_after, seal_next};
pub use scope::Scope;
pub use sql::{Sql, Value};
