"""Settings, all read from the environment here and nowhere else.

With nothing set the app runs on embedded defaults: SQLite, an in-memory channel layer and
Celery tasks run in-process. `DATABASE_URL` and `REDIS_URL` switch to PostgreSQL, a Redis
broker and a Redis channel layer with separate `celery worker` processes. Every variable is
listed with a comment in `.env.example`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    # An empty value (a blank line in .env) means "not set", as for every helper here.
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Core -------------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    SECRET_KEY = "development-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Its widget templates, for FORM_RENDERER below.
    "django.forms",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "channels",
    "students",
    "recognition",
    "attendance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.security.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]
# Widgets render with TEMPLATES, so templates/ can override a widget's template (the admin's date
# and time, templates/admin/widgets/split_datetime.html, labels both inputs).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))

if not env_str("DATABASE_URL"):
    DATA_DIR.mkdir(parents=True, exist_ok=True)

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("SCHOOL_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# 24 h times and unambiguous dates everywhere (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
# Hashed, compressed static files need `collectstatic` (the Docker image runs it); without
# them (development, tests) WhiteNoise serves static/ as it is.
STATIC_MANIFEST = env_bool("DJANGO_STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# Student photos are biometric data: MEDIA_ROOT is never served under a public URL, only
# through views that check permission (attendance/photo_views.py).
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media-not-served/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # At DEBUG this logger writes every SQL statement with its parameters: embeddings included.
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Security (production defaults; DJANGO_DEBUG relaxes what needs HTTPS) -----------------

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Cookies only over HTTPS; DJANGO_SECURE_COOKIES=false is for a plain-HTTP test server only.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# Preloading commits the school's whole domain and its subdomains to HTTPS for years: an
# opt-in (DJANGO_HSTS_PRELOAD), not something check --deploy should push on every install.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Failed log-ins before further attempts are refused for LOGIN_LOCKOUT_SECONDS (config/security.py):
# per username from one address; per username from all addresses and per address for all
# usernames, higher, so that an attacker cannot lock a user out with a few tries.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_MAX_FAILURES_PER_USERNAME = env_int("LOGIN_MAX_FAILURES_PER_USERNAME", 20, minimum=1)
LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("LOGIN_MAX_FAILURES_PER_ADDRESS", 50, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# Reverse proxies (addresses or networks) whose X-Forwarded-For names the client; from anyone
# else the header is ignored. Empty: the client is the connection's peer.
try:
    TRUSTED_PROXIES = [ipaddress.ip_network(item, strict=False) for item in env_list("TRUSTED_PROXIES")]
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES must be IP addresses or networks, comma-separated: {exc}") from None

# --- Uploads and images -----------------------------------------------------------------

PHOTO_MAX_BYTES = env_int("PHOTO_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
PHOTO_MAX_PIXELS = env_int("PHOTO_MAX_PIXELS", 40_000_000, minimum=1)
# Django refuses a request body larger than this before a view sees it; leave room for
# several photos and the multipart envelope on top of one photo's limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = PHOTO_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Photos and embeddings of students inactive this long are purged (manage.py purge_inactive_photos).
PHOTO_RETENTION_DAYS = env_int("PHOTO_RETENTION_DAYS", 365, minimum=1)
# Embed a student's photos (and recognise them) only once their consent is recorded.
REQUIRE_CONSENT = env_bool("REQUIRE_CONSENT", True)
# A photo still pending this long (its task was lost with a worker or a broker) is queued again by
# the periodic sweep (CELERY_BEAT_SCHEDULE). Longer than CELERY_TASK_TIME_LIMIT: a photo being
# embedded is not stale.
PHOTO_PENDING_STALE_SECONDS = env_int("PHOTO_PENDING_STALE_SECONDS", 600, minimum=60)
# A rejected photo (often of bystanders: "2 faces found"), and with REQUIRE_CONSENT any photo of a
# student without recorded consent, keeps its file only this long, for an admin to see why; then
# the file is deleted and the row keeps the reason (students.services.photos_delete_expired_files).
PHOTO_REJECTED_FILE_HOURS = env_int("PHOTO_REJECTED_FILE_HOURS", 72, minimum=1)
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# --- Face recognition -------------------------------------------------------------------

FACE_EMBEDDER_WEIGHTS = env_str("FACE_EMBEDDER_WEIGHTS")
FACE_EMBEDDER_WEIGHTS_SHA256 = env_str("FACE_EMBEDDER_WEIGHTS_SHA256").lower()
TORCH_NUM_THREADS = env_int("TORCH_NUM_THREADS", 2, minimum=1)
# "onnx": embed with ONNX Runtime (int8 once `manage.py build_face_embedder` has run, else an fp32
# export made at first use), about 6x faster per face than "torch" (int8); "torch": the
# eager model, the reference. Both give the same embeddings. The ONNX files live in
# FACE_MODEL_CACHE_DIR.
FACE_EMBEDDER_BACKEND = env_str("FACE_EMBEDDER_BACKEND", "onnx")
if FACE_EMBEDDER_BACKEND not in {"onnx", "torch"}:
    raise ImproperlyConfigured(f"FACE_EMBEDDER_BACKEND must be onnx or torch, not {FACE_EMBEDDER_BACKEND!r}.")
FACE_MODEL_CACHE_DIR = Path(env_str("FACE_MODEL_CACHE_DIR", str(DATA_DIR / "models")))
# Photos with a longer side are downscaled for detection; faces are cropped from the original.
FACE_DETECTION_MAX_SIDE = env_int("FACE_DETECTION_MAX_SIDE", 1280, minimum=160)
# MTCNN detections under this probability are not faces at all (live frames and photos).
FACE_MIN_PROBABILITY = env_float("FACE_MIN_PROBABILITY", 0.90)
# An enrolment photo must have exactly one face at least this sure and this wide.
ENROLMENT_MIN_PROBABILITY = env_float("ENROLMENT_MIN_PROBABILITY", 0.92)
ENROLMENT_MIN_FACE_PX = env_int("ENROLMENT_MIN_FACE_PX", 40, minimum=1)
# A new photo whose face is farther than this from the student's other photos, or nearer than
# this to another student's (and nearer than to the student's own), waits for an admin's review
# instead of being used. Measured on the 49 photos of ../shared/faces (enroll/ and classroom/):
# the same person's photos lie at most 0.78 apart, two different students at least 0.90.
PHOTO_REVIEW_OWN_DISTANCE = env_float("PHOTO_REVIEW_OWN_DISTANCE", 1.0)
PHOTO_REVIEW_OTHER_DISTANCE = env_float("PHOTO_REVIEW_OTHER_DISTANCE", 0.85)
# L2 distance between unit embeddings under which a face is the nearest student.
FACE_MATCH_THRESHOLD = env_float("FACE_MATCH_THRESHOLD", 1.0)
# ... and at least this much closer to that student than to the next: a face between two students
# is nobody (on the classroom stills every wrong name had a margin under 0.08; docs/classroom.md).
FACE_MATCH_MARGIN = env_float("FACE_MATCH_MARGIN", 0.08)
# Faces narrower than this are blurrier and sit closer to everybody: they need a stricter
# distance and margin, and one more agreeing match of their track (ATTENDANCE_CONFIRM_MATCHES_SMALL).
FACE_SMALL_FACE_PX = env_int("FACE_SMALL_FACE_PX", 48)
FACE_SMALL_MATCH_THRESHOLD = env_float("FACE_SMALL_MATCH_THRESHOLD", 0.95)
FACE_SMALL_MATCH_MARGIN = env_float("FACE_SMALL_MATCH_MARGIN", 0.12)

# --- Live attendance ---------------------------------------------------------------------

# One webcam frame over the websocket. The ASGI server's own message limit is started from
# the same variable (bin/serve, docker-compose.yml), so a larger message is refused unbuffered.
# 2 MiB holds a 1920x1080 classroom frame at the page's JPEG quality (about 0.4-0.7 MiB), with room.
FRAME_MAX_BYTES = env_int("FRAME_MAX_BYTES", 2 * 1024 * 1024, minimum=1024)
FRAME_MAX_WIDTH = env_int("FRAME_MAX_WIDTH", 1920, minimum=160)
FRAME_MAX_HEIGHT = env_int("FRAME_MAX_HEIGHT", 1080, minimum=160)
# The resolution the live page asks the camera for (an ideal: the camera gives what it can). The
# back row of a class needs at least 1280x720; the page warns when the camera gives less.
LIVE_CAMERA_WIDTH = env_int("LIVE_CAMERA_WIDTH", 1920, minimum=320)
LIVE_CAMERA_HEIGHT = env_int("LIVE_CAMERA_HEIGHT", 1080, minimum=240)
# A face this far above FACE_MATCH_THRESHOLD is shown as "maybe <name>" for the teacher to
# confirm; it never marks anybody by itself.
FACE_UNCERTAIN_BAND = env_float("FACE_UNCERTAIN_BAND", 0.1)
# Faces narrower than this (in the frame's pixels) are not looked for in live frames: the back
# row of a class is ~25-30 px wide at 1280x720. Frames with a longer side than
# FACE_LIVE_DETECTION_MAX_SIDE are searched on a copy scaled down to it (a 1920x1080 frame's
# smallest face is then 24 px); faces are always cropped from the full frame.
FACE_LIVE_MIN_FACE_PX = env_int("FACE_LIVE_MIN_FACE_PX", 20, minimum=20)
FACE_LIVE_DETECTION_MAX_SIDE = env_int("FACE_LIVE_DETECTION_MAX_SIDE", 1600, minimum=160)
# The whole frame is searched for faces every this many frames; in between, the faces already
# found are followed (MTCNN's last stage on their boxes only, ~20 ms for a class against ~0.7 s
# for a whole 1280x720 frame). A student who comes into view is found within this many frames.
FACE_LIVE_DETECT_EVERY = env_int("FACE_LIVE_DETECT_EVERY", 25, minimum=1)
# Faces embedded per live frame at most (those waiting longest first), bounding a frame's time.
FACE_LIVE_MAX_EMBEDS_PER_FRAME = env_int("FACE_LIVE_MAX_EMBEDS_PER_FRAME", 8, minimum=1)
# A student is marked once this many matches in a row of one face's track named them (faces
# narrower than FACE_SMALL_FACE_PX: ATTENDANCE_CONFIRM_MATCHES_SMALL). A confirmed face keeps its
# name while it is followed and is not embedded again.
ATTENDANCE_CONFIRM_MATCHES = env_int("ATTENDANCE_CONFIRM_MATCHES", 2, minimum=1)
ATTENDANCE_CONFIRM_MATCHES_SMALL = env_int("ATTENDANCE_CONFIRM_MATCHES_SMALL", 3, minimum=1)
# A face within FACE_UNCERTAIN_BAND over the threshold whose nearest student is at least this much
# closer than the next is a *near* match; this many near (or full) matches in a row of one track
# also mark the student. On the classroom video the hardest students sit at 1.04-1.07 from their
# photo, always nearest by 0.09-0.2, while strangers sit between students (margins under 0.07).
FACE_NEAR_MATCH_MARGIN = env_float("FACE_NEAR_MATCH_MARGIN", 0.15)
ATTENDANCE_CONFIRM_NEAR_MATCHES = env_int("ATTENDANCE_CONFIRM_NEAR_MATCHES", 4, minimum=1)
# Live frames are searched for check-in cards' QR codes every this many frames (every frame in a
# "cards only" course); a search takes 6-20 ms on a 1280x720 frame, 18-30 ms at 1920x1080.
CARD_SCAN_EVERY_FRAMES = env_int("CARD_SCAN_EVERY_FRAMES", 3, minimum=1)
# How often a live page checks whether the course's photos or roster changed.
GALLERY_REFRESH_SECONDS = env_int("GALLERY_REFRESH_SECONDS", 10, minimum=1)
# Live pages (websockets) one user may have open at once, counted across server processes in
# the cache; a count left by a crashed process expires this many seconds after the user's last
# accepted connection.
WEBSOCKET_MAX_CONNECTIONS_PER_USER = env_int("WEBSOCKET_MAX_CONNECTIONS_PER_USER", 4, minimum=1)
WEBSOCKET_COUNT_TTL_SECONDS = env_int("WEBSOCKET_COUNT_TTL_SECONDS", 2 * 3600, minimum=60)
# How often a live page checks again that its user may still watch the session (besides the
# checks when their rights or their login change): the longest a right lost without a signal
# (a queryset update, a session flushed or expired) lasts on an open page.
WEBSOCKET_RECHECK_SECONDS = env_int("WEBSOCKET_RECHECK_SECONDS", 30, minimum=1)
SESSION_DEFAULT_MINUTES = env_int("SESSION_DEFAULT_MINUTES", 90, minimum=1)
# A weekly series scheduled at once spans at most this many days and makes at most this many
# sessions (both checked before any session is built).
SESSION_SERIES_MAX_DAYS = env_int("SESSION_SERIES_MAX_DAYS", 366, minimum=1)
SESSION_SERIES_MAX_SESSIONS = env_int("SESSION_SERIES_MAX_SESSIONS", 400, minimum=1)
# Sessions that started more than this many days ago are locked: their records are changed only
# by staff (admins), one by one; they are not opened again, face sightings do not change them,
# and only staff change their times.
ATTENDANCE_LOCK_DAYS = env_int("ATTENDANCE_LOCK_DAYS", 14, minimum=1)

# --- Reports ----------------------------------------------------------------------------

# How much a late arrival counts towards the attendance rate: 1.0 counts it as attended,
# 0.5 as half a session (see attendance/reports.py for the rate).
ATTENDANCE_LATE_WEIGHT = env_float("ATTENDANCE_LATE_WEIGHT", 1.0)
# Students whose attendance rate is under this fraction are flagged in course reports.
ATTENDANCE_RATE_WARNING = env_float("ATTENDANCE_RATE_WARNING", 0.75)

# --- Attendance alerts and email --------------------------------------------------------

# Celery beat runs attendance.alerts.alerts_run every ATTENDANCE_ALERTS_EVERY_SECONDS: a student
# under ATTENDANCE_RATE_WARNING (once ATTENDANCE_ALERT_MIN_SESSIONS sessions count) or absent from
# the last ATTENDANCE_ALERT_CONSECUTIVE_ABSENCES sessions in a row gets one alert email, to the
# course's teachers and the student's recipients, then a digest every ATTENDANCE_ALERT_DIGEST_DAYS.
ATTENDANCE_ALERTS_ENABLED = env_bool("ATTENDANCE_ALERTS_ENABLED", True)
ATTENDANCE_ALERT_CONSECUTIVE_ABSENCES = env_int("ATTENDANCE_ALERT_CONSECUTIVE_ABSENCES", 3, minimum=1)
ATTENDANCE_ALERT_MIN_SESSIONS = env_int("ATTENDANCE_ALERT_MIN_SESSIONS", 3, minimum=1)
ATTENDANCE_ALERT_DIGEST_DAYS = env_int("ATTENDANCE_ALERT_DIGEST_DAYS", 7, minimum=1)
ATTENDANCE_ALERTS_EVERY_SECONDS = env_int("ATTENDANCE_ALERTS_EVERY_SECONDS", 3600, minimum=1)
SCHOOL_NAME = env_str("SCHOOL_NAME", "Class attendance")
# The address the app is reached at, for links in emails (no trailing slash).
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
# Console by default (emails are written to the log); SMTP with
# EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and the EMAIL_HOST settings.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# An SMTP server that does not answer must not hold a worker for ever.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
# For the file-based backend (django.core.mail.backends.filebased.EmailBackend) only.
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "emails"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "attendance@localhost")

# --- Redis, Celery, Channels ------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30 if CELERY_TASK_TIME_LIMIT > 60 else None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With acks_late a task that is never acknowledged is redelivered after this many seconds;
# it must exceed the longest task (the time limit) or a slow task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Run by `celery -A config beat` (one scheduler process); in the embedded eager mode there is
# no scheduler.
CELERY_BEAT_SCHEDULE = {
    "photos-requeue-stale": {
        "task": "students.tasks.photos_requeue_stale",
        "schedule": env_int("PHOTO_PENDING_SWEEP_SECONDS", 300, minimum=10),
    },
    "photos-delete-expired-files": {
        "task": "students.tasks.photos_delete_expired_files",
        "schedule": 3600,
    },
    "send-attendance-alerts": {
        "task": "attendance.tasks.send_attendance_alerts",
        "schedule": ATTENDANCE_ALERTS_EVERY_SECONDS,
    },
}

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 gives up on any read after 5 s by default, exactly as long as the layer's
            # blocking receive (BZPOPMIN, 5 s) waits: every page without an event for 5 s lost its
            # websocket with an error. Reads may take that long, plus a margin.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache holds log-in throttling and websocket counters: shared through Redis when there are
# several server processes, per process otherwise.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- REST API ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call then gets 401 with WWW-Authenticate: Token.
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's parsers, with deeply nested JSON a 400 like any other bad JSON (config/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "EXCEPTION_HANDLER": "config.web.api_exception_handler",
}
# API tokens (django-rest-knox): only a hash is stored, and each expires this many hours after it
# was issued (POST /api/auth/login/); POST /api/auth/logout/ revokes one.
REST_KNOX = {"TOKEN_TTL": datetime.timedelta(hours=env_int("API_TOKEN_TTL_HOURS", 24 * 7, minimum=1))}
# The OpenAPI schema and its docs (/api/schema/, /api/docs/) for anybody, not only logged-in users.
API_SCHEMA_PUBLIC = env_bool("API_SCHEMA_PUBLIC", False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Class attendance API",
    "DESCRIPTION": "Students, photos, courses, sessions and attendance records.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["config.web.SchemaAccess"],
    "ENUM_NAME_OVERRIDES": {
        "PhotoStatusEnum": "students.models.StudentPhoto.Status",
        "AttendanceStatusEnum": "attendance.models.AttendanceRecord.Status",
        "SessionStateEnum": "attendance.models.ClassSession.State",
    },
    # Served from our own static files: schools may have no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No call to the public validator: it would send our schema URL to another site.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
}
