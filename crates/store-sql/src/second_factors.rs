//! The second-factor statements both stores share: an administrator's enrolment and how its
//! row reads.

use crate::columns::{Columns, opt_time, time};
use crate::{Sql, Value};
use directory::ids::AdminId;
use directory::store::SecondFactor;
use directory::{OrgId, StoreError};

/// The administrator's enrolment, as [`second_factor`] reads it.
pub fn second_factor_of(org: OrgId, admin: AdminId) -> Sql {
    let mut sql = Sql::new(
        "SELECT secret, created, confirmed, last_step FROM second_factors WHERE org_id = ",
    );
    sql.bind(Value::Uuid(org.0));
    sql.push(" AND admin_id = ");
    sql.bind(Value::Uuid(admin.0));
    sql
}

/// A row of [`second_factor_of`].
pub fn second_factor(
    org: OrgId, admin: AdminId, row: &dyn Columns,
) -> Result<SecondFactor, StoreError> {
    Ok(SecondFactor {
        org_id: org,
        admin_id: admin,
        secret: row.bytes(0)?,
        created: time(row, 1)?,
        confirmed: opt_time(row, 2)?,
        last_step: row.opt_int(3)?,
    })
}
