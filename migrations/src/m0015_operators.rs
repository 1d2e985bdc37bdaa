//! Operators: the people who sign in to `/admin` to watch and repair deliveries.
//!
//! An operator is not a tenant's API key: it signs in with an email, a password (argon2id,
//! only its PHC hash is stored) and a TOTP code (the shared secret sealed at rest like every
//! other credential; the time step of the last code accepted is kept, so a code cannot be
//! used twice), or one of its single-use recovery codes (SHA-256 of each, as for API
//! keys: they are random, not chosen). It sees the tenants it is granted. A sign-in makes a
//! server-side session: the cookie carries a random token whose SHA-256 is the row's key,
//! and each session has its own CSRF token.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Operators {
    Table,
    Id,
    Email,
    PasswordHash,
    TotpSecretSealed,
    TotpLastStep,
    CreatedAt,
    DisabledAt,
}

#[derive(DeriveIden)]
enum OperatorGrants {
    Table,
    OperatorId,
    TenantId,
}

#[derive(DeriveIden)]
enum OperatorRecoveryCodes {
    Table,
    Id,
    OperatorId,
    CodeHash,
    UsedAt,
}

#[derive(DeriveIden)]
enum OperatorSessions {
    Table,
    Id,
    TokenHash,
    OperatorId,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Operators::Table)
                    .if_not_exists()
                    .col(uuid(Operators::Id).primary_key())
                    .col(string(Operators::Email).unique_key())
                    .col(string(Operators::PasswordHash))
                    .col(text(Operators::TotpSecretSealed))
                    .col(big_integer_null(Operators::TotpLastStep))
                    .col(timestamp_with_time_zone(Operators::CreatedAt))
                    .col(timestamp_with_time_zone_null(Operators::DisabledAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OperatorGrants::Table)
                    .if_not_exists()
                    .col(uuid(OperatorGrants::OperatorId))
                    .col(uuid(OperatorGrants::TenantId))
                    .primary_key(
                        Index::create()
                            .col(OperatorGrants::OperatorId)
                            .col(OperatorGrants::TenantId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OperatorGrants::Table, OperatorGrants::OperatorId)
                            .to(Operators::Table, Operators::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OperatorGrants::Table, OperatorGrants::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OperatorRecoveryCodes::Table)
                    .if_not_exists()
                    .col(uuid(OperatorRecoveryCodes::Id).primary_key())
                    .col(uuid(OperatorRecoveryCodes::OperatorId))
                    .col(string(OperatorRecoveryCodes::CodeHash))
                    .col(timestamp_with_time_zone_null(OperatorRecoveryCodes::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                OperatorRecoveryCodes::Table,
                                OperatorRecoveryCodes::OperatorId,
                            )
                            .to(Operators::Table, Operators::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OperatorSessions::Table)
                    .if_not_exists()
                    .col(uuid(OperatorSessions::Id).primary_key())
                    .col(string(OperatorSessions::TokenHash).unique_key())
                    .col(uuid(OperatorSessions::OperatorId))
                    .col(string(OperatorSessions::CsrfToken))
                    .col(timestamp_with_time_zone(OperatorSessions::CreatedAt))
                    .col(timestamp_with_time_zone(OperatorSessions::ExpiresAt))
                    .col(timestamp_with_time_zone(OperatorSessions::LastSeenAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OperatorSessions::Table, OperatorSessions::OperatorId)
                            .to(Operators::Table, Operators::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OperatorSessions::Table.into_iden(),
            OperatorRecoveryCodes::Table.into_iden(),
            OperatorGrants::Table.into_iden(),
            Operators::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
