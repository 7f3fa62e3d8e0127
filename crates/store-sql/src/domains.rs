//! The domain statements both stores share: an organisation's domains and how a row reads.

use crate::columns::{Columns, opt_time, time};
use crate::{Sql, Value};
use directory::store::DomainRecord;
use directory::{OrgId, StoreError};

/// The organisation's domains by name, as [`domain`] reads them.
pub fn domains_of(org: OrgId) -> Sql {
    let mut sql =
        Sql::new("SELECT name, txt, created, verified, verified_by FROM domains WHERE org_id = ");
    sql.bind(Value::Uuid(org.0));
    sql.push(" ORDER BY name");
    sql
}

/// A row of [`domains_of`].
pub fn domain(org: OrgId, row: &dyn Columns) -> Result<DomainRecord, StoreError> {
    Ok(DomainRecord {
        org_id: org,
        name: row.text(0)?,
        txt: row.text(1)?,
        created: time(row, 2)?,
        verified: opt_time(row, 3)?,
        verified_by: row.opt_text(4)?,
    })
}
