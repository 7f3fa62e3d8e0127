//! The SQL the two stores share, free of any database driver. A statement is built once as
//! [`Sql`] (text with parameter slots and [`Value`]s) and rendered by the backend's
//! [`Dialect`], which writes the placeholders and converts the values for its driver.
//! - [`lower_filter`]: SCIM filters as SQL conditions, with the semantics of the filter
//!   evaluator; the dialect writes only how one value is read and compared;
//! - [`plan_list`]: the keyset, NULL order, paging and count logic of a SCIM list.

pub mod accounts;
mod dialect;
pub mod filter;
pub mod groups;
mod list;
pub mod members;
mod scope;
pub mod search;
mod sql;

pub use dialect::Dialect;
pub use filter::{lower_filter, top_target};
pub use list::{KeyType, Keyset, ListPlan, key_value, plan_list};
pub use scope::Scope;
pub use sql::{Sql, Value};
