use crate::error::{ScimError, ScimResult};
use crate::resource::Normalized;
use crate::schema::ResourceKind;
use serde_json::Value;

pub(crate) fn normalize(_kind: ResourceKind, _body: &Value) -> ScimResult<Normalized> {
    Err(ScimError::invalid_syntax("not yet implemented"))
}
