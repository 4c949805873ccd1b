"""Settings for the 绘管家 customer-onboarding platform.

Everything that differs between machines comes from environment variables; the defaults
are safe for development (SQLite, local-memory cache, console SMS) and refuse to start in
production without a real SECRET_KEY.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = env_bool("PRODUCTION")
DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET)
if PRODUCTION:
    # Production refuses to start on a development default rather than warn about it.
    if SECRET_KEY == _DEV_SECRET:
        raise RuntimeError("SECRET_KEY must be set in production")
    if DEBUG:
        raise RuntimeError("DEBUG must be off in production (PRODUCTION=1)")
    if not env_list("ALLOWED_HOSTS"):
        raise RuntimeError("ALLOWED_HOSTS must be set in production (comma-separated host names)")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# Who the privacy policy on /apply/privacy/ names as the operator and how to reach them.
PRIVACY_OPERATOR = os.environ.get("PRIVACY_OPERATOR", "绘管家")
PRIVACY_CONTACT = os.environ.get("PRIVACY_CONTACT", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "ninja",
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.customers",
    "apps.contracts",
    "apps.leads",
    "apps.datasources",
    "apps.sms",
    "apps.notifications",
    "apps.api",
    "apps.console",
]

MIDDLEWARE = [
    "apps.core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.api.middleware.ApiErrorShapeMiddleware",
    "apps.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Parses multipart bodies of PUT/PATCH too (the API's scan uploads use PUT).
    "ninja.compatibility.files.fix_request_files_middleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.core.middleware.ConsoleLoginRequiredMiddleware",
    "apps.accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.DomainErrorMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.console.context_processors.navigation",
            ],
            "builtins": ["apps.console.templatetags.console"],
        },
    },
]

# --- Databases -------------------------------------------------------------------------
# One DATABASE_URL picks the control database: sqlite:///path, postgres://…, mysql://…
# Seconds: connecting to the control database, and any one statement on it (0: no limit,
# e.g. for a migration that builds an index on a large table).
DB_CONNECT_TIMEOUT = int(os.environ.get("DB_CONNECT_TIMEOUT", "3"))
DB_STATEMENT_TIMEOUT = int(os.environ.get("DB_STATEMENT_TIMEOUT", "30"))
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")))
_engine = _db["ENGINE"]
if _engine.endswith("sqlite3"):
    _db["CONN_MAX_AGE"] = 0
    # IMMEDIATE transactions serialise writers instead of failing on lock upgrades.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"),
    }
    # Tests use a file so that threads in concurrency tests share one database.
    _db["TEST"] = {"NAME": str(VAR_DIR / os.environ.get("TEST_DATABASE_NAME", "test.sqlite3"))}
elif _engine.endswith("mysql"):
    _db["ENGINE"] = "apps.core.dbbackends.mysql"  # the handshake bounded too (see there)
    # connect_timeout bounds the TCP connect and the handshake; read/write timeouts bound
    # every statement on the client side, so a server that stops answering fails the
    # request instead of holding the worker.
    _db["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
        "connect_timeout": DB_CONNECT_TIMEOUT,
        "read_timeout": DB_STATEMENT_TIMEOUT or None,
        "write_timeout": DB_STATEMENT_TIMEOUT or None,
    }
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    if os.environ.get("TEST_DATABASE_NAME"):
        _db["TEST"]["NAME"] = os.environ["TEST_DATABASE_NAME"]
else:
    # PostgreSQL: connect_timeout bounds connecting (TCP and start-up), statement_timeout
    # every statement on the server, and TCP keepalives find a peer that vanished.
    _db["OPTIONS"] = {
        "connect_timeout": DB_CONNECT_TIMEOUT,
        "options": f"-c statement_timeout={DB_STATEMENT_TIMEOUT * 1000}",
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if os.environ.get("TEST_DATABASE_NAME"):
        _db["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
DATABASES = {"default": _db}
# /readyz answers 503 when the control database does not answer within this many seconds.
READYZ_TIMEOUT = float(os.environ.get("READYZ_TIMEOUT", "3"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, sessions ---------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "hgj"),
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication ----------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "apps.accounts.validators.ChineseMinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "apps.accounts.validators.ComplexityValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "console:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(12 * 3600)))
# Cookies travel over HTTPS only: forced in production, optional elsewhere.
SESSION_COOKIE_SECURE = PRODUCTION or env_bool("SECURE_COOKIES")
CSRF_COOKIE_SECURE = PRODUCTION or env_bool("SECURE_COOKIES")

# Login throttling (django-axes): 5 failures per username+IP lock that pair for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
AXES_VERBOSE = False

DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "Hgj@demo2026")

# Two-factor login (TOTP, django-otp). 开发运维 and 系统管理员 must use it; everybody may.
# TWO_FACTOR_ENFORCED=0 makes it optional for every role: for the local demo only
# (scripts/run.sh), refused in production.
TWO_FACTOR_ENFORCED = env_bool("TWO_FACTOR_ENFORCED", True)
if PRODUCTION and not TWO_FACTOR_ENFORCED:
    raise RuntimeError("TWO_FACTOR_ENFORCED=0 is for the local demo only, not production")
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "绘管家")
OTP_TOTP_THROTTLE_FACTOR = 1  # after n failures, wait 2^(n-1) s before the next try
TWO_FACTOR_MAX_FAILURES = int(os.environ.get("TWO_FACTOR_MAX_FAILURES", "5"))

# --- I18N --------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
DATETIME_FORMAT = "Y-m-d H:i:s"
DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Static and uploaded files -----------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    # Uploads (licence and contract scans) are private: no URL serves the directory,
    # they are streamed by permission-checked views only.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.environ.get("PRIVATE_MEDIA_ROOT", str(VAR_DIR / "private"))},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", str(10 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Security headers ----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS only, in production by default (behind a TLS-terminating proxy set BEHIND_TLS_PROXY,
# or the redirect never ends). HSTS: a year, this host and its subdomains; preloading is a
# decision for the owner of the whole domain (hstspreload.org), so it is off unless asked.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # load balancers probe over HTTP
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if PRODUCTION else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # preload not asked for: see above

# --- Product settings ----------------------------------------------------------------------
# Modules (权限) a customer can be switched on with. Codes are stable; labels are shown.
CUSTOMER_MODULES = [
    ("property", "物业收费"),
    ("repair", "报事报修"),
    ("community", "小区管理"),
    ("owner_app", "业主端小程序"),
    ("patrol", "巡检巡更"),
    ("parking", "停车管理"),
    ("report", "经营报表"),
]
DEFAULT_CUSTOMER_MODULES = ["property", "repair", "community"]
ENTERPRISE_NO_PREFIX = os.environ.get("ENTERPRISE_NO_PREFIX", "HGJ")
CONTRACT_EXPIRY_WARNING_DAYS = 30
# The service lifecycle (apps/customers/lifecycle.py): a free trial's length, how much a
# manager may extend it and how often, and the grace after a trial or a paid period ends
# before the customer is 已停用.
TRIAL_DAYS = int(os.environ.get("TRIAL_DAYS", "30"))
TRIAL_EXTENSION_DAYS = int(os.environ.get("TRIAL_EXTENSION_DAYS", "15"))
TRIAL_MAX_EXTENSIONS = int(os.environ.get("TRIAL_MAX_EXTENSIONS", "2"))
TRIAL_MAX_DAYS = 180
SERVICE_GRACE_DAYS = int(os.environ.get("SERVICE_GRACE_DAYS", "15"))
# 到期提醒: the daily sweep warns a customer's 负责人 this many days before a trial, a paid
# service period or a grace period ends (one reminder per threshold; SMS where configured).
SERVICE_REMINDER_DAYS = sorted(
    {int(d) for d in env_list("SERVICE_REMINDER_DAYS", "7,1") if d.isdigit()}, reverse=True
)
SERVICE_REMINDER_ATTEMPTS = 3  # a failed reminder is tried again on the next sweeps, this often

# --- Tenant data sources (数据源) ------------------------------------------------------------
# Fernet keys (comma-separated, the first encrypts, all decrypt); rotate with
# `manage.py rotate_datasource_keys`. Without keys, development derives one from SECRET_KEY.
DATASOURCE_ENCRYPTION_KEYS = env_list("DATASOURCE_ENCRYPTION_KEYS")
if not DATASOURCE_ENCRYPTION_KEYS and env_bool("PRODUCTION"):
    raise RuntimeError("DATASOURCE_ENCRYPTION_KEYS must be set in production")
# Generated tenant database names: <prefix><enterprise number>_<n>, e.g. hgj100001_1.
TENANT_DB_PREFIX = os.environ.get("TENANT_DB_PREFIX", "hgj")
TENANT_CONNECT_TIMEOUT = float(os.environ.get("TENANT_CONNECT_TIMEOUT", "5"))
TENANT_QUERY_TIMEOUT = float(os.environ.get("TENANT_QUERY_TIMEOUT", "30"))
# 迁移数据源: a single COPY of a whole table may take longer than a query (seconds).
TENANT_COPY_TIMEOUT = float(os.environ.get("TENANT_COPY_TIMEOUT", "3600"))
# A provisioning run that has made no progress for this long lost its worker: the reaper
# (a beat task, every minute) marks it failed. Longer than any one step may take.
PROVISIONING_STALE_AFTER = int(os.environ.get("PROVISIONING_STALE_AFTER", "600"))
# Directory of ordered .sql files per database type (mysql/, postgresql/); empty: none.
TENANT_BASELINE_DIR = os.environ.get(
    "TENANT_BASELINE_DIR", str(BASE_DIR / "apps" / "datasources" / "baseline")
)
TENANT_PG_MAINTENANCE_DB = os.environ.get("TENANT_PG_MAINTENANCE_DB", "postgres")
# Tables whose rows are platform metadata, not customer data (ignored by the delete probe).
# 轮换账号: how long the old account keeps working after the registry serves the new one
# (longer than the business system caches a registry answer or keeps a pooled connection).
ROTATION_GRACE_SECONDS = int(os.environ.get("ROTATION_GRACE_SECONDS", "3600"))
# 清空数据表: how long the cleared rows are kept (backup tables on the tenant's server) and
# may be restored.
TENANT_CLEAR_RETENTION_DAYS = int(os.environ.get("TENANT_CLEAR_RETENTION_DAYS", "7"))
TENANT_METADATA_TABLES = env_list("TENANT_METADATA_TABLES", "schema_version")
TENANT_COMMUNITY_TABLE = os.environ.get("TENANT_COMMUNITY_TABLE", "communities")
TENANT_COMMUNITY_ONLINE_COLUMN = os.environ.get("TENANT_COMMUNITY_ONLINE_COLUMN", "online")
# Self-applied leads not called back within this many hours are overdue (DESIGN §3.1).
LEAD_FIRST_CALL_HOURS = int(os.environ.get("LEAD_FIRST_CALL_HOURS", "24"))
# The tenant registry keeps a found registry token in each process this many seconds
# (a revoked registry token stops working within that time); 0 looks it up every time.
REGISTRY_TOKEN_CACHE_SECONDS = float(os.environ.get("REGISTRY_TOKEN_CACHE_SECONDS", "5"))
# PostgreSQL: the registry's per-tenant query runs as a server-side prepared statement,
# planned once per connection. Set 0 behind a connection pooler that cannot keep prepared
# statements (PgBouncer before 1.21 in transaction mode).
DB_PREPARED_REGISTRY = os.environ.get("DB_PREPARED_REGISTRY", "1") == "1"
# Registry reads are counted in each process and written to the 读取汇总 of 操作日志 at
# most this many seconds later (a process that dies loses at most that much of its count).
AUDIT_TALLY_FLUSH_SECONDS = float(os.environ.get("AUDIT_TALLY_FLUSH_SECONDS", "5"))
LIST_PAGE_SIZE = 20
LIST_PAGE_SIZE_CHOICES = [20, 50, 100]
# Lists count at most this many rows; past it they say 「超过 10,000 条」 (or, for a whole
# table, the database's estimate 「约 …」) and page on with cursors.
LIST_COUNT_CAP = int(os.environ.get("LIST_COUNT_CAP", "10000"))

# --- SMS verification codes (public registration) -------------------------------------------
# Gateway: console (development: the code goes to the log, phone masked), aliyun, tencent, or
# capture (benchmarks and tests: also keeps the last code per phone in the cache).
SMS_BACKEND = os.environ.get("SMS_BACKEND", "console")
if SMS_BACKEND in {"console", "capture"} and env_bool("PRODUCTION"):
    raise RuntimeError(
        "SMS_BACKEND must be aliyun or tencent in production (codes would be logged)"
    )
SMS_ACCESS_KEY_ID = os.environ.get("SMS_ACCESS_KEY_ID", "")  # Aliyun AccessKeyId / Tencent SecretId
SMS_ACCESS_KEY_SECRET = os.environ.get("SMS_ACCESS_KEY_SECRET", "")  # never logged
SMS_SIGN_NAME = os.environ.get("SMS_SIGN_NAME", "绘管家")
SMS_TEMPLATE_ID = os.environ.get("SMS_TEMPLATE_ID", "")  # Aliyun TemplateCode / Tencent TemplateId
ROBOT_TIMEOUT = float(os.environ.get("ROBOT_TIMEOUT", "5"))  # 企业微信 / 钉钉 group robots
ROBOT_MAX_ATTEMPTS = int(os.environ.get("ROBOT_MAX_ATTEMPTS", "5"))  # then 失败
SMS_NOTICE_TEMPLATE_ID = os.environ.get("SMS_NOTICE_TEMPLATE_ID", "")  # 到期提醒 to staff
SMS_APP_ID = os.environ.get("SMS_APP_ID", "")  # Tencent SmsSdkAppId
SMS_REGION = os.environ.get("SMS_REGION", "")  # default: cn-hangzhou / ap-guangzhou
SMS_ENDPOINT = os.environ.get("SMS_ENDPOINT", "")  # default: the provider's public endpoint
SMS_TIMEOUT = float(os.environ.get("SMS_TIMEOUT", "5"))
SMS_CODE_TTL = int(os.environ.get("SMS_CODE_TTL", "300"))  # seconds a code stays valid
SMS_MAX_ATTEMPTS = int(os.environ.get("SMS_MAX_ATTEMPTS", "5"))  # wrong entries void the code
SMS_COOLDOWN = int(os.environ.get("SMS_COOLDOWN", "60"))  # one send per phone per this many s
SMS_PHONE_PER_HOUR = int(os.environ.get("SMS_PHONE_PER_HOUR", "5"))
SMS_PHONE_PER_DAY = int(os.environ.get("SMS_PHONE_PER_DAY", "10"))
SMS_IP_PER_HOUR = int(os.environ.get("SMS_IP_PER_HOUR", "20"))
SMS_IP_PER_DAY = int(os.environ.get("SMS_IP_PER_DAY", "50"))
SMS_GLOBAL_PER_HOUR = int(os.environ.get("SMS_GLOBAL_PER_HOUR", "1000"))
SMS_GLOBAL_PER_DAY = int(os.environ.get("SMS_GLOBAL_PER_DAY", "5000"))

# --- Task queue (Celery) -------------------------------------------------------------------
# Production: Redis or RabbitMQ (redis://…, amqp://…). Unset: kombu's filesystem transport
# under TASK_QUEUE_DIR — one machine only, no server needed (the README's run command).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
TASK_QUEUE_DIR = Path(os.environ.get("TASK_QUEUE_DIR", VAR_DIR / "queue"))
if CELERY_BROKER_URL.startswith("filesystem:"):
    if PRODUCTION:
        raise RuntimeError(
            "CELERY_BROKER_URL must name Redis or RabbitMQ in production "
            "(the filesystem queue serves one machine only)"
        )
    for _sub in ("messages", "processed", "control"):
        (TASK_QUEUE_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(TASK_QUEUE_DIR / "messages"),
        "data_folder_out": str(TASK_QUEUE_DIR / "messages"),
        "processed_folder": str(TASK_QUEUE_DIR / "processed"),
        "control_folder": str(TASK_QUEUE_DIR / "control"),
        "store_processed": False,
        # How often an idle worker looks for new files (kombu's default, 1 s, is what a
        # queued task would otherwise wait before anything happens).
        "polling_interval": 0.1,
    }
else:
    # A task not acknowledged within this time goes back to the queue (acks are late).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "3"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing from a web request gives up within seconds when the broker does not answer
# (the action then says so; nothing is lost — see provisioning.enqueue).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # outcomes are recorded in the control database
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "core.heartbeat",
        "schedule": float(os.environ.get("HEARTBEAT_EVERY", "30")),
    },
    "reap-provisioning-runs": {"task": "datasources.reap_runs", "schedule": 60.0},
    # The service lifecycle's sweep, daily shortly after midnight (CELERY_TIMEZONE).
    "daily-sweep": {"task": "customers.daily_sweep", "schedule": crontab(minute=10, hour=0)},
    "resend-notifications": {"task": "notifications.resend", "schedule": 60.0},
    "announce-overdue-callbacks": {"task": "leads.announce_overdue", "schedule": 900.0},
    "retire-rotated-accounts": {"task": "datasources.retire_accounts", "schedule": 60.0},
    "purge-clearing-backups": {
        "task": "datasources.purge_clearing_backups",
        "schedule": crontab(minute=30, hour=3),
    },
    "refresh-tenant-schemas": {
        "task": "datasources.refresh_schemas",
        "schedule": float(os.environ.get("SCHEMA_PROBE_EVERY", "3600")),
    },
}

# 租户库升级: at most this many tenants of one database server migrate at once (fewer when
# the server's connection budget leaves less); a tenant 进行中 with no result for
# FLEET_STALE_AFTER seconds lost its worker and is failed by the reaper.
FLEET_MAX_PER_SERVER = int(os.environ.get("FLEET_MAX_PER_SERVER", "4"))
FLEET_STALE_AFTER = int(os.environ.get("FLEET_STALE_AFTER", "900"))

# /metrics (Prometheus): the networks that may scrape it (the real client IP), and/or a
# bearer token. Anyone else gets 403.
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# --- Logging ------------------------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# --- The client's IP behind proxies (apps/core/clientip.py) ----------------------------------
# With neither set, X-Forwarded-For is ignored. TRUSTED_PROXY_NETWORKS (CIDRs of the load
# balancers / reverse proxies) is preferred; TRUSTED_PROXY_COUNT assumes the app can only be
# reached through that many proxies.
TRUSTED_PROXY_NETWORKS = env_list("TRUSTED_PROXY_NETWORKS")
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
AXES_CLIENT_IP_CALLABLE = "apps.core.clientip.client_ip"
