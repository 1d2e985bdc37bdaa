//! Two-way messaging: the people who write to a tenant's provider accounts (contacts), the
//! conversation each has with one account, and their messages in both directions.
//!
//! Personal data is sealed at rest like notifications': a contact's address and name, a
//! message's text and file reference. A contact is found again by a keyed digest of its
//! channel and address, unique per tenant; a message by its provider id, unique per
//! conversation and direction, so a webhook delivered twice stores it once.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    TenantId,
    Channel,
    /// Keyed digest of channel and address (`sealed::Keyring::digest`).
    AddressDigest,
    /// Sealed: `{address, name}`.
    Profile,
    /// The recipient profile this contact is, when one matches.
    RecipientId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    TenantId,
    Channel,
    ContactId,
    /// The provider account's name, and its id for a tenant's account.
    ProviderAccount,
    ProviderAccountId,
    /// `open` or `closed`.
    Status,
    /// Inbound messages not marked read.
    Unread,
    LastMessageAt,
    /// The contact's last message: WhatsApp's 24-hour window counts from it.
    LastInboundAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ConversationMessages {
    Table,
    Id,
    TenantId,
    ConversationId,
    /// `inbound` or `outbound`.
    Direction,
    /// `text`, `image`, … (`MessageKind`).
    Kind,
    /// Sealed: `{text, media}`.
    Body,
    ProviderMessageId,
    ReplyTo,
    /// The notification that sent an outbound message.
    NotificationId,
    /// When it was sent, by the sender's clock (the provider's for inbound messages).
    OccurredAt,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .if_not_exists()
                    .col(uuid(Contacts::Id).primary_key())
                    .col(uuid(Contacts::TenantId))
                    .col(string(Contacts::Channel))
                    .col(string(Contacts::AddressDigest))
                    .col(text(Contacts::Profile))
                    .col(uuid_null(Contacts::RecipientId))
                    .col(timestamp_with_time_zone(Contacts::CreatedAt))
                    .col(timestamp_with_time_zone(Contacts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Contacts::Table, Contacts::TenantId)
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
                    .name("ux_contacts_tenant_channel_address")
                    .table(Contacts::Table)
                    .col(Contacts::TenantId)
                    .col(Contacts::Channel)
                    .col(Contacts::AddressDigest)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .if_not_exists()
                    .col(uuid(Conversations::Id).primary_key())
                    .col(uuid(Conversations::TenantId))
                    .col(string(Conversations::Channel))
                    .col(uuid(Conversations::ContactId))
                    .col(string(Conversations::ProviderAccount))
                    .col(uuid_null(Conversations::ProviderAccountId))
                    .col(string(Conversations::Status))
                    .col(integer(Conversations::Unread).default(0))
                    .col(timestamp_with_time_zone(Conversations::LastMessageAt))
                    .col(timestamp_with_time_zone_null(Conversations::LastInboundAt))
                    .col(timestamp_with_time_zone(Conversations::CreatedAt))
                    .col(timestamp_with_time_zone(Conversations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Conversations::Table, Conversations::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Conversations::Table, Conversations::ContactId)
                            .to(Contacts::Table, Contacts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One conversation per contact and account: the contact's next message after a
        // close opens it again.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_conversations_contact_account")
                    .table(Conversations::Table)
                    .col(Conversations::TenantId)
                    .col(Conversations::ContactId)
                    .col(Conversations::ProviderAccount)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The list: a tenant's conversations, most recent first.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_conversations_tenant_last_message")
                    .table(Conversations::Table)
                    .col(Conversations::TenantId)
                    .col(Conversations::LastMessageAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConversationMessages::Table)
                    .if_not_exists()
                    .col(uuid(ConversationMessages::Id).primary_key())
                    .col(uuid(ConversationMessages::TenantId))
                    .col(uuid(ConversationMessages::ConversationId))
                    .col(string(ConversationMessages::Direction))
                    .col(string(ConversationMessages::Kind))
                    .col(text(ConversationMessages::Body))
                    .col(string_null(ConversationMessages::ProviderMessageId))
                    .col(string_null(ConversationMessages::ReplyTo))
                    .col(uuid_null(ConversationMessages::NotificationId))
                    .col(timestamp_with_time_zone(ConversationMessages::OccurredAt))
                    .col(timestamp_with_time_zone(ConversationMessages::ReceivedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                ConversationMessages::Table,
                                ConversationMessages::ConversationId,
                            )
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A webhook delivered twice stores its message once.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ux_conversation_messages_provider_id")
                    .table(ConversationMessages::Table)
                    .col(ConversationMessages::ConversationId)
                    .col(ConversationMessages::Direction)
                    .col(ConversationMessages::ProviderMessageId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The message a notification was recorded as (a reply, or a send that joined).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_conversation_messages_notification")
                    .table(ConversationMessages::Table)
                    .col(ConversationMessages::NotificationId)
                    .to_owned(),
            )
            .await?;
        // A conversation's messages in time order.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_conversation_messages_conversation_time")
                    .table(ConversationMessages::Table)
                    .col(ConversationMessages::ConversationId)
                    .col(ConversationMessages::OccurredAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ConversationMessages::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(Conversations::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Contacts::Table).if_exists().to_owned())
            .await
    }
}
