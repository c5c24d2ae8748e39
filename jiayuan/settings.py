"""Django settings for jiayuan.

Every setting that differs between the demo and production comes from a ``JIAYUAN_*``
environment variable; the defaults run the embedded demo (SQLite in WAL mode, DEBUG on).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import dj_database_url
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent
VAR_DIR = Path(os.environ.get("JIAYUAN_VAR_DIR", PROJECT_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("JIAYUAN_DEBUG", True)
SECRET_KEY = os.environ.get("JIAYUAN_SECRET_KEY") or (
    "insecure-demo-key-" + "x" * 40 if DEBUG else get_random_secret_key()
)
ALLOWED_HOSTS = env_list("JIAYUAN_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("JIAYUAN_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # serves the OpenAPI page's Swagger UI from its own static files, not a CDN
    "django_tasks",
    "django_tasks_db",
    "jiayuan.core",
    "jiayuan.regions",
    "jiayuan.staff",
    "jiayuan.party",
    "jiayuan.tickets",
    "jiayuan.notifications",
    "jiayuan.open311",
    "jiayuan.stats",
    "jiayuan.routing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "jiayuan.urls"
WSGI_APPLICATION = "jiayuan.wsgi.application"

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
                "jiayuan.core.context_processors.jiayuan",
            ]
        },
    }
]

# Database: SQLite (WAL, busy timeout) by default; anything else by URL.
DATABASE_URL = os.environ.get("JIAYUAN_DATABASE_URL", "")
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    # A 64 MB page cache and memory-mapped reads per connection: the default 2 MB cache makes
    # every batch over a big ticket table (the SLA sweep, the inbox counts) re-read its index
    # pages through system calls.
    "init_command": (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA busy_timeout=20000; PRAGMA foreign_keys=ON; "
        "PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY;"
    ),
}
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get(
            "JIAYUAN_TEST_DATABASE", "test_jiayuan"
        )
        # Parallel query off for the application's own connections by default: its reads are
        # small indexed ranges (rollups, lists), for which starting workers cost more than they
        # save (the city dashboard at 10 M tickets: 209 → 167 ms), and on a small server the
        # workers take the cores other requests need. Bulk jobs open their own connections.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        parallel = int(os.environ.get("JIAYUAN_PG_PARALLEL_WORKERS", "0"))
        options["options"] = (
            f"{options.get('options', '')} -c max_parallel_workers_per_gather={parallel}".strip()
        )
    elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # Same WAL / busy-timeout / IMMEDIATE options as the embedded default.
        DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "jiayuan.sqlite3"),
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    }
# Persistent connections for every engine (checked before reuse). For SQLite this matters more
# than for a server: closing the last connection to a WAL database checkpoints the log into the
# main file, so a connection per request made every write pay a checkpoint (12 ms of a 13 ms
# Open311 submission, measured with cProfile), and every request re-ran the PRAGMAs above.
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("JIAYUAN_CONN_MAX_AGE", "600"))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("JIAYUAN_STATIC_ROOT", VAR_DIR / "static"))
with contextlib.suppress(OSError):  # WhiteNoise warns on every request when it is missing
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS: list = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG  # in the demo, serve straight from the sources and node_modules
# Third-party front-end assets installed by npm (see package.json); served by jiayuan itself.
NODE_MODULES = PROJECT_DIR / "node_modules"
for _prefix, _dist in [
    ("vendor/htmx", "htmx.org/dist"),
    ("vendor/leaflet", "leaflet/dist"),
    ("vendor/echarts", "echarts/dist"),
]:
    if (NODE_MODULES / _dist).is_dir():
        STATICFILES_DIRS.append((_prefix, NODE_MODULES / _dist))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# The category classifier's artefact (``jiayuan route train`` writes it; see docs/routing.md).
JIAYUAN_ROUTING_MODEL_DIR = Path(os.environ.get("JIAYUAN_ROUTING_MODEL_DIR", VAR_DIR / "routing"))
MEDIA_ROOT = Path(os.environ.get("JIAYUAN_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

REDIS_URL = os.environ.get("JIAYUAN_REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Background work (SLA sweeps, notifications) goes through one task interface: django-tasks.
# The database backend works on the embedded default (run `jiayuan worker`); set
# JIAYUAN_TASK_BACKEND=django_tasks.backends.immediate.ImmediateBackend to run tasks inline.
TASKS = {
    "default": {
        "BACKEND": os.environ.get("JIAYUAN_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

# Open311 GeoReport v2: the jurisdiction_id clients must send (if any).
OPEN311_JURISDICTION_ID = os.environ.get("JIAYUAN_OPEN311_JURISDICTION_ID", "yantai.gov.cn")

# Public URL used in QR codes printed on building boards (一牌四公开).
PUBLIC_BASE_URL = os.environ.get("JIAYUAN_PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = os.environ.get("JIAYUAN_SITE_NAME", "家园 · 烟台幸福家园")

# Reverse proxies in front of jiayuan that append the client's address to X-Forwarded-For
# (nginx `proxy_add_x_forwarded_for`): rate limits and access logs take the address that many
# hops from the right. 0 (the default) uses the socket's address and ignores the header, which a
# client could forge.
TRUSTED_PROXIES = int(os.environ.get("JIAYUAN_TRUSTED_PROXIES", "0"))

# Production hardening: on whenever DEBUG is off, so `check --deploy` is clean.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("JIAYUAN_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("JIAYUAN_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    SILENCED_SYSTEM_CHECKS: list[str] = []

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("JIAYUAN_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
