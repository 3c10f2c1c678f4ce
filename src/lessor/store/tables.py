"""The schema, written once; Alembic migrations must build exactly this (a test checks)."""

from __future__ import annotations

import sqlalchemy as sa

from lessor.domain.states import ResourceState, TicketState

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
    }
)

LIVE_RESOURCE = "state != 'ENDED'"
ACTIVE_TICKET = "state IN ('OPEN', 'ASSIGNED')"
"""The conditions of the partial indexes on live rows, as SQL text. A query
that means to use one says so in these very words (`sa.text(LIVE_RESOURCE)`):
neither SQLite nor a generic PostgreSQL plan proves that `state != ?` with a
bound 'ENDED' implies them, and would scan all of history instead."""

JOB_PART = "job_id IS NOT NULL"

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
"""Row ids: 64-bit everywhere (SQLite's INTEGER PRIMARY KEY, its rowid, is 64-bit already,
and only that spelling makes it the rowid)."""

_resource_states = sa.Enum(ResourceState, name="resource_state", native_enum=False, length=20)
_ticket_states = sa.Enum(TicketState, name="ticket_state", native_enum=False, length=20)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("sandbox", sa.String(255)),
    sa.Column("state", _ticket_states, nullable=False),
    sa.Column("resource_id", ID),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("assigned_at", sa.Float),
    sa.Column("closed_at", sa.Float),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    # A lease: closed at expires_at unless extended (by ttl seconds) before.
    sa.Column("ttl", sa.Float),
    sa.Column("expires_at", sa.Float),
    # The ticket key's SHA-256 (the key itself is given out once, never stored).
    sa.Column("key_hash", sa.String(64)),
    # The client's Idempotency-Key of the request that opened it: a retry gets this ticket.
    sa.Column("idempotency_key", sa.String(128)),
    # A part of a job (planner/jobs.py): the job's id (its first part's ticket id) and the
    # part's name.
    sa.Column("job_id", ID),
    sa.Column("part", sa.String(255)),
    # The user who opened it (users.name); NULL: anonymous, its key only.
    sa.Column("owner", sa.String(64)),
    sa.Index(
        "uq_tickets_idempotency_key",
        "idempotency_key",
        unique=True,
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    ),
    sa.Index(
        "ix_tickets_job_id",
        "job_id",
        sqlite_where=sa.text(JOB_PART),
        postgresql_where=sa.text(JOB_PART),
    ),
    sa.Index(
        "ix_tickets_active",
        "state",
        sqlite_where=sa.text(ACTIVE_TICKET),
        postgresql_where=sa.text(ACTIVE_TICKET),
    ),
)

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("pool", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("state", _resource_states, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("data", sa.LargeBinary),
    sa.Column("ticket_id", ID, sa.ForeignKey("tickets.id")),
    sa.Column("sandbox", sa.String(255)),
    sa.Column("id_in_pool", sa.Integer, nullable=False),
    sa.Column("releases", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("state_since", sa.Float, nullable=False),
    sa.Column("last_livecheck", sa.Float),
    sa.Column("livecheck_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delete_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False, server_default="0"),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    # resalloc's named counters: {counter name: value}, smallest free per pool.
    sa.Column("counters", sa.JSON, nullable=False, server_default="{}"),
    # An admin's hold (never assigned, never deleted) and its reason.
    sa.Column("hold_reason", sa.Text),
    # The ticket an on-demand resource was started for.
    sa.Column("reserved_for", ID),
    # The hook running on it (cmd_new, …), which server runs it, and until when the claim
    # holds unless renewed: no second hook starts on a resource, on any server.
    sa.Column("hook", sa.String(32)),
    sa.Column("hook_owner", sa.String(64), nullable=False, server_default=""),
    sa.Column("hook_until", sa.Float),
    # resalloc's columns: its first assignment (reuse_max_time counts from it), its last release.
    sa.Column("sandboxed_since", sa.Float),
    sa.Column("released_at", sa.Float),
    # A credential's own end: the LESSOR_EXPIRES_AT its cmd_new or last cmd_extend was told.
    sa.Column("valid_until", sa.Float),
    # Live rows are few and hot; ENDED ones pile up as history.
    sa.Index(
        "ix_resources_live",
        "pool",
        "state",
        "sandbox",  # a new ticket's spare: a seek (see statements._spares)
        sqlite_where=sa.text(LIVE_RESOURCE),
        postgresql_where=sa.text(LIVE_RESOURCE),
    ),
    # Two servers racing to start a resource can never hand out one id_in_pool twice.
    sa.Index(
        "uq_resources_live_id_in_pool",
        "pool",
        "id_in_pool",
        unique=True,
        sqlite_where=sa.text(LIVE_RESOURCE),
        postgresql_where=sa.text(LIVE_RESOURCE),
    ),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("ticket_id", ID),
    sa.Column("resource_id", ID),
    sa.Column("pool", sa.String(255)),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("details", sa.JSON, nullable=False, server_default="{}"),
    # Every lookup is by a given id: the events that name none stay out.
    *(
        sa.Index(
            f"ix_events_{c}",
            c,
            sqlite_where=sa.text(f"{c} IS NOT NULL"),
            postgresql_where=sa.text(f"{c} IS NOT NULL"),
        )
        for c in ("ticket_id", "resource_id")
    ),
    sa.Index("ix_events_at", "at"),
)

pool_states = sa.Table(
    "pool_states",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("drained", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("drain_reason", sa.Text, nullable=False, server_default=""),
    # The pool as last loaded from pools.yaml, so that a pool removed from it
    # can still have its resources deleted, even after a restart.
    sa.Column("definition", sa.JSON),
    sa.Column("updated_at", sa.Float, nullable=False),
    # When its last cmd_new started (start_delay), and its failures in a row (start_backoff).
    sa.Column("last_start", sa.Float, nullable=False, server_default="0"),
    sa.Column("start_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failure", sa.Text, nullable=False, server_default=""),
    sa.Column("failed_at", sa.Float),
    # The spares sized for the hour by target_wait (NULL: max_prealloc), and why.
    sa.Column("spares_target", sa.Integer),
    sa.Column("spares_reason", sa.Text, nullable=False, server_default=""),
    sa.Column("spares_wait", sa.Float),  # the p95 wait forecast with them
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    # SHA-256 of the token (told once, never stored).
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("privileges", sa.JSON, nullable=False),
    sa.Column("quotas", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
)

meta = sa.Table(
    "meta",
    metadata,
    # database_id: the identity a log directory is marked with, so that one never holds
    # the hook logs of two databases.
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


# Capacity: providers, their inventories, traits and aggregates, consumers and their
# allocations (issue 18; Placement's model). Rows name providers by uuid: the API does.
providers = sa.Table(
    "providers",
    metadata,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("parent_uuid", sa.String(36), sa.ForeignKey("providers.uuid"), index=True),
    sa.Column("root_uuid", sa.String(36), nullable=False),
)

inventories = sa.Table(
    "inventories",
    metadata,
    sa.Column("provider_uuid", sa.String(36), sa.ForeignKey("providers.uuid"), primary_key=True),
    sa.Column("resource_class", sa.String(255), primary_key=True),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False),
    sa.Column("min_unit", sa.Integer, nullable=False),
    sa.Column("max_unit", sa.Integer, nullable=False),
    sa.Column("step_size", sa.Integer, nullable=False),
    sa.Column("allocation_ratio", sa.Float, nullable=False),
)

provider_traits = sa.Table(
    "provider_traits",
    metadata,
    sa.Column("provider_uuid", sa.String(36), sa.ForeignKey("providers.uuid"), primary_key=True),
    sa.Column("trait", sa.String(255), primary_key=True),
)

provider_aggregates = sa.Table(
    "provider_aggregates",
    metadata,
    sa.Column("provider_uuid", sa.String(36), sa.ForeignKey("providers.uuid"), primary_key=True),
    sa.Column("aggregate", sa.String(36), primary_key=True),
)

consumers = sa.Table(
    "consumers",
    metadata,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("project_id", sa.String(255), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
)

allocations = sa.Table(
    "allocations",
    metadata,
    sa.Column("consumer_uuid", sa.String(36), primary_key=True),
    sa.Column("provider_uuid", sa.String(36), sa.ForeignKey("providers.uuid"), primary_key=True),
    sa.Column("resource_class", sa.String(255), primary_key=True),
    sa.Column("used", sa.Integer, nullable=False),
    sa.Index("ix_allocations_provider_uuid", "provider_uuid"),
)

# A `lessor agent`'s heartbeats (its host's root provider): silent too long, it is down,
# and nothing is placed on its tree until it beats again (docs/agents.md).
agents = sa.Table(
    "agents",
    metadata,
    sa.Column("provider_uuid", sa.String(36), sa.ForeignKey("providers.uuid"), primary_key=True),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("down", sa.Boolean, nullable=False),
)

custom_names = sa.Table(
    "custom_names",
    metadata,
    sa.Column("kind", sa.String(20), primary_key=True),  # 'resource_class' or 'trait'
    sa.Column("name", sa.String(255), primary_key=True),
)
