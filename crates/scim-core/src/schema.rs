//! The schema registry (RFC 7643 sections 4, 7 and 8.7): every attribute of the core User,
//! Enterprise User and Group schemas with its characteristics, plus the common attributes of
//! section 3.1. Built once per process; lookups are case-insensitive, as SCIM attribute names are.

use std::sync::LazyLock;

/// Core User schema URN (RFC 7643 section 4.1).
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Enterprise User extension URN (RFC 7643 section 4.3).
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Core Group schema URN (RFC 7643 section 4.2).
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Schema URN of the ServiceProviderConfig resource (RFC 7643 section 5).
pub const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// Schema URN of ResourceType resources (RFC 7643 section 6).
pub const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// Schema URN of Schema resources (RFC 7643 section 7).
pub const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// `type` characteristic (RFC 7643 section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Binary,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Reference => "reference",
            AttrType::Binary => "binary",
            AttrType::Complex => "complex",
        }
    }
}

/// `mutability` characteristic (RFC 7643 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// `returned` characteristic (RFC 7643 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// `uniqueness` characteristic (RFC 7643 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition with all its characteristics.
#[derive(Debug, Clone)]
pub struct AttributeDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    fn new(name: &'static str, ty: AttrType, description: &'static str) -> Self {
        AttributeDef {
            name,
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            description,
            sub_attributes: Vec::new(),
        }
    }
    fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttrType::String, description)
    }
    fn boolean(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttrType::Boolean, description)
    }
    fn reference(
        name: &'static str, types: &'static [&'static str], description: &'static str,
    ) -> Self {
        let mut a = Self::new(name, AttrType::Reference, description);
        a.reference_types = types;
        a
    }
    fn complex(name: &'static str, description: &'static str, subs: Vec<AttributeDef>) -> Self {
        let mut a = Self::new(name, AttrType::Complex, description);
        a.sub_attributes = subs;
        a
    }
    fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    /// The sub-attribute of this complex attribute named `name` (case-insensitive).
    pub fn sub(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema: its URN, name and attributes.
#[derive(Debug, Clone)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    /// The top-level attribute named `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// The two resource types scimd serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// `meta.resourceType` and the ResourceType id.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
    /// The endpoint below the base URL.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }
    /// The core schema URN.
    pub fn core_urn(self) -> &'static str {
        match self {
            ResourceKind::User => USER_URN,
            ResourceKind::Group => GROUP_URN,
        }
    }
}

/// Where an attribute lives: its schema (core or an extension) and definition.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    /// `None` for the core schema and common attributes, the URN for an extension.
    pub extension: Option<&'static str>,
    pub def: &'a AttributeDef,
}

/// All schemas and the common attributes, built once.
#[derive(Debug)]
pub struct Registry {
    pub user: SchemaDef,
    pub enterprise: SchemaDef,
    pub group: SchemaDef,
    /// `id`, `externalId`, `meta` (RFC 7643 section 3.1): on every resource, in no schema.
    pub common: Vec<AttributeDef>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::build);

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    /// The core schema of a resource kind.
    pub fn core(&self, kind: ResourceKind) -> &SchemaDef {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }

    /// The extension schemas a resource kind may carry.
    pub fn extensions(&self, kind: ResourceKind) -> &[SchemaDef] {
        match kind {
            ResourceKind::User => std::slice::from_ref(&self.enterprise),
            ResourceKind::Group => &[],
        }
    }

    /// The extension schema with this URN (case-insensitive) for a resource kind.
    pub fn extension(&self, kind: ResourceKind, urn: &str) -> Option<&SchemaDef> {
        self.extensions(kind)
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    fn core_or_common(&self, kind: ResourceKind, name: &str) -> Option<Located<'_>> {
        self.core(kind)
            .attribute(name)
            .or_else(|| {
                self.common
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(name))
            })
            .map(|def| Located {
                extension: None,
                def,
            })
    }

    /// Finds a top-level attribute of a resource kind. `urn` is the schema the name was
    /// qualified with, if any: the core URN (or none) searches the core schema and the common
    /// attributes (no URN: then the extensions); an extension URN searches that extension.
    pub fn locate(&self, kind: ResourceKind, urn: Option<&str>, name: &str) -> Option<Located<'_>> {
        match urn {
            Some(u) if !u.eq_ignore_ascii_case(kind.core_urn()) => {
                let ext = self.extension(kind, u)?;
                ext.attribute(name).map(|def| Located {
                    extension: Some(ext.id),
                    def,
                })
            }
            Some(_) => self.core_or_common(kind, name),
            // An unqualified name that no core or common attribute has may name an extension
            // attribute: Entra sends `manager` and `department` without their URN.
            None => self.core_or_common(kind, name).or_else(|| {
                self.extensions(kind).iter().find_map(|ext| {
                    ext.attribute(name).map(|def| Located {
                        extension: Some(ext.id),
                        def,
                    })
                })
            }),
        }
    }

    fn build() -> Registry {
        use AttributeDef as A;
        use Mutability::*;
        let multi_sub = |value: AttributeDef, types: &'static [&'static str]| {
            vec![
                value,
                A::string(
                    "display",
                    "A human-readable name, primarily used for display purposes.",
                )
                .mutability(ReadWrite),
                A::string("type", "A label indicating the attribute's function.").canonical(types),
                A::boolean(
                    "primary",
                    "A Boolean value indicating the 'primary' or preferred attribute value for this attribute.",
                ),
            ]
        };
        let name = A::complex(
            "name",
            "The components of the user's real name.",
            vec![
                A::string(
                    "formatted",
                    "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display.",
                ),
                A::string(
                    "familyName",
                    "The family name of the User, or last name in most Western languages.",
                ),
                A::string(
                    "givenName",
                    "The given name of the User, or first name in most Western languages.",
                ),
                A::string("middleName", "The middle name(s) of the User."),
                A::string(
                    "honorificPrefix",
                    "The honorific prefix(es) of the User, or title in most Western languages.",
                ),
                A::string(
                    "honorificSuffix",
                    "The honorific suffix(es) of the User, or suffix in most Western languages.",
                ),
            ],
        );
        let addresses = A::complex(
            "addresses",
            "A physical mailing address for this User.",
            vec![
                A::string("formatted", "The full mailing address, formatted for display or use with a mailing label."),
                A::string("streetAddress", "The full street address component."),
                A::string("locality", "The city or locality component."),
                A::string("region", "The state or region component."),
                A::string("postalCode", "The zip code or postal code component."),
                A::string("country", "The country name component."),
                A::string("type", "A label indicating the attribute's function.").canonical(&["work", "home", "other"]),
                A::boolean("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute."),
            ],
        )
        .multi();
        let groups = A::complex(
            "groups",
            "A list of groups to which the user belongs, either through direct membership or through nested groups.",
            vec![
                A::string("value", "The identifier of the User's group.").mutability(ReadOnly),
                A::reference("$ref", &["User", "Group"], "The URI of the corresponding 'Group' resource to which the user belongs.")
                    .mutability(ReadOnly),
                A::string("display", "A human-readable name, primarily used for display purposes.").mutability(ReadOnly),
                A::string("type", "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.")
                    .canonical(&["direct", "indirect"])
                    .mutability(ReadOnly),
            ],
        )
        .multi()
        .mutability(ReadOnly);

        let user = SchemaDef {
            id: USER_URN,
            name: "User",
            description: "User Account",
            attributes: vec![
                A::string("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.")
                    .required()
                    .unique(Uniqueness::Server),
                name,
                A::string("displayName", "The name of the User, suitable for display to end-users."),
                A::string("nickName", "The casual way to address the user in real life."),
                A::reference("profileUrl", &["external"], "A fully qualified URL pointing to a page representing the User's online profile."),
                A::string("title", "The user's title, such as \"Vice President.\""),
                A::string("userType", "Used to identify the relationship between the organization and the user."),
                A::string("preferredLanguage", "Indicates the User's preferred written or spoken language."),
                A::string("locale", "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
                A::string("timezone", "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'."),
                A::boolean("active", "A Boolean value indicating the User's administrative status."),
                A::string("password", "The User's cleartext password.")
                    .mutability(WriteOnly)
                    .returned(Returned::Never),
                A::complex("emails", "Email addresses for the user.", multi_sub(A::string("value", "Email addresses for the user."), &["work", "home", "other"])).multi(),
                A::complex("phoneNumbers", "Phone numbers for the User.", multi_sub(A::string("value", "Phone number of the User."), &["work", "home", "mobile", "fax", "pager", "other"])).multi(),
                A::complex("ims", "Instant messaging addresses for the User.", multi_sub(A::string("value", "Instant messaging address for the User."), &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"])).multi(),
                A::complex("photos", "URLs of photos of the User.", multi_sub(A::reference("value", &["external"], "URL of a photo of the User."), &["photo", "thumbnail"])).multi(),
                addresses,
                groups,
                A::complex("entitlements", "A list of entitlements for the User that represent a thing the User has.", multi_sub(A::string("value", "The value of an entitlement."), &[])).multi(),
                A::complex("roles", "A list of roles for the User that collectively represent who the User is, e.g., 'Student', 'Faculty'.", multi_sub(A::string("value", "The value of a role."), &[])).multi(),
                A::complex("x509Certificates", "A list of certificates issued to the User.", multi_sub(A::new("value", AttrType::Binary, "The value of an X.509 certificate."), &[])).multi(),
            ],
        };

        let enterprise = SchemaDef {
            id: ENTERPRISE_URN,
            name: "EnterpriseUser",
            description: "Enterprise User",
            attributes: vec![
                A::string(
                    "employeeNumber",
                    "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.",
                ),
                A::string("costCenter", "Identifies the name of a cost center."),
                A::string("organization", "Identifies the name of an organization."),
                A::string("division", "Identifies the name of a division."),
                A::string("department", "Identifies the name of a department."),
                A::complex(
                    "manager",
                    "The User's manager.",
                    vec![
                        A::string(
                            "value",
                            "The id of the SCIM resource representing the User's manager.",
                        ),
                        A::reference(
                            "$ref",
                            &["User"],
                            "The URI of the SCIM resource representing the User's manager.",
                        ),
                        A::string("displayName", "The displayName of the User's manager.")
                            .mutability(ReadOnly),
                    ],
                ),
            ],
        };

        let group = SchemaDef {
            id: GROUP_URN,
            name: "Group",
            description: "Group",
            attributes: vec![
                A::string("displayName", "A human-readable name for the Group.").required(),
                A::complex(
                    "members",
                    "A list of members of the Group.",
                    vec![
                        A::string("value", "Identifier of the member of this Group.").mutability(Immutable),
                        A::reference("$ref", &["User", "Group"], "The URI corresponding to a SCIM resource that is a member of this Group.")
                            .mutability(Immutable),
                        A::string("type", "A label indicating the type of resource, e.g., 'User' or 'Group'.")
                            .canonical(&["User", "Group"])
                            .mutability(Immutable),
                        A::string("display", "A human-readable name for the member.").mutability(ReadOnly),
                    ],
                )
                .multi(),
            ],
        };

        let common = vec![
            A::string("id", "A unique identifier for a SCIM resource as defined by the service provider.")
                .case_exact()
                .mutability(ReadOnly)
                .returned(Returned::Always)
                .unique(Uniqueness::Server),
            A::string("externalId", "A String that is an identifier for the resource as defined by the provisioning client.")
                .case_exact(),
            A::complex(
                "meta",
                "A complex attribute containing resource metadata.",
                vec![
                    A::string("resourceType", "The name of the resource type of the resource.").case_exact().mutability(ReadOnly),
                    A::new("created", AttrType::DateTime, "The DateTime that the resource was added to the service provider.").mutability(ReadOnly),
                    A::new("lastModified", AttrType::DateTime, "The most recent DateTime that the details of this resource were updated at the service provider.").mutability(ReadOnly),
                    A::reference("location", &["uri"], "The URI of the resource being returned.").case_exact().mutability(ReadOnly),
                    A::string("version", "The version of the resource being returned.").case_exact().mutability(ReadOnly),
                ],
            )
            .mutability(ReadOnly),
        ];

        Registry {
            user,
            enterprise,
            group,
            common,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_core_common_and_extension_attributes_case_insensitively() {
        let r = registry();
        assert_eq!(
            r.locate(ResourceKind::User, None, "USERNAME")
                .map(|l| l.def.name),
            Some("userName")
        );
        assert_eq!(
            r.locate(ResourceKind::User, None, "externalid")
                .map(|l| l.def.name),
            Some("externalId")
        );
        let m = r
            .locate(ResourceKind::User, Some(ENTERPRISE_URN), "Manager")
            .expect("manager");
        assert_eq!(m.extension, Some(ENTERPRISE_URN));
        let bare = r
            .locate(ResourceKind::User, None, "manager")
            .expect("bare manager");
        assert_eq!(bare.extension, Some(ENTERPRISE_URN));
        assert!(
            r.locate(ResourceKind::User, Some(USER_URN), "manager")
                .is_none()
        );
        assert!(r.locate(ResourceKind::Group, None, "members").is_some());
        assert!(
            r.locate(ResourceKind::Group, Some(ENTERPRISE_URN), "department")
                .is_none()
        );
    }

    #[test]
    fn password_is_write_only_and_never_returned() {
        let p = registry().user.attribute("password").expect("password");
        assert_eq!(p.mutability, Mutability::WriteOnly);
        assert_eq!(p.returned, Returned::Never);
    }
}
