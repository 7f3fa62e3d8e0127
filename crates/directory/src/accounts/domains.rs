//! An organisation's e-mail domains in the directory service: added, verified by a DNS TXT
//! record (or by an operator), removed; once one is verified, SCIM `userName`s outside the
//! verified domains are refused.
//!
//! A domain is kept as [`dns_verify::normalize_domain`] gives it (lower-case ASCII, IDNA
//! applied, at least two labels), the name its TXT record is later looked up under, whoever
//! adds it: the API, the console or the CLI.

use super::*;
use base64::Engine;

/// Random bytes in a domain's TXT value: 144 bits, unguessable, 24 characters in base64.
const TXT_SECRET_BYTES: usize = 18;

/// A fresh TXT value for a domain to publish: `scimd-domain-verification=<secret>`.
fn new_txt_value() -> Result<String, DirectoryError> {
    let mut secret = [0u8; TXT_SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|e| LifecycleError::Random(e.to_string()))?;
    Ok(dns_verify::txt_value(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ))
}

impl Directory {
    pub async fn list_domains(&self, org: OrgId) -> Result<Vec<DomainRecord>, DirectoryError> {
        Ok(self.store.list_domains(org).await?)
    }

    /// Adds a domain as an administrator typed it (`Exämple.EDU.`), normalised, with a fresh
    /// TXT value to publish. A name that is not a host name is [`DirectoryError::Invalid`].
    pub async fn add_domain(
        &self, org: OrgId, actor: &str, typed: &str,
    ) -> Result<DomainRecord, DirectoryError> {
        let name = dns_verify::normalize_domain(typed)
            .map_err(|e| DirectoryError::Invalid(e.to_string()))?;
        let d = DomainRecord {
            org_id: org,
            name: name.clone(),
            txt: new_txt_value()?,
            created: self.clock.now(),
            verified: None,
            verified_by: None,
        };
        match self.store.add_domain(&d).await {
            Err(StoreError::Conflict(_)) => {
                return Err(DirectoryError::Conflict(
                    "domain",
                    format!("the organisation already has the domain {name}"),
                ));
            }
            other => other?,
        }
        self.record(org, actor, "domain.add", name, None, None)
            .await?;
        Ok(d)
    }

    /// The domain `name` names, however it is typed: found by the name [`Directory::add_domain`]
    /// kept (`Exämple.edu` finds `xn--exmple-cua.edu`).
    async fn domain(&self, org: OrgId, name: &str) -> Result<DomainRecord, DirectoryError> {
        // A name that does not normalise was never kept, so it finds nothing either way.
        let key = dns_verify::normalize_domain(name)
            .unwrap_or_else(|_| name.trim().trim_end_matches('.').to_lowercase());
        self.store
            .list_domains(org)
            .await?
            .into_iter()
            .find(|d| d.name == key)
            .ok_or_else(|| DirectoryError::NotFound(format!("domain '{name}'")))
    }

    /// Verifies a domain by looking up its TXT record. Already verified domains stay so.
    pub async fn verify_domain(
        &self, org: OrgId, actor: &str, name: &str, dns: &dyn TxtLookup,
    ) -> Result<DomainRecord, DirectoryError> {
        let d = self.domain(org, name).await?;
        if d.verified.is_some() {
            return Ok(d);
        }
        match dns.lookup(&d.name, &d.txt).await {
            Ok(TxtOutcome::Found) => self.mark_verified(org, actor, d, "dns").await,
            Ok(TxtOutcome::Missing { seen }) => {
                // Only values of our own kind are repeated (a stale or mistyped one helps the
                // administrator): other TXT records of the name are the resolver's to keep,
                // and a resolver may be an internal one.
                let kind = d.txt.split_inclusive('=').next().unwrap_or(&d.txt);
                let (ours, others): (Vec<&String>, Vec<&String>) =
                    seen.iter().partition(|v| v.starts_with(kind));
                let mut parts: Vec<String> = ours.iter().map(|v| v.to_string()).collect();
                if !others.is_empty() {
                    parts.push(format!("{} other TXT record(s)", others.len()));
                }
                let detail = if parts.is_empty() {
                    "no TXT record".to_owned()
                } else {
                    format!("TXT records found: {}", parts.join(", "))
                };
                self.record(
                    org,
                    actor,
                    "domain.verify-failed",
                    d.name.clone(),
                    Some(detail.clone()),
                    None,
                )
                .await?;
                Err(DirectoryError::Dns(format!(
                    "{} does not publish the TXT record \"{}\" yet ({detail}); DNS changes can take a while to appear",
                    d.name, d.txt
                )))
            }
            Err(e) => Err(DirectoryError::Dns(format!(
                "cannot look up TXT records of {}: {e}",
                d.name
            ))),
        }
    }

    /// Marks a domain verified without a lookup (operators, from the CLI).
    pub async fn force_verify_domain(
        &self, org: OrgId, actor: &str, name: &str,
    ) -> Result<DomainRecord, DirectoryError> {
        let d = self.domain(org, name).await?;
        self.mark_verified(org, actor, d, actor).await
    }

    async fn mark_verified(
        &self, org: OrgId, actor: &str, mut d: DomainRecord, by: &str,
    ) -> Result<DomainRecord, DirectoryError> {
        let now = self.clock.now();
        self.store
            .set_domain_verified(org, &d.name, now, by)
            .await?;
        d.verified = Some(now);
        d.verified_by = Some(by.to_owned());
        self.record(
            org,
            actor,
            "domain.verify",
            d.name.clone(),
            Some(format!("verified by {by}")),
            None,
        )
        .await?;
        Ok(d)
    }

    pub async fn remove_domain(
        &self, org: OrgId, actor: &str, name: &str,
    ) -> Result<(), DirectoryError> {
        let d = self.domain(org, name).await?;
        self.store.remove_domain(org, &d.name).await?;
        self.record(org, actor, "domain.remove", d.name, None, None)
            .await?;
        Ok(())
    }
}
