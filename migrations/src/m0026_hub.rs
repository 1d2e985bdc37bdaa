//! The chat hub (source document 003): a tenant's chat platforms, their users, rooms with
//! members from several platforms, the messages posted to rooms, and the forwards each
//! platform is owed (a user, a room or a message to POST to it), kept until delivered so
//! that nothing is lost while a platform is down. Forward ids are UUIDv7: their order is
//! the order a platform receives them in.
//!
//! A room may also hold conversations of the two-way messaging (a WhatsApp contact):
//! `hub_room_conversations`. A forward to a conversation has the conversation's id as its
//! target (`platform_id`) and goes out as a reply through the notification pipeline.
//!
//! Triggers write the hub's events to the log like every other change: a message's
//! forward settling (`hub.message.forwarded` / `hub.message.failed`, about the message,
//! related to the platform) and a platform's status changing (`hub.platform.up` /
//! `hub.platform.down`).
//!
//! A platform's token is kept as its SHA-256 only (it is looked up by hash, unique across
//! tenants); message texts and forward bodies are sealed like every other message.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HubPlatforms {
    Table,
    Id,
    TenantId,
    Name,
    Endpoint,
    Capabilities,
    TokenHash,
    Status,
    LastSuccessAt,
    LastFailureAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum HubUsers {
    Table,
    Id,
    TenantId,
    PlatformId,
    ExternalId,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum HubRooms {
    Table,
    Id,
    TenantId,
    PlatformId,
    ExternalId,
    Name,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum HubRoomMembers {
    Table,
    RoomId,
    PlatformId,
    UserExternalId,
}

#[derive(DeriveIden)]
enum HubRoomConversations {
    Table,
    RoomId,
    ConversationId,
    TenantId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum HubMessages {
    Table,
    Id,
    TenantId,
    RoomId,
    PlatformId,
    SenderId,
    Text,
    CreatedAt,
}

#[derive(DeriveIden)]
enum HubForwards {
    Table,
    Id,
    TenantId,
    PlatformId,
    Kind,
    SubjectId,
    Body,
    Status,
    Attempts,
    LastError,
    DeliveredAt,
    CreatedAt,
    UpdatedAt,
}

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS event_log_hub_forward AFTER UPDATE OF status ON hub_forwards \
     WHEN NEW.kind = 'message' AND OLD.status = 'pending' AND NEW.status IN ('delivered', 'failed') \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, CASE NEW.status WHEN 'delivered' THEN 'hub.message.forwarded' ELSE 'hub.message.failed' END, \
     NEW.subject_id, NEW.platform_id, NEW.status, NEW.updated_at); END",
    "CREATE TRIGGER IF NOT EXISTS event_log_hub_platform AFTER UPDATE OF status ON hub_platforms \
     WHEN NEW.status <> OLD.status AND NEW.status IN ('up', 'down') \
     BEGIN INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at) \
     VALUES (NEW.tenant_id, 'hub.platform.' || NEW.status, NEW.id, NULL, NEW.status, NEW.updated_at); END",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE OR REPLACE FUNCTION event_log_hub_forward() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.kind = 'message' AND OLD.status = 'pending' AND NEW.status IN ('delivered', 'failed') THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id,
                 CASE NEW.status WHEN 'delivered' THEN 'hub.message.forwarded' ELSE 'hub.message.failed' END,
                 NEW.subject_id, NEW.platform_id, NEW.status, NEW.updated_at);
       END IF;
       RETURN NULL;
     END $$",
    "CREATE OR REPLACE TRIGGER event_log_hub_forward AFTER UPDATE OF status ON hub_forwards \
     FOR EACH ROW EXECUTE FUNCTION event_log_hub_forward()",
    "CREATE OR REPLACE FUNCTION event_log_hub_platform() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.status <> OLD.status AND NEW.status IN ('up', 'down') THEN
         INSERT INTO event_log (tenant_id, event_type, subject_id, related_id, status, occurred_at)
         VALUES (NEW.tenant_id, 'hub.platform.' || NEW.status, NEW.id, NULL, NEW.status, NEW.updated_at);
       END IF;
       RETURN NULL;
     END $$",
    "CREATE OR REPLACE TRIGGER event_log_hub_platform AFTER UPDATE OF status ON hub_platforms \
     FOR EACH ROW EXECUTE FUNCTION event_log_hub_platform()",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_hub_forward",
    "DROP TRIGGER IF EXISTS event_log_hub_platform",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS event_log_hub_forward ON hub_forwards",
    "DROP FUNCTION IF EXISTS event_log_hub_forward()",
    "DROP TRIGGER IF EXISTS event_log_hub_platform ON hub_platforms",
    "DROP FUNCTION IF EXISTS event_log_hub_platform()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HubPlatforms::Table)
                    .if_not_exists()
                    .col(uuid(HubPlatforms::Id).primary_key())
                    .col(uuid(HubPlatforms::TenantId))
                    .col(string(HubPlatforms::Name))
                    .col(text(HubPlatforms::Endpoint))
                    .col(json(HubPlatforms::Capabilities))
                    .col(string(HubPlatforms::TokenHash))
                    .col(string(HubPlatforms::Status))
                    .col(timestamp_with_time_zone_null(HubPlatforms::LastSuccessAt))
                    .col(timestamp_with_time_zone_null(HubPlatforms::LastFailureAt))
                    .col(text_null(HubPlatforms::LastError))
                    .col(timestamp_with_time_zone(HubPlatforms::CreatedAt))
                    // Its last change of status (the time of its `hub.platform.*` event).
                    .col(timestamp_with_time_zone(HubPlatforms::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ux_hub_platforms_name",
                vec![HubPlatforms::TenantId, HubPlatforms::Name],
            ),
            ("ux_hub_platforms_token", vec![HubPlatforms::TokenHash]),
        ] {
            let mut index = Index::create();
            index
                .if_not_exists()
                .unique()
                .name(name)
                .table(HubPlatforms::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(HubUsers::Table)
                    .if_not_exists()
                    .col(uuid(HubUsers::Id).primary_key())
                    .col(uuid(HubUsers::TenantId))
                    .col(uuid(HubUsers::PlatformId))
                    .col(big_integer(HubUsers::ExternalId))
                    .col(text(HubUsers::Name))
                    .col(timestamp_with_time_zone(HubUsers::CreatedAt))
                    .col(timestamp_with_time_zone(HubUsers::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .unique()
                    .name("ux_hub_users_platform")
                    .table(HubUsers::Table)
                    .col(HubUsers::PlatformId)
                    .col(HubUsers::ExternalId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HubRooms::Table)
                    .if_not_exists()
                    .col(uuid(HubRooms::Id).primary_key())
                    .col(uuid(HubRooms::TenantId))
                    .col(uuid(HubRooms::PlatformId))
                    .col(big_integer(HubRooms::ExternalId))
                    .col(text(HubRooms::Name))
                    .col(string(HubRooms::Kind))
                    .col(timestamp_with_time_zone(HubRooms::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .unique()
                    .name("ux_hub_rooms_platform")
                    .table(HubRooms::Table)
                    .col(HubRooms::PlatformId)
                    .col(HubRooms::ExternalId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HubRoomMembers::Table)
                    .if_not_exists()
                    .col(uuid(HubRoomMembers::RoomId))
                    .col(uuid(HubRoomMembers::PlatformId))
                    .col(big_integer(HubRoomMembers::UserExternalId))
                    .primary_key(
                        Index::create()
                            .col(HubRoomMembers::RoomId)
                            .col(HubRoomMembers::PlatformId)
                            .col(HubRoomMembers::UserExternalId),
                    )
                    .to_owned(),
            )
            .await?;
        // Conversations (a WhatsApp contact, a Telegram chat) bridged into rooms: their
        // messages come into the room, the room's go out to them as replies.
        manager
            .create_table(
                Table::create()
                    .table(HubRoomConversations::Table)
                    .if_not_exists()
                    .col(uuid(HubRoomConversations::RoomId))
                    .col(uuid(HubRoomConversations::ConversationId))
                    .col(uuid(HubRoomConversations::TenantId))
                    .col(timestamp_with_time_zone(HubRoomConversations::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(HubRoomConversations::RoomId)
                            .col(HubRoomConversations::ConversationId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_hub_room_conversations_conversation")
                    .table(HubRoomConversations::Table)
                    .col(HubRoomConversations::ConversationId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HubMessages::Table)
                    .if_not_exists()
                    .col(uuid(HubMessages::Id).primary_key())
                    .col(uuid(HubMessages::TenantId))
                    .col(uuid(HubMessages::RoomId))
                    .col(uuid(HubMessages::PlatformId))
                    .col(big_integer(HubMessages::SenderId))
                    // Sealed.
                    .col(text(HubMessages::Text))
                    .col(timestamp_with_time_zone(HubMessages::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_hub_messages_room")
                    .table(HubMessages::Table)
                    .col(HubMessages::RoomId)
                    .col(HubMessages::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HubForwards::Table)
                    .if_not_exists()
                    .col(uuid(HubForwards::Id).primary_key())
                    .col(uuid(HubForwards::TenantId))
                    .col(uuid(HubForwards::PlatformId))
                    .col(string(HubForwards::Kind))
                    .col(uuid(HubForwards::SubjectId))
                    // Sealed: a message's forward carries its text.
                    .col(text(HubForwards::Body))
                    .col(string(HubForwards::Status))
                    .col(integer(HubForwards::Attempts).default(0))
                    .col(text_null(HubForwards::LastError))
                    .col(timestamp_with_time_zone_null(HubForwards::DeliveredAt))
                    .col(timestamp_with_time_zone(HubForwards::CreatedAt))
                    // Its last attempt (the time of its `hub.message.*` event).
                    .col(timestamp_with_time_zone(HubForwards::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // A platform's queue, in order.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_hub_forwards_queue")
                    .table(HubForwards::Table)
                    .col(HubForwards::PlatformId)
                    .col(HubForwards::Status)
                    .col(HubForwards::Id)
                    .to_owned(),
            )
            .await?;
        // A message's forwards (its per-platform status in the room's history).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_hub_forwards_subject")
                    .table(HubForwards::Table)
                    .col(HubForwards::SubjectId)
                    .to_owned(),
            )
            .await?;
        crate::statements::run(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::statements::run(manager, SQLITE_DOWN, POSTGRES_DOWN).await?;
        for table in [
            HubForwards::Table.into_iden(),
            HubMessages::Table.into_iden(),
            HubRoomConversations::Table.into_iden(),
            HubRoomMembers::Table.into_iden(),
            HubRooms::Table.into_iden(),
            HubUsers::Table.into_iden(),
            HubPlatforms::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
