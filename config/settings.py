"""Settings for the studio's Django target and the legacy migration tool.

`DATABASE_URL` selects the target database. Unset, the target is an embedded
SQLite file in the project folder, so a newcomer needs nothing installed;
PostgreSQL is the production target and the one the test suite runs on.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

# The tool runs from a terminal; there is no public site to protect, but Django
# still needs a key for the admin's sessions.
# Everyone knows this one: what is signed with it proves nothing (see
# migration/precheck/passed.py, which keeps no record signed with it).
LOCAL_ONLY_SECRET_KEY = "insecure-local-only-key"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", LOCAL_ONLY_SECRET_KEY)
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
    "clients",
    "assessments",
    "sessions.apps.TrainingConfig",  # label "training": contrib.sessions owns "sessions"
    "migration",
    "samples",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    ),
}

# The legacy file is read through its own alias, added at run time by
# migration.legacy.open_legacy() from the command's --source, read-only.
# The router keeps every migration and every write away from it.
LEGACY_DATABASE_ALIAS = "legacy"
DATABASE_ROUTERS = ["migration.routers.LegacyRouter"]

# The legacy app wrote `datetime.now()` values in the studio's local time.
LEGACY_TIME_ZONE = "Asia/Seoul"

# Where precheck records which checks a file's exact bytes passed, so that an
# import of the same bytes need not run them again (migration/precheck/passed.py).
# Unset: $XDG_CACHE_HOME/studio-migration, else ~/.cache/studio-migration.
PRECHECK_RECORDS_DIR = os.environ.get("PRECHECK_RECORDS_DIR") or None

AUTH_USER_MODEL = "accounts.User"

# Django's default hasher comes first, so that a carried-over legacy hash (bcrypt,
# or a SHA-256 digest wrapped in PBKDF2) is re-hashed with it at the trainer's
# first successful login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "accounts.hashers.LegacyBCryptPasswordHasher",
    "accounts.hashers.WrappedSHA256PasswordHasher",
    "accounts.hashers.WrappedHMACSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTHENTICATION_BACKENDS = ["accounts.backends.LockoutModelBackend"]

# The legacy app's lock-out policy, carried over: 5 failed logins lock the
# account for 5 minutes.
LOGIN_FAILURE_LIMIT = 5
LOGIN_LOCKOUT_DURATION = timedelta(minutes=5)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        # When the database goes away in the middle of a COPY, psycopg also
        # warns that it could not end the COPY cleanly; the command's own
        # one-line error already says what happened and what to do.
        "psycopg": {"level": "ERROR"},
    },
}
