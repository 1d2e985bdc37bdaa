//! Stored templates of tenants, versioned. A template row names its current version; each
//! version (written once, never changed) holds content variants per locale and channel:
//! `{"pt-BR": {"email": {...}, "sms": {...}}, "en": {...}}`. A notification names a
//! template and gets, through [`resolve`], the content of its channel in the best locale.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pombo_contract::Channel;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    SqlErr, TransactionSession, TransactionTrait, sea_query::Expr,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{template, template_version},
};

/// Content per locale, then per channel (`"email"`, `"sms"`, …): the content JSON of
/// that channel, with placeholders.
pub type Variants = BTreeMap<String, BTreeMap<String, Value>>;

/// A template without its content.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub default_locale: String,
    pub current_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The category of notifications made from it (for recipients' preferences).
    pub category: Option<String>,
    /// What its emails track.
    pub tracking: pombo_contract::tracking::Tracking,
}

impl From<template::Model> for Template {
    fn from(row: template::Model) -> Self {
        Template {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            description: row.description,
            default_locale: row.default_locale,
            current_version: row.current_version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            category: row.category,
            tracking: pombo_contract::tracking::Tracking {
                opens: row.track_opens.unwrap_or(false),
                clicks: row.track_clicks.unwrap_or(false),
            },
        }
    }
}

/// One version of a template's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub template_id: Uuid,
    pub version: i32,
    pub default_locale: String,
    pub variants: Variants,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<template_version::Model> for Version {
    type Error = StoreError;

    fn try_from(row: template_version::Model) -> Result<Self, StoreError> {
        let variants = serde_json::from_value(row.variants).map_err(|e| {
            StoreError::Corrupt(format!(
                "template {} version {}: {e}",
                row.template_id, row.version
            ))
        })?;
        Ok(Version {
            template_id: row.template_id,
            version: row.version,
            default_locale: row.default_locale,
            variants,
            created_at: row.created_at,
        })
    }
}

/// A version in a template's history.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    pub version: i32,
    pub created_at: DateTime<Utc>,
}

/// A template with its current version and the list of all versions, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub template: Template,
    pub current: Version,
    pub versions: Vec<VersionInfo>,
}

#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tracking: pombo_contract::tracking::Tracking,
    pub default_locale: String,
    pub variants: Variants,
}

/// The next version of a template. `description: None` keeps the current one.
#[derive(Debug, Clone)]
pub struct NextVersion {
    pub description: Option<String>,
    /// `None` keeps the current category; `Some("")` removes it.
    pub category: Option<String>,
    /// `None` keeps what it tracks.
    pub tracking: Option<pombo_contract::tracking::Tracking>,
    pub default_locale: String,
    pub variants: Variants,
}

/// What a notification gets from a template: the unrendered content of its channel, and
/// which version and locale it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub template_id: Uuid,
    pub version: i32,
    pub locale_used: String,
    pub content: Value,
    /// The template's category.
    pub category: Option<String>,
    /// What the template's emails track.
    pub tracking: pombo_contract::tracking::Tracking,
}

/// `pt-BR`, `pt_br` or `PT-br` → `pt-BR`; `pt` → `pt`; `es-419` → `es-419`. `None` when
/// `tag` is not a language (2–3 letters), optionally with a region (2 letters or 3 digits).
pub fn canonical_locale(tag: &str) -> Option<String> {
    let mut parts = tag.split(['-', '_']);
    let language = parts.next()?;
    if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut out = language.to_ascii_lowercase();
    if let Some(region) = parts.next() {
        let letters = region.len() == 2 && region.chars().all(|c| c.is_ascii_alphabetic());
        let digits = region.len() == 3 && region.chars().all(|c| c.is_ascii_digit());
        if !(letters || digits) {
            return None;
        }
        out.push('-');
        out.push_str(&region.to_ascii_uppercase());
    }
    parts.next().is_none().then_some(out)
}

/// The locales to try for `requested`, best first: the exact tag, its language alone,
/// then the default (`pt-BR` → `pt` → default). Without a request, the default alone.
pub fn fallback_chain(requested: Option<&str>, default_locale: &str) -> Vec<String> {
    let mut chain: Vec<String> = Vec::new();
    let mut push = |tag: String| {
        if !chain.contains(&tag) {
            chain.push(tag);
        }
    };
    if let Some(tag) = requested {
        let tag = canonical_locale(tag).unwrap_or_else(|| tag.to_owned());
        if let Some((language, _)) = tag.split_once('-') {
            let language = language.to_owned();
            push(tag);
            push(language);
        } else {
            push(tag);
        }
    }
    push(default_locale.to_owned());
    chain
}

/// The variant of `channel` in the best locale for `requested` (see [`fallback_chain`]):
/// the locale used and the content. A locale without that channel is skipped.
pub fn pick<'a>(
    variants: &'a Variants,
    default_locale: &str,
    requested: Option<&str>,
    channel: Channel,
) -> Option<(String, &'a Value)> {
    fallback_chain(requested, default_locale)
        .into_iter()
        .find_map(|locale| {
            let content = variants.get(&locale)?.get(channel.as_str())?;
            Some((locale, content))
        })
}

/// Every channel with a variant in some locale, in [`Channel::ALL`] order.
pub fn channels(variants: &Variants) -> Vec<Channel> {
    Channel::ALL
        .into_iter()
        .filter(|c| variants.values().any(|v| v.contains_key(c.as_str())))
        .collect()
}

fn name_taken(e: sea_orm::DbErr, name: &str) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            StoreError::Conflict(format!("a template named `{name}` exists"))
        }
        _ => StoreError::Db(e),
    }
}

fn to_json(variants: &Variants) -> Value {
    serde_json::to_value(variants).expect("variants serialise")
}

/// Creates a template with its version 1.
pub async fn create(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    new: NewTemplate,
) -> Result<Detail, StoreError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let tx = crate::begin_write(db).await?;
    let row = template::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        name: Set(new.name.clone()),
        description: Set(new.description),
        default_locale: Set(new.default_locale.clone()),
        current_version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        category: Set(new.category),
        track_opens: Set(Some(new.tracking.opens)),
        track_clicks: Set(Some(new.tracking.clicks)),
    }
    .insert(&tx)
    .await
    .map_err(|e| name_taken(e, &new.name))?;
    let version = template_version::ActiveModel {
        id: Set(Uuid::now_v7()),
        template_id: Set(id),
        version: Set(1),
        default_locale: Set(new.default_locale),
        variants: Set(to_json(&new.variants)),
        created_at: Set(now),
    }
    .insert(&tx)
    .await?;
    tx.commit().await?;
    let current = Version::try_from(version)?;
    Ok(Detail {
        versions: vec![VersionInfo {
            version: 1,
            created_at: current.created_at,
        }],
        template: row.into(),
        current,
    })
}

/// The tenant's templates, by name.
pub async fn list(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<Template>, StoreError> {
    Ok(template::Entity::find()
        .filter(template::Column::TenantId.eq(tenant_id))
        .order_by_asc(template::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(Template::from)
        .collect())
}

/// A template of the tenant, by id (a UUID) or by name.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    name_or_id: &str,
) -> Result<Template, StoreError> {
    let mut query = template::Entity::find().filter(template::Column::TenantId.eq(tenant_id));
    query = match name_or_id.parse::<Uuid>() {
        Ok(id) => query.filter(template::Column::Id.eq(id)),
        Err(_) => query.filter(template::Column::Name.eq(name_or_id)),
    };
    query
        .one(db)
        .await?
        .map(Template::from)
        .ok_or(StoreError::NotFound)
}

async fn version_row(
    db: &impl ConnectionTrait,
    template_id: Uuid,
    version: i32,
) -> Result<Option<Version>, StoreError> {
    template_version::Entity::find()
        .filter(template_version::Column::TemplateId.eq(template_id))
        .filter(template_version::Column::Version.eq(version))
        .one(db)
        .await?
        .map(Version::try_from)
        .transpose()
}

/// A template with its current version's variants and its version history.
pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    name_or_id: &str,
) -> Result<Detail, StoreError> {
    let template = find(db, tenant_id, name_or_id).await?;
    let current = version_row(db, template.id, template.current_version)
        .await?
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "template {} has no row for its current version {}",
                template.id, template.current_version
            ))
        })?;
    let versions = template_version::Entity::find()
        .filter(template_version::Column::TemplateId.eq(template.id))
        .order_by_asc(template_version::Column::Version)
        .all(db)
        .await?
        .into_iter()
        .map(|row| VersionInfo {
            version: row.version,
            created_at: row.created_at,
        })
        .collect();
    Ok(Detail {
        template,
        current,
        versions,
    })
}

/// One version of a template (`None`: the current one). [`StoreError::NotFound`] when the
/// template does not exist, [`StoreError::Template`] when the version does not.
pub async fn get_version(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    name_or_id: &str,
    version: Option<i32>,
) -> Result<(Template, Version), StoreError> {
    let template = find(db, tenant_id, name_or_id).await?;
    let number = version.unwrap_or(template.current_version);
    match version_row(db, template.id, number).await? {
        Some(v) => Ok((template, v)),
        None => Err(StoreError::Template(format!(
            "template `{}` has no version {number} (the current one is {})",
            template.name, template.current_version
        ))),
    }
}

/// Writes the next version of a template and makes it current; older versions stay as
/// they were, so notifications that used them can still say what they sent.
pub async fn update(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    name_or_id: &str,
    next: NextVersion,
) -> Result<Detail, StoreError> {
    let tx = crate::begin_write(db).await?;
    let current = find(&tx, tenant_id, name_or_id).await?;
    let number = current.current_version + 1;
    let now = Utc::now();
    let raced = |e: sea_orm::DbErr| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(
            "the template was changed by another request meanwhile; read it and retry".into(),
        ),
        _ => StoreError::Db(e),
    };
    template_version::ActiveModel {
        id: Set(Uuid::now_v7()),
        template_id: Set(current.id),
        version: Set(number),
        default_locale: Set(next.default_locale.clone()),
        variants: Set(to_json(&next.variants)),
        created_at: Set(now),
    }
    .insert(&tx)
    .await
    .map_err(raced)?;
    let mut change = template::Entity::update_many()
        .col_expr(template::Column::CurrentVersion, Expr::value(number))
        .col_expr(
            template::Column::DefaultLocale,
            Expr::value(next.default_locale),
        )
        .col_expr(template::Column::UpdatedAt, Expr::value(now));
    if let Some(description) = next.description {
        let description = Some(description).filter(|d| !d.is_empty());
        change = change.col_expr(template::Column::Description, Expr::value(description));
    }
    if let Some(tracking) = next.tracking {
        change = change
            .col_expr(
                template::Column::TrackOpens,
                Expr::value(Some(tracking.opens)),
            )
            .col_expr(
                template::Column::TrackClicks,
                Expr::value(Some(tracking.clicks)),
            );
    }
    if let Some(category) = next.category {
        let category = Some(category).filter(|c| !c.is_empty());
        change = change.col_expr(template::Column::Category, Expr::value(category));
    }
    let result = change
        .filter(template::Column::Id.eq(current.id))
        .filter(template::Column::CurrentVersion.eq(current.current_version))
        .exec(&tx)
        .await?;
    if result.rows_affected != 1 {
        return Err(raced(sea_orm::DbErr::RecordNotUpdated));
    }
    let detail = get(&tx, tenant_id, &current.id.to_string()).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Deletes a template and all its versions.
pub async fn delete(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    name_or_id: &str,
) -> Result<(), StoreError> {
    let template = find(db, tenant_id, name_or_id).await?;
    template_version::Entity::delete_many()
        .filter(template_version::Column::TemplateId.eq(template.id))
        .exec(db)
        .await?;
    let result = template::Entity::delete_many()
        .filter(template::Column::Id.eq(template.id))
        .filter(template::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The content of `channel` from a tenant's template (by id or name), in the given version
/// (default: current) and the best locale for `locale` (`pt-BR` → `pt` → the version's
/// default). [`StoreError::NotFound`] when there is no such template;
/// [`StoreError::Template`] when the version does not exist or has no variant for
/// `channel`.
pub async fn resolve(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    name_or_id: &str,
    version: Option<i32>,
    locale: Option<&str>,
    channel: Channel,
) -> Result<Resolved, StoreError> {
    let (template, found) = get_version(db, tenant_id, name_or_id, version).await?;
    let Some((locale_used, content)) =
        pick(&found.variants, &found.default_locale, locale, channel)
    else {
        let tried = fallback_chain(locale, &found.default_locale).join("`, `");
        return Err(StoreError::Template(format!(
            "template `{}` version {} has no `{channel}` variant (tried locales `{tried}`)",
            template.name, found.version
        )));
    };
    Ok(Resolved {
        tracking: template.tracking,
        category: template.category.clone(),
        template_id: template.id,
        version: found.version,
        locale_used,
        content: content.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn variants(value: Value) -> Variants {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn locale_tags_are_canonicalised_or_refused() {
        assert_eq!(canonical_locale("pt-BR").as_deref(), Some("pt-BR"));
        assert_eq!(canonical_locale("pt_br").as_deref(), Some("pt-BR"));
        assert_eq!(canonical_locale("EN").as_deref(), Some("en"));
        assert_eq!(canonical_locale("es-419").as_deref(), Some("es-419"));
        for bad in [
            "",
            "p",
            "portuguese",
            "pt-",
            "pt-BRA",
            "pt-BR-x",
            "p1",
            "pt-B1",
        ] {
            assert_eq!(canonical_locale(bad), None, "{bad}");
        }
    }

    #[test]
    fn fallback_goes_from_region_to_language_to_default() {
        assert_eq!(fallback_chain(Some("pt-BR"), "en"), ["pt-BR", "pt", "en"]);
        assert_eq!(fallback_chain(Some("pt_br"), "en"), ["pt-BR", "pt", "en"]);
        assert_eq!(fallback_chain(Some("pt"), "en"), ["pt", "en"]);
        assert_eq!(fallback_chain(Some("en-US"), "en"), ["en-US", "en"]);
        assert_eq!(fallback_chain(None, "pt-BR"), ["pt-BR"]);
    }

    #[test]
    fn pick_takes_the_best_locale_that_has_the_channel() {
        let v = variants(json!({
            "en": {"email": {"subject": "en"}, "sms": {"text": "en"}},
            "pt": {"email": {"subject": "pt"}},
            "pt-BR": {"push": {"title": "t", "body": "b"}},
        }));
        let got = |locale: Option<&str>, channel| {
            pick(&v, "en", locale, channel).map(|(l, c)| (l, c.clone()))
        };
        // pt-BR has no email: its language has.
        assert_eq!(
            got(Some("pt-BR"), Channel::Email),
            Some(("pt".into(), json!({"subject": "pt"})))
        );
        // Neither pt-BR nor pt has SMS: the default has.
        assert_eq!(
            got(Some("pt-BR"), Channel::Sms),
            Some(("en".into(), json!({"text": "en"})))
        );
        assert_eq!(got(Some("pt-BR"), Channel::Push).unwrap().0, "pt-BR");
        assert_eq!(got(Some("fr"), Channel::Email).unwrap().0, "en");
        assert_eq!(got(None, Channel::Email).unwrap().0, "en");
        // Push only in pt-BR: not found from elsewhere.
        assert_eq!(got(Some("pt"), Channel::Push), None);
        assert_eq!(got(None, Channel::Webhook), None);
        assert_eq!(channels(&v), [Channel::Email, Channel::Sms, Channel::Push]);
    }

    async fn database() -> (crate::Db, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("pombo-store-{}.db", Uuid::new_v4()));
        let db = crate::open(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        (db, path)
    }

    #[tokio::test]
    async fn versions_are_kept_and_resolved_with_locale_fallback() {
        let (db, path) = database().await;
        let tenant = crate::tenants::create(&db, "t").await.unwrap();
        let other = crate::tenants::create(&db, "o").await.unwrap();
        let created = create(
            &db,
            tenant.id,
            NewTemplate {
                tracking: Default::default(),
                category: None,
                name: "welcome".into(),
                description: Some("hi".into()),
                default_locale: "en".into(),
                variants: variants(json!({
                    "en": {"sms": {"text": "Hi {{ name }}"}},
                    "pt": {"sms": {"text": "Oi {{ name }}"}},
                })),
            },
        )
        .await
        .unwrap();
        assert_eq!(created.template.current_version, 1);
        let dup = create(
            &db,
            tenant.id,
            NewTemplate {
                tracking: Default::default(),
                category: None,
                name: "welcome".into(),
                description: None,
                default_locale: "en".into(),
                variants: Variants::new(),
            },
        )
        .await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

        let updated = update(
            &db,
            tenant.id,
            "welcome",
            NextVersion {
                tracking: None,
                category: None,
                description: None,
                default_locale: "pt-BR".into(),
                variants: variants(json!({"pt-BR": {"sms": {"text": "Olá {{ name }}"}}})),
            },
        )
        .await
        .unwrap();
        assert_eq!(updated.template.current_version, 2);
        assert_eq!(updated.template.default_locale, "pt-BR");
        assert_eq!(updated.template.description.as_deref(), Some("hi"));
        assert_eq!(
            updated
                .versions
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>(),
            [1, 2]
        );

        let id = created.template.id.to_string();
        let r = resolve(&db, tenant.id, &id, None, Some("pt-BR"), Channel::Sms)
            .await
            .unwrap();
        assert_eq!((r.version, r.locale_used.as_str()), (2, "pt-BR"));
        let r = resolve(
            &db,
            tenant.id,
            "welcome",
            Some(1),
            Some("pt-BR"),
            Channel::Sms,
        )
        .await
        .unwrap();
        assert_eq!((r.version, r.locale_used.as_str()), (1, "pt"));
        assert_eq!(r.content, json!({"text": "Oi {{ name }}"}));
        let r = resolve(&db, tenant.id, "welcome", Some(1), Some("fr"), Channel::Sms)
            .await
            .unwrap();
        assert_eq!(r.locale_used, "en");
        let none = resolve(&db, tenant.id, "welcome", None, None, Channel::Email).await;
        assert!(matches!(none, Err(StoreError::Template(_))), "{none:?}");
        let none = resolve(&db, tenant.id, "welcome", Some(9), None, Channel::Sms).await;
        assert!(matches!(none, Err(StoreError::Template(_))), "{none:?}");
        let none = resolve(&db, other.id, "welcome", None, None, Channel::Sms).await;
        assert!(matches!(none, Err(StoreError::NotFound)), "{none:?}");

        delete(&db, tenant.id, "welcome").await.unwrap();
        assert!(matches!(
            get(&db, tenant.id, "welcome").await,
            Err(StoreError::NotFound)
        ));
        let left = template_version::Entity::find().all(&db).await.unwrap();
        assert!(left.is_empty());
        drop(db);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
