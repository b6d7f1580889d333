import functools
import ipaddress

from django.conf import settings
from django.db import connection, models, router, transaction
from django.db.models.functions import Lower
from django.db.models.signals import ModelSignal, post_delete
from django.utils import timezone
from oauth2_provider.models import Application

API_FAMILIES = ("brands", "campaigns", "tools")

# Sent by CachedQuerySet with the rows a bulk write touches (a queryset, before the write, or instances), which
# post_save and post_delete never see; vendors/caching/versions.py bumps for them what CONTRACT says.
rows_changed = ModelSignal(use_caching=True)


class CachedQuerySet(models.QuerySet):
    """Bulk writes of a model that workers copy (vendors/caching/versions.py, CONTRACT), each announced in its own
    transaction, so that the bumps go out once the write commits."""

    def _atomic(self):
        return transaction.atomic(using=router.db_for_write(self.model), savepoint=False)

    def update(self, **kwargs):
        with self._atomic():
            rows_changed.send(sender=self.model, rows=self, updates=kwargs)
            return super().update(**kwargs)

    def update_unannounced(self, **kwargs):
        """update() of columns that no worker's copy is read for (when a secret was last used): no version moves."""
        return super().update(**kwargs)

    def bulk_create(self, objs, *args, **kwargs):
        with self._atomic():
            created = super().bulk_create(objs, *args, **kwargs)
            rows_changed.send(sender=self.model, rows=created)
        return created

    def bulk_update(self, objs, fields, batch_size=None):
        objs = tuple(objs)
        with self._atomic():
            # The rows as they will be; the update() of each batch announces them as they were.
            rows_changed.send(sender=self.model, rows=objs)
            return super().bulk_update(objs, fields, batch_size=batch_size)

    def delete(self):
        with self._atomic():
            rows_changed.send(sender=self.model, rows=self)
            return super().delete()


@functools.cache
def insert_fields(model: type[models.Model], *skip: str) -> tuple[models.Field, ...]:
    """The fields a new row of `model` is written with: every concrete one but the primary key and those named."""
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in skip)


def insert_columns(fields) -> str:
    quote = connection.ops.quote_name
    return ", ".join(quote(f.column) for f in fields)


def insert_values(instance: models.Model, fields, db) -> list:
    """Database values of a new row, as Django's INSERT would send them (pre_save included: auto_now fields are set
    on `instance` too)."""
    return [f.get_db_prep_save(f.pre_save(instance, True), db) for f in fields]


@functools.cache
def _insert_statement(model: type[models.Model], vendor: str) -> str:
    """INSERT … RETURNING id of a new row of `model` on a `vendor` database; names come from the model and every value
    is a bound parameter."""
    fields, quote = insert_fields(model), connection.ops.quote_name
    values = ", ".join(["%s"] * len(fields))
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    return f"INSERT INTO {table} ({insert_columns(fields)}) VALUES ({values}) RETURNING {pk}"  # noqa: S608


class CachedModel(models.Model):
    """A model that workers copy: its bulk writes are announced (CachedQuerySet), and so is delete() where no
    post_delete receiver hears it."""

    objects = CachedQuerySet.as_manager()

    class Meta:
        abstract = True

    def insert(self) -> None:
        """Write this new row and read its id back, as save() does, then announce it as post_save would: one
        statement, whose constraints refuse a duplicate or a row gone meanwhile (IntegrityError) as they do for
        save(). Each value is what save() would send (insert_values); what is skipped is save()'s work for the
        general case, compiling the statement each time and its signals. A brand create, its announcement included:
        225 µs of CPU instead of 310 through save() (one process against PostgreSQL and Redis, 2,000 creates, twice).
        """
        model = type(self)
        with connection.cursor() as cursor:
            cursor.execute(
                _insert_statement(model, connection.vendor), insert_values(self, insert_fields(model), connection)
            )
            self.pk = cursor.fetchone()[0]
        self._state.adding, self._state.db = False, connection.alias
        rows_changed.send(sender=model, rows=[self])

    def delete(self, *args, **kwargs):
        # Announced after the DELETE, not in a transaction of its own around it: inside a transaction the bump waits
        # for its commit, and in autocommit it goes out once the row is gone, without a BEGIN and COMMIT.
        announce = not post_delete.has_listeners(type(self))  # a receiver would cost its fast deletes (CONTRACT)
        deleted = super().delete(*args, **kwargs)
        if announce:
            rows_changed.send(sender=type(self), rows=[self])
        return deleted


class Plan(CachedModel):
    """A commercial plan: which API families a vendor may call and how much."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    includes_brands = models.BooleanField("Brands API", default=True)
    includes_campaigns = models.BooleanField("Campaigns API", default=False)
    includes_tools = models.BooleanField("Tools API", default=False)
    requests_per_minute = models.PositiveIntegerField()
    monthly_quota = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty means unlimited.")
    tokens_per_hour = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=100,
        help_text="Access tokens a vendor may obtain per clock hour (token and refresh requests). Empty means "
        "unlimited.",
    )

    class Meta:
        ordering = ["requests_per_minute", "code"]

    def __str__(self) -> str:
        return self.name

    def allows(self, api: str) -> bool:
        return api in API_FAMILIES and getattr(self, f"includes_{api}")

    @property
    def apis(self) -> list[str]:
        return [api for api in API_FAMILIES if self.allows(api)]


class Vendor(CachedModel):
    """A company calling the API, with one set of OAuth client credentials."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=200)
    contact_email = models.EmailField(blank=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="vendors")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="vendor")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vendor")
    # The secret replaced by the last rotation, hashed, and the end of its grace period: at most two live secrets.
    previous_secret_hash = models.CharField(max_length=255, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Raised by every action that ends all of the vendor's tokens (suspension, revoke-all, a revoking rotation), under
    # the row's lock; a token is only written while this row still holds the generation its request authenticated
    # against (vendors/oauth/writes.py, `issuance_lock`), so no token can outlive the action that revoked its siblings.
    token_generation = models.PositiveIntegerField(default=0, editable=False)
    # When each live secret last obtained a token, to the USAGE_FLUSH_INTERVAL: recorded in the process on the token
    # path and written with the usage flush (vendors/limits/last_used.py), never by the token request itself.
    secret_last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    previous_secret_last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The networks whose callers may use this vendor's credentials and tokens, as normalized CIDR strings
    # (services.normalized_cidrs); empty: any address. Loaded with the vendor on every hot read (caching/lookups.py).
    allowed_cidrs = models.JSONField(
        default=list, db_default=models.Value([], output_field=models.JSONField()), blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Also the version a confirmation page was rendered for: every staff action saves the row (so moves it), and a
    # confirmed action whose page saw an older value is refused rather than repeated (services.StaleAction).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("manage_credentials", "Can create, rotate, suspend and revoke vendor credentials")]
        constraints = [
            # "Acme" and "ACME" are one company: a second registration is refused, never a second set of credentials.
            models.UniqueConstraint(
                Lower("name"),
                name="vendor_name_unique_ci",
                violation_error_message="A vendor with this name already exists (names are compared ignoring case).",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def client_id(self) -> str:
        return self.application.client_id

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def previous_secret_live(self) -> bool:
        expires = self.previous_secret_expires_at
        return bool(self.previous_secret_hash) and expires is not None and expires > timezone.now()

    @property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        # Parsed once per loaded row, not per request: workers keep the row with their copies of tokens and clients,
        # and a change of the list saves the row, which moves the vendor's auth version (caching/versions.py), so the
        # next request reads a new row. Kept with the list it was parsed from, so a row refreshed in place re-parses.
        parsed = self.__dict__.get("_allowed_networks")
        if parsed is None or parsed[0] != self.allowed_cidrs:
            parsed = self._allowed_networks = (
                list(self.allowed_cidrs),
                tuple(ipaddress.ip_network(cidr) for cidr in self.allowed_cidrs),
            )
        return parsed[1]

    def admits(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        """Whether a caller at `address` (None: not an IP address) may use this vendor's credentials and tokens."""
        if not self.allowed_cidrs:
            return True
        return address is not None and any(address in network for network in self.allowed_networks)


class AuditEvent(models.Model):
    """An append-only record of a staff or command-line action on a vendor."""

    class Action(models.TextChoices):
        CREATE = "create", "Vendor created"
        ROTATE_SECRET = "rotate_secret", "Secret rotated"
        SUSPEND = "suspend", "Vendor suspended"
        REACTIVATE = "reactivate", "Vendor reactivated"
        CHANGE_PLAN = "change_plan", "Plan changed"
        REVOKE_TOKENS = "revoke_tokens", "Tokens revoked"
        UPDATE = "update", "Vendor details changed"
        CREATE_PLAN = "create_plan", "Plan created"
        EDIT_PLAN = "edit_plan", "Plan edited"
        CHANGE_ALLOW_LIST = "change_allow_list", "Allow-list changed"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=150, help_text="The staff username, or 'command line'.")
    vendor = models.ForeignKey(Vendor, null=True, on_delete=models.SET_NULL, related_name="audit_events")
    vendor_name = models.CharField(max_length=200, blank=True)
    # Set for the events about a plan itself (its limits edited in the portal); vendor events leave it empty.
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        subject = self.vendor_name or (f"plan {self.changes.get('plan', '')}" if self.plan_id else "")
        return f"{self.get_action_display()}: {subject} by {self.actor_label}"


class UsageDay(models.Model):
    """API requests of one vendor on one UTC day, written in batches from the rate limiter's counters."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="usage_days")
    date = models.DateField()
    requests = models.PositiveBigIntegerField(default=0, help_text="Requests served (counted against the quota).")
    throttled = models.PositiveBigIntegerField(default=0, help_text="Requests refused with 429.")

    class Meta:
        ordering = ["-date", "vendor_id"]
        constraints = [models.UniqueConstraint(fields=["vendor", "date"], name="usage_day_vendor_date_unique")]

    def __str__(self) -> str:
        return f"{self.vendor_id} on {self.date}: {self.requests}"


class SecretReveal(models.Model):
    """A freshly issued secret waiting for its one view on the GET page the action redirected to (PRG).

    Only ciphertext is stored (AES-GCM under a key derived from SECRET_KEY, which is not in the database), bound to
    the staff user and session that issued it; the view that shows it deletes the row, and the one whose DELETE
    removed it is the only one that shows the secret. Unviewed rows expire after REVEAL_SECONDS and are pruned.
    """

    class Kind(models.TextChoices):
        CREATED = "created", "Vendor created"
        ROTATED = "rotated", "Secret rotated"

    # The URL's random part is never stored: only its hash, so a database dump names no reveal URL either.
    id_hash = models.CharField(max_length=64, unique=True)
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_hash = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    ciphertext = models.BinaryField()
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: vendor {self.vendor_id}, until {self.expires_at}"


class RequestLogEntry(models.Model):
    """One API or /auth/* request of a known vendor, for its request log in the staff portal.

    Written in batches with the usage flush (vendors/limits/request_log.py), kept REQUEST_LOG_DAYS days (`prune`).
    Nothing here is secret: the query string keeps its keys only, and no header, token or body is stored.
    """

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+", db_index=False)
    time = models.DateTimeField(help_text="When the request arrived.")
    method = models.CharField(max_length=16)
    path = models.CharField(max_length=2000, help_text="The path, with the query string's values redacted.")
    status = models.PositiveSmallIntegerField()
    error = models.CharField(max_length=64, blank=True, help_text="The error code of an error response.")
    latency_ms = models.FloatField()
    request_id = models.CharField(max_length=128)
    source_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        verbose_name_plural = "request log entries"
        indexes = [
            # The vendor's page reads its newest entries; the vendor's deletion cascades through it too.
            models.Index(fields=["vendor", "time"], name="request_log_vendor_time"),
            models.Index(fields=["time"], name="request_log_time"),  # for `prune`
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"
