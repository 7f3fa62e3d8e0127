//! Two-step verification in the console (`/settings/two-step`): the signed-in administrator
//! enrols (a QR code and the secret as text, confirmed by a first code), sees the recovery
//! codes once (kept through [`super::reveal`] and shown after a redirect, so a reload shows
//! nothing new), makes new ones, and turns it off with a current code when the organisation
//! does not require it. Administrators set the organisation's rule on Settings
//! (`/settings/require-two-step`, outside `/settings/two-step`, which is all a session that
//! must enrol first can reach). The rules and the log are [`directory::second_factor`]'s.

use super::csrf::Form;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, refusal, render, render_status,
    reveal, see_other,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use directory::second_factor::{Enrolment, SecondFactorError, SecondFactors, Status};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Where a session that must enrol first is sent.
pub(crate) const PATH: &str = "/settings/two-step";

fn service(state: &AppState) -> SecondFactors {
    SecondFactors::new(
        state.store.clone(),
        state.clock.clone(),
        state.sessions.clone(),
    )
}

/// The QR code of `url` as an inline, labelled SVG element (no script, no image request).
fn qr_svg(url: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(|_| PageError::internal())?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let svg = match svg.find("<svg") {
        Some(at) => &svg[at..],
        None => &svg,
    };
    Ok(svg.replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code for the authenticator app\" ",
        1,
    ))
}

#[derive(Template)]
#[template(path = "two_step.html")]
struct TwoStepPage {
    l: Layout,
    status: Status,
    /// The enrolment waiting for its first code, when not enrolled.
    enrolment: Option<Enrolment>,
    /// Its QR code, an inline `<svg>`.
    qr_svg: String,
    /// The organisation requires it and this session can reach nothing else yet.
    enrol_first: bool,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct CodesPage {
    l: Layout,
    codes: Vec<String>,
}

async fn page(
    state: &AppState, signed: &Signed, status_code: StatusCode, flash: Option<Flash>,
) -> PageResult {
    let svc = service(state);
    let status = svc.status(&signed.who.admin).await?;
    let enrolment = if status.enrolled {
        None
    } else {
        Some(svc.begin(&signed.who.admin, &signed.org).await?)
    };
    let qr_svg = match &enrolment {
        Some(e) => qr_svg(&e.url)?,
        None => String::new(),
    };
    let flash = flash.or_else(|| {
        (signed.who.enrol_first).then(|| Flash {
            error: false,
            text: "Your organisation requires two-step verification of every administrator: \
                   set it up to continue."
                .into(),
            field: None,
        })
    });
    Ok(render_status(
        status_code,
        &TwoStepPage {
            l: signed.layout("Two-step verification", Nav::Settings, flash),
            status,
            enrolment,
            qr_svg,
            enrol_first: signed.who.enrol_first,
        },
    ))
}

/// The page again with why a form was refused (its message next to the code field).
async fn refused(state: &AppState, signed: &Signed, e: SecondFactorError) -> PageResult {
    let (status, flash) = refusal(e)?;
    page(state, signed, status, flash).await
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>, signed: Signed, q: Query<HashMap<String, String>>,
) -> PageResult {
    let flash = done_flash(
        &q,
        &[(
            "off",
            "Two-step verification is off: your password alone signs you in.",
        )],
    );
    page(&state, &signed, StatusCode::OK, flash).await
}

/// Keeps new recovery codes for one display and redirects to it.
async fn reveal_codes(state: &AppState, signed: &Signed, codes: Vec<String>) -> PageResult {
    let handle = reveal::keep(
        state,
        signed,
        json!({"kind": "recovery-codes", "codes": codes}),
    )
    .await?;
    Ok(see_other(&format!("{PATH}/recovery-codes/{handle}")))
}

/// "Turn on": the first code from the app confirms the enrolment.
pub(super) async fn confirm(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    match service(&state)
        .confirm(&signed.who, &form.text("code"))
        .await
    {
        Ok(codes) => reveal_codes(&state, &signed, codes).await,
        Err(e) => refused(&state, &signed, e).await,
    }
}

/// "Make new recovery codes", with a current code: the old ones stop working.
pub(super) async fn regenerate(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    match service(&state)
        .regenerate(&signed.who, &form.text("code"))
        .await
    {
        Ok(codes) => reveal_codes(&state, &signed, codes).await,
        Err(e) => refused(&state, &signed, e).await,
    }
}

/// "Turn off", with a current code, unless the organisation requires it.
pub(super) async fn turn_off(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    match service(&state)
        .turn_off(&signed.who, &form.text("code"))
        .await
    {
        Ok(()) => Ok(see_other(&format!("{PATH}?done=off"))),
        Err(e) => refused(&state, &signed, e).await,
    }
}

/// The recovery codes, once.
pub(super) async fn codes(
    State(state): State<Arc<AppState>>, signed: Signed, Path(handle): Path<String>,
) -> PageResult {
    let Some(v) = reveal::take(&state, &signed, &handle, "recovery-codes").await? else {
        return Ok(reveal::already_shown(
            signed.layout("Recovery codes already shown", Nav::Settings, None),
            "list of recovery codes",
            PATH,
        ));
    };
    let codes = v
        .get("codes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(render(&CodesPage {
        l: signed.layout("Your recovery codes", Nav::Settings, None),
        codes,
    }))
}

/// The organisation's rule, from Settings (administrators only; one's own second factor
/// first).
pub(super) async fn set_required(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let on = form.text("required") == "on";
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => service(&state)
            .set_required(
                signed.org_id(),
                on,
                &signed.actor(),
                Some(signed.who.admin.id),
            )
            .await
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other(if on {
            "/settings?done=two-step-required"
        } else {
            "/settings?done=two-step-optional"
        })),
        Err(e) => super::settings::refused(&state, &signed, e, String::new()).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_qr_code_is_an_inline_labelled_svg() {
        let svg = super::qr_svg("otpauth://totp/scimd:ann?secret=ABC&issuer=scimd").expect("svg");
        assert!(svg.starts_with("<svg role=\"img\" aria-label="), "{svg}");
        assert!(!svg.contains("<?xml"));
    }
}
