from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


def local_folders_create() -> None:
    """Create the local folders the settings point at (under VAR_DIR by default): the SQLite
    database's, the collected static files' and the embedded broker's. Settings only name
    them, so that importing the settings creates nothing; every process (web, worker,
    management command) creates them here when Django starts."""
    folders = [Path(settings.STATIC_ROOT)]
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        for name in (database["NAME"], database.get("TEST", {}).get("NAME")):
            if name and str(name) != ":memory:":
                folders.append(Path(name).parent)
    if settings.CELERY_EMBEDDED_BROKER:
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folders += [Path(options[key]) for key in ("data_folder_out", "processed_folder")]
        folders.append(Path(options["control_folder"]))
    results = settings.CELERY_RESULT_BACKEND or ""
    if results.startswith("db+sqlite:///"):
        folders.append(Path(results.removeprefix("db+sqlite:///")).parent)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "core"

    def ready(self) -> None:
        local_folders_create()
