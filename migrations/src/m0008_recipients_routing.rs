//! Recipient profiles (a tenant's stored contacts, sealed) and routing rules (which channel
//! and provider account a notification gets), and on each notification the profile it was
//! sent to and what routing decided.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Recipients {
    Table,
    Id,
    TenantId,
    /// SHA-256 of the tenant and the caller's own id for the person: unique per tenant,
    /// found by lookup, never stored in clear.
    ExternalIdDigest,
    /// Every personal field (external id, name, addresses, locale) as one sealed JSON text.
    Profile,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RoutingRules {
    Table,
    Id,
    TenantId,
    Name,
    /// Evaluation order: lower first; the first rule that applies decides.
    Position,
    Enabled,
    Conditions,
    Action,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    /// The recipient profile the address came from (a snapshot: the address itself is in
    /// `recipient`). Not a foreign key: deleting a profile keeps the history.
    RecipientId,
    /// The routing rule that chose the channel or provider account.
    RoutingRuleId,
    /// The tenant provider account that rule put first.
    PreferredProviderId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Recipients::Table)
                    .if_not_exists()
                    .col(uuid(Recipients::Id).primary_key())
                    .col(uuid(Recipients::TenantId))
                    .col(string_null(Recipients::ExternalIdDigest))
                    .col(text(Recipients::Profile))
                    .col(timestamp_with_time_zone(Recipients::CreatedAt))
                    .col(timestamp_with_time_zone(Recipients::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Recipients::Table, Recipients::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in unique indexes on both SQLite and PostgreSQL: profiles
        // without an external id do not collide.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_recipients_tenant_external_id")
                    .table(Recipients::Table)
                    .col(Recipients::TenantId)
                    .col(Recipients::ExternalIdDigest)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoutingRules::Table)
                    .if_not_exists()
                    .col(uuid(RoutingRules::Id).primary_key())
                    .col(uuid(RoutingRules::TenantId))
                    .col(string(RoutingRules::Name))
                    .col(integer(RoutingRules::Position))
                    .col(boolean(RoutingRules::Enabled))
                    .col(json(RoutingRules::Conditions))
                    .col(json(RoutingRules::Action))
                    .col(timestamp_with_time_zone(RoutingRules::CreatedAt))
                    .col(timestamp_with_time_zone(RoutingRules::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RoutingRules::Table, RoutingRules::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_routing_rules_tenant_name")
                    .table(RoutingRules::Table)
                    .col(RoutingRules::TenantId)
                    .col(RoutingRules::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_routing_rules_tenant_position")
                    .table(RoutingRules::Table)
                    .col(RoutingRules::TenantId)
                    .col(RoutingRules::Position)
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one column at a time.
        for column in [
            uuid_null(Notifications::RecipientId),
            uuid_null(Notifications::RoutingRuleId),
            uuid_null(Notifications::PreferredProviderId),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notifications::Table)
                        .add_column_if_not_exists(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Notifications::RecipientId,
            Notifications::RoutingRuleId,
            Notifications::PreferredProviderId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notifications::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table(RoutingRules::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(Recipients::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
