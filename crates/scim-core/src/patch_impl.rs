use crate::error::{ScimError, ScimResult};
use crate::patch::{PatchOperation, PatchOutcome};
use crate::schema::ResourceKind;
use serde_json::Value;

pub(crate) fn parse_patch(_kind: ResourceKind, _body: &Value) -> ScimResult<Vec<PatchOperation>> {
    Err(ScimError::invalid_syntax("not yet implemented"))
}

pub(crate) fn apply_patch(
    _kind: ResourceKind,
    _doc: &Value,
    _ops: &[PatchOperation],
) -> ScimResult<PatchOutcome> {
    Err(ScimError::invalid_syntax("not yet implemented"))
}
