//! The SQL the two stores share, free of any database driver. A statement is built once as
//! [`Sql`] (text with parameter slots and [`Value`]s) and rendered by the backend's
//! [`Dialect`], which writes the placeholders and converts the values for its driver. The list
//! planner ([`plan_list`]) is the keyset, NULL order, paging and count logic of a SCIM list,
//! the same on SQLite and PostgreSQL.

mod dialect;
mod list;
mod sql;

pub use dialect::Dialect;
pub use list::{KeyType, Keyset, ListPlan, key_value, plan_list};
pub use sql::{Sql, Value};
