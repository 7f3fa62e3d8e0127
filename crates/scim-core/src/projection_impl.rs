use crate::error::ScimResult;
use crate::projection::Projection;
use crate::schema::ResourceKind;
use serde_json::Value;

pub(crate) fn parse(
    _kind: ResourceKind,
    _a: Option<&str>,
    _e: Option<&str>,
) -> ScimResult<Projection> {
    Ok(Projection::default())
}

pub(crate) fn includes(
    _p: &Projection,
    _kind: ResourceKind,
    _urn: Option<&str>,
    _name: &str,
) -> bool {
    true
}

pub(crate) fn apply(_p: &Projection, _kind: ResourceKind, _resource: &mut Value) {}
