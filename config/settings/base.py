"""Settings shared by every profile. Every setting is read from the environment here, with
django-environ, and documented in the README's table; the apps' ``conf.py`` modules only
read these settings (at call time, so tests can override them). Web and worker processes
read the same environment.

With nothing configured the platform runs on embedded defaults: a SQLite file and a
filesystem Celery broker under ``var/``, console email, and the test-mode payment gateway.
Importing the settings creates nothing; the local folders are created when Django starts
(``core.apps.local_folders_create``).
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env.read_env(str(BASE_DIR / ".env"), overwrite=False) if (BASE_DIR / ".env").exists() else None
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=True)
# A fixed development key; the production profile refuses to start without SECRET_KEY.
SECRET_KEY = env.str("SECRET_KEY", default="insecure-dev-key-change-me-7f3c9a1e52b84d6fa0c2")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "core",
    "accounts",
    "marketplace",
    "valuation",
    "payments",
    "website",
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
    # A service's refusal a page did not handle: 404, 403 or the refusal page (core.errors).
    "core.middleware.ServiceErrorMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
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
                "website.context_processors.navigation",
                "website.context_processors.payments_mode",
            ],
            # ``value`` / ``signed_value``: LinFiK values in one format on every page.
            "builtins": ["core.templatetags.values"],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Shared by the web processes of a deployment: set CACHE_URL (e.g. rediscache://host:6379/1).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so that a real worker process can see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes watches every login (the web form, the admin and /api/accounts/token/): after
# LOGIN_FAILURE_LIMIT failures for one username, or from one address, further attempts are
# refused with 429 for LOGIN_LOCKOUT_MINUTES, whatever the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_MINUTES", default=15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "website:home"
LOGOUT_REDIRECT_URL = "website:home"
CSRF_FAILURE_VIEW = "website.views.csrf_failure"

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="DataMarket <noreply@datamarket.local>")

# --- I18N / static / uploads ------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Created at startup (core.apps): WhiteNoise warns on a missing root.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STORAGE_ROOT = Path(env.str("STORAGE_ROOT", default=str(VAR_DIR / "storage")))
MEDIA_ROOT = STORAGE_ROOT
MEDIA_URL = "/media/"
# Uploads ("default") and model artefacts ("artefacts": target gradients, proxies, token
# tables; see core/artefacts.py) on the local filesystem, or with STORAGE_BACKEND=s3 in one S3
# bucket (any S3-protocol server), so that web and workers on separate hosts share them.
# Credentials: boto3's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or an instance role).
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="filesystem")
if STORAGE_BACKEND == "s3":
    _S3_OPTIONS = {
        "bucket_name": env.str("STORAGE_S3_BUCKET"),
        "endpoint_url": env.str("STORAGE_S3_ENDPOINT_URL", default="") or None,
        "region_name": env.str("STORAGE_S3_REGION", default="") or None,
        "addressing_style": env.str("STORAGE_S3_ADDRESSING_STYLE", default="") or None,
        "default_acl": None,
        "querystring_auth": True,
        # Reads roll over from memory to a temporary file past this size.
        "max_memory_size": 8 * 1024 * 1024,
    }
    _S3_PREFIX = env.str("STORAGE_S3_PREFIX", default="").strip("/")
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**_S3_OPTIONS, "location": _S3_PREFIX, "file_overwrite": False},
        },
        "artefacts": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**_S3_OPTIONS, "location": _S3_PREFIX, "file_overwrite": True},
        },
    }
elif STORAGE_BACKEND == "filesystem":
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "artefacts": {"BACKEND": "core.artefacts.LocalArtefactStorage"},
    }
else:
    raise ValueError(f"STORAGE_BACKEND must be 'filesystem' or 's3', not {STORAGE_BACKEND!r}")
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
# A worker's copies of artefacts read from object storage, named by content hash.
ARTEFACT_CACHE_DIR = Path(
    env.str("ARTEFACT_CACHE_DIR", default=str(VAR_DIR / "cache" / "artefacts"))
)
ARTEFACT_CACHE_MAX_BYTES = env.int("ARTEFACT_CACHE_MAX_BYTES", default=20 * 1024**3)
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=512 * 1024 * 1024)
SAMPLE_MAX_CHARS = env.int("SAMPLE_MAX_CHARS", default=32_000)
# Upload parsers' memory bounds (marketplace.conf, docs/security.md): the most one Parquet
# column chunk may decompress to, and the longest line read (default: 16 bytes a character).
INGEST_PARQUET_MAX_CHUNK_BYTES = env.int("INGEST_PARQUET_MAX_CHUNK_BYTES", default=128 * 1024**2)
INGEST_MAX_LINE_BYTES = env.int("INGEST_MAX_LINE_BYTES", default=0) or None
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Marketplace (read through marketplace.conf) ---------------------------------------------
# Uploads at least this big are validated and ingested by a Celery worker; smaller ones are
# processed inside the request.
INGEST_ASYNC_THRESHOLD_BYTES = env.int("INGEST_ASYNC_THRESHOLD_BYTES", default=2 * 1024 * 1024)
# Rows inserted per bulk insert (and per transaction) while ingesting.
INGEST_BATCH_SIZE = env.int("INGEST_BATCH_SIZE", default=1000)
# "auto": COPY on PostgreSQL and bulk INSERTs elsewhere; "insert" forces bulk INSERTs.
INGEST_WRITE_METHOD = env.str("INGEST_WRITE_METHOD", default="auto")
# How many row errors a validation report lists (totals always count every error).
INGEST_REPORT_MAX_ERRORS = env.int("INGEST_REPORT_MAX_ERRORS", default=100)
# Near-duplicate threshold on the Jaccard similarity of word 3-shingle sets.
NEAR_DUPLICATE_THRESHOLD = env.float("NEAR_DUPLICATE_THRESHOLD", default=0.8)
# The catalogue's filter options (tags, licences, languages) are read at most this often.
CATALOGUE_FACETS_CACHE_SECONDS = env.int("CATALOGUE_FACETS_CACHE_SECONDS", default=60)
# Target sets are small: a buyer's examples of the task.
TARGET_MAX_SAMPLES = env.int("TARGET_MAX_SAMPLES", default=10_000)
TARGET_UPLOAD_MAX_BYTES = env.int("TARGET_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
PREVIEW_MAX_SIZE = env.int("PREVIEW_MAX_SIZE", default=20)
# Currencies a listing may be priced in (the platform currency is always one of them).
SUPPORTED_CURRENCIES = tuple(
    code.lower() for code in env.list("SUPPORTED_CURRENCIES", default=["usd", "eur", "gbp"])
)
# A tokenizer.json to count tokens with instead of the packaged model's (tests, air-gapped).
MARKETPLACE_TOKENIZER_JSON = env.str("MARKETPLACE_TOKENIZER_JSON", default="")

# --- Celery ---------------------------------------------------------------------------------
# Embedded default: kombu's filesystem transport under var/broker, consumed by a real worker
# process that `make run` starts. Set CELERY_BROKER_URL (redis://...) for separate workers.
BROKER_DIR = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "broker")))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_EMBEDDED_BROKER = CELERY_BROKER_URL.startswith("filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
    }
    if CELERY_EMBEDDED_BROKER
    else {
        # Above the longest chunk of model work, so a slow chunk is not redelivered mid-run.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600),
        # How often a worker requeues messages whose worker died (interval x throttle seconds).
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
        "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
    }
)
# Results are needed by canvas chords (the valuation pipeline); business results live in
# the application's own tables. Embedded: a SQLite file; with Redis: the broker's Redis.
CELERY_RESULT_BACKEND = (
    env.str(
        "CELERY_RESULT_BACKEND",
        default=(
            f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}"
            if CELERY_EMBEDDED_BROKER
            else CELERY_BROKER_URL
            if CELERY_BROKER_URL.startswith("redis")
            else ""
        ),
    )
    or None
)
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_RESULT_EXTENDED = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "valuation.tasks.gpu.*": {"queue": "gpu"},
    "*": {"queue": "default"},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_MAX_MEMORY_PER_CHILD_KB", default=8_000_000)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Each worker records a heartbeat per queue this often (/healthz lists the workers).
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=30.0)
VALUATION_DEVICE = env.str("VALUATION_DEVICE", default="auto")

# --- Valuation (read through valuation.conf) -------------------------------------------------
# Models a buyer may choose, name -> label (JSON). Buyers never pass a file path: a local
# model directory is only offered when the operator sets VALUATION_LOCAL_MODEL_DIR.
VALUATION_MODELS = env.json("VALUATION_MODELS", default={"smollm2-135m": "SmolLM2-135M (default)"})
# A small local Hugging Face model directory for demos and tests; offered as "local".
VALUATION_LOCAL_MODEL_DIR = env.str("VALUATION_LOCAL_MODEL_DIR", default="")
# Sentence encoder directory for the proxy; "" = the packaged all-MiniLM-L6-v2.
VALUATION_ENCODER_DIR = env.str("VALUATION_ENCODER_DIR", default="")
VALUATION_MODEL_DTYPE = env.str("VALUATION_MODEL_DTYPE", default="float32")
# Exact LinFiK: tokens kept per sample and samples per forward-mode batch.
VALUATION_MAX_LENGTH = env.int("VALUATION_MAX_LENGTH", default=256)
VALUATION_EXACT_BATCH_SIZE = env.int("VALUATION_EXACT_BATCH_SIZE", default=8)
# Samples per chunk (one Celery task, one row in ValuationChunk) in each stage.
VALUATION_EXACT_CHUNK_SIZE = env.int("VALUATION_EXACT_CHUNK_SIZE", default=256)
VALUATION_EMBED_CHUNK_SIZE = env.int("VALUATION_EMBED_CHUNK_SIZE", default=2_000)
VALUATION_PROXY_CHUNK_SIZE = env.int("VALUATION_PROXY_CHUNK_SIZE", default=50_000)
# Rows per INSERT ... ON CONFLICT statement and per streamed page.
VALUATION_WRITE_BATCH_SIZE = env.int("VALUATION_WRITE_BATCH_SIZE", default=2_000)
VALUATION_READ_BATCH_SIZE = env.int("VALUATION_READ_BATCH_SIZE", default=5_000)
VALUATION_EMBED_BATCH_SIZE = env.int("VALUATION_EMBED_BATCH_SIZE", default=64)
# A chunk found interrupted (its worker died) this many times in one run fails the job.
VALUATION_MAX_INTERRUPTIONS = env.int("VALUATION_MAX_INTERRUPTIONS", default=3)
# A step whose earlier stages are not finished yet waits this long, this often, then fails.
VALUATION_GATE_RETRY_SECONDS = env.int("VALUATION_GATE_RETRY_SECONDS", default=2)
VALUATION_GATE_MAX_RETRIES = env.int("VALUATION_GATE_MAX_RETRIES", default=1_800)
# Re-send the task of a step whose worker died, when a worker starts. Needed where the broker
# cannot redeliver unacknowledged messages (the filesystem transport deletes a message once
# read); Redis redelivers by itself after the visibility timeout. Unset: on the embedded
# broker only.
VALUATION_REDISPATCH_ON_WORKER_START = env.bool(
    "VALUATION_REDISPATCH_ON_WORKER_START", default=None
)
# A running step reads its job's status at most this often, between batches of model work,
# and stops once the job was cancelled.
VALUATION_CANCEL_CHECK_SECONDS = env.float("VALUATION_CANCEL_CHECK_SECONDS", default=1.0)
VALUATION_HISTOGRAM_BINS = env.int("VALUATION_HISTOGRAM_BINS", default=20)
VALUATION_KEEP_TARGET_GRADIENT = env.bool("VALUATION_KEEP_TARGET_GRADIENT", default=False)
VALUATION_PROXY_HIDDEN_DIMS = tuple(
    env.list("VALUATION_PROXY_HIDDEN_DIMS", cast=int, default=[512, 128])
)
# Cross-fitted proxy members (engine alinfik.py): each label is held out from one, so
# fidelity is measured on every label; 1 = one train/validation/holdout split.
VALUATION_PROXY_FOLDS = env.int("VALUATION_PROXY_FOLDS", default=5)
# Rounds of cross-fitting with fresh shuffles (folds x repeats members; a label's held-out
# prediction is the mean of the members that held it out). Ignored for 1 fold.
VALUATION_PROXY_REPEATS = env.int("VALUATION_PROXY_REPEATS", default=3)
VALUATION_PROXY_MAX_EPOCHS = env.int("VALUATION_PROXY_MAX_EPOCHS", default=300)
VALUATION_PROXY_PATIENCE = env.int("VALUATION_PROXY_PATIENCE", default=30)
# The proxy also reads the scored model's token features (engine token_features.py): mean
# input-embedding row of the predicted tokens + log count. False: embeddings only.
VALUATION_PROXY_TOKEN_FEATURES = env.bool("VALUATION_PROXY_TOKEN_FEATURES", default=True)
# The proxy also reads the scored model's hidden state after this many decoder layers
# (engine layer_features.py; capped at the model's layer count), stored once per (sample,
# model) like the sentence embedding. 0: off.
VALUATION_PROXY_LAYERS = env.int("VALUATION_PROXY_LAYERS", default=4)
# Tests only: "stage:index:seconds" makes that step sleep on its first attempt, so a test
# can kill the worker mid-chunk. Unset in production.
VALUATION_TEST_STEP_SLEEP = env.str("VALUATION_TEST_STEP_SLEEP", default="")
# Compute each ready version's sentence embeddings once, at ingest, on a gpu-queue worker.
EMBED_AT_INGEST = env.bool("EMBED_AT_INGEST", default=True)
# The landing page shows the demo buyer's latest finished valuation (seed_demo); off in production.
LANDING_DEMO_VALUATION = env.bool("LANDING_DEMO_VALUATION", default=True)

# --- Client addresses -----------------------------------------------------------------------
# How many reverse proxies in front of the app append to X-Forwarded-For. 0 (default): the
# address is the connection's (REMOTE_ADDR) and X-Forwarded-For is ignored, so a client
# cannot pick its own address to dodge throttling and login lockout. Behind one proxy
# (nginx, a load balancer) set 1: the address that proxy saw is used.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
AXES_IPWARE_PROXY_COUNT = NUM_PROXIES
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if NUM_PROXIES else ("REMOTE_ADDR",)
)

# --- Content-Security-Policy (django-csp) ----------------------------------------------------
# No inline script anywhere (pages load their scripts from static/js/); inline style
# attributes (progress bars) are allowed. Checkout and Connect onboarding leave for Stripe.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", "https://checkout.stripe.com", "https://connect.stripe.com"],
    },
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="600/min"),
    },
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    # See "Client addresses" above: throttles key anonymous callers by this address.
    "NUM_PROXIES": NUM_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DataMarket API",
    "DESCRIPTION": "List LLM training data, value it for a target task with ALinFiK, buy subsets.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from vendored static files: the product works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Payments -------------------------------------------------------------------------------
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# Without a Stripe key payments run on the test-mode gateway (no money moves; every page
# says so). The production profile refuses to start that way unless this is true.
PAYMENTS_TEST_MODE = env.bool("PAYMENTS_TEST_MODE", default=False)
PLATFORM_CURRENCY = env.str("PLATFORM_CURRENCY", default="usd")
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1500)
PRICING_VALUE_RATE = env.str("PRICING_VALUE_RATE", default="0")
QUOTE_TTL_MINUTES = env.int("QUOTE_TTL_MINUTES", default=30)
# A signed download link is good for this long.
PAYMENTS_DOWNLOAD_MAX_AGE_SECONDS = env.int("PAYMENTS_DOWNLOAD_MAX_AGE_SECONDS", default=3600)
PAYMENTS_MAX_TRANSFER_ATTEMPTS = env.int("PAYMENTS_MAX_TRANSFER_ATTEMPTS", default=5)
PAYMENTS_MAX_WEBHOOK_ATTEMPTS = env.int("PAYMENTS_MAX_WEBHOOK_ATTEMPTS", default=5)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"client_errors": {"()": "core.logging.ClientErrorsWithoutTraceback"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_errors"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own console handler (DEBUG only) would print every record a second time
    # beside the root's; its records reach the root handler above.
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}
