"""``python manage.py seed_demo``: demo users, listings, target tasks and one valuation job
from demo/manifest.json.

Idempotent: every object is looked up by its natural key (username, listing slug, the
buyer's task name, the buyer's job on that task) and only what is missing is created, so a
second run creates nothing and changes nothing. Datasets are ingested through the same
services as browser uploads (inline, so no worker is needed) and published in manifest
order: the earlier listing is the original when datasets share samples.

The demo valuation (``valuation.demo.DEMO_VALUATION``: ALinFiK for the demo buyer's "Clean
instruction following" task over the two instruction datasets) is only queued here, through
the valuation request service; a worker computes it (``make run`` starts one). Skip it with
``--no-valuation``.

Demo purchases (``payments.services.demo``): in test mode the demo buyer buys samples from
every demo provider, at the listings' floor prices (not from the valuation, which is not
computed yet), pays at the test checkout, and the providers' simulated payout accounts receive
the transfers and pay them out, so every provider's payout report shows sales, fees and
payouts. Skip them with ``--no-purchases``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from accounts.services import user_create
from core.errors import Invalid
from marketplace.licences import licence_normalise
from marketplace.models import DatasetVersion, Listing, TargetTask
from marketplace.selectors import version_duplicate_summary
from marketplace.services.listings import listing_create, listing_publish
from marketplace.services.targets import target_set_upload, target_task_create
from marketplace.services.versions import version_upload
from payments import conf as payments_conf
from payments.errors import PaymentsError
from payments.gateways import gateway_is_test_mode
from payments.services.demo import DemoSeller, demo_purchases_record
from valuation.demo import DEMO_BUYER_USERNAME, DEMO_VALUATION
from valuation.errors import ValuationError
from valuation.models import ValuationJob
from valuation.services import valuation_job_request_once

DEMO_DIR = Path(settings.BASE_DIR) / "demo"
ADMIN = ("admin", "admin")
BUYER = (DEMO_BUYER_USERNAME, "demo-buyer-pass")
PROVIDER_PASSWORD = "demo-provider-pass"
_LANGUAGE = re.compile(r"^([a-zA-Z]{2,3})(-[A-Za-z0-9]{2,8})?")
DATASET_KEYS = ("slug", "provider", "title", "license", "file", "floor_price_cents_per_1k_tokens")


NOTICE_FILE = "data/NOTICE.txt"


def demo_source_text(entry: dict[str, Any]) -> str:
    """A demo listing's datasheet source with its attribution. The attribution's pointer to
    the notices file of the demo folder becomes the address of the notices page, which
    the listing page shows as a link."""
    source = entry.get("datasheet", {}).get("source", "")
    if entry.get("attribution"):
        source = f"{source}\n\nAttribution: {entry['attribution']}".strip()
    notices = settings.SITE_URL.rstrip("/") + reverse("marketplace:notices")
    return source.replace(f"see {NOTICE_FILE}", f"see {notices}").replace(NOTICE_FILE, notices)


class Command(BaseCommand):
    help = (
        "Create demo users, listings (ingested and published), target tasks and the demo "
        "buyer's valuation job (queued for a worker) and, in test mode, demo purchases paid "
        "out to simulated payout accounts. Idempotent."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--demo-dir",
            default=str(DEMO_DIR),
            help="Folder holding manifest.json and data/ (default: the repository's demo/).",
        )
        parser.add_argument(
            "--no-valuation",
            action="store_true",
            help="Do not request the demo buyer's valuation job.",
        )
        parser.add_argument(
            "--no-purchases",
            action="store_true",
            help="Do not record the demo buyer's purchases (test mode only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        demo_dir = Path(options["demo_dir"])
        manifest = self._manifest(demo_dir)
        self.created = 0

        admin = self._user(*ADMIN, is_staff=True, display_name="Demo admin")
        self.stderr.write(
            self.style.WARNING(
                "WARNING: demo staff account admin/admin -- for local demos only, never in "
                "production."
            )
        )
        providers = {
            entry["slug"]: self._user(
                entry["slug"],
                PROVIDER_PASSWORD,
                is_provider=True,
                display_name=entry.get("name", entry["slug"]),
                organisation=entry.get("name", ""),
            )
            for entry in manifest["providers"]
        }
        buyer = self._user(*BUYER, is_buyer=True, display_name="Demo buyer")

        for entry in manifest["datasets"]:
            provider = providers.get(entry["provider"])
            if provider is None:
                raise CommandError(
                    f"demo/manifest.json: dataset {entry['slug']!r} names provider "
                    f"{entry['provider']!r}, which is not in 'providers'"
                )
            self._listing(demo_dir, entry, provider)
        tasks = {
            entry["slug"]: self._target(demo_dir, entry, buyer)
            for entry in manifest.get("targets", [])
        }
        if not options["no_purchases"]:
            self._purchases(manifest, providers, buyer)
        job = None if options["no_valuation"] else self._valuation(tasks, buyer)

        self.stdout.write("")
        self.stdout.write("Demo accounts (passwords are for local demos only):")
        self.stdout.write(f"  staff     {ADMIN[0]} / {ADMIN[1]}  ({admin.get_username()})")
        for slug in providers:
            self.stdout.write(f"  provider  {slug} / {PROVIDER_PASSWORD}")
        self.stdout.write(f"  buyer     {BUYER[0]} / {BUYER[1]}")
        if job is not None:
            # scripts/run_local.py reads this line for its banner: keep "  valuation <path> ".
            path = reverse("valuation:job_detail", args=[job.pk])
            self.stdout.write(
                f"  valuation {path} {job.status} (job #{job.pk}, {job.task.name}; "
                f"log in as {BUYER[0]})"
            )
        verdict = f"created {self.created} object(s)" if self.created else "nothing new to create"
        self.stdout.write(self.style.SUCCESS(f"seed_demo: {verdict}."))

    # --- manifest ---------------------------------------------------------------------------

    def _manifest(self, demo_dir: Path) -> dict[str, Any]:
        path = demo_dir / "manifest.json"
        if not path.exists():
            raise CommandError(f"{path} is missing: the demo corpora are not built (see demo/).")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{path} is not valid JSON: {exc}") from exc
        for key in ("providers", "datasets"):
            if not isinstance(manifest.get(key), list) or not manifest[key]:
                raise CommandError(f"{path}: '{key}' is missing or empty")
        for index, entry in enumerate(manifest["datasets"]):
            missing = [key for key in DATASET_KEYS if key not in entry]
            if missing:
                raise CommandError(
                    f"{path}: datasets[{index}] ({entry.get('slug', '?')}) lacks "
                    f"{', '.join(missing)}"
                )
        for entry in manifest["datasets"] + manifest.get("targets", []):
            self._check_file(demo_dir, entry)
        return manifest

    @staticmethod
    def _check_file(demo_dir: Path, entry: dict[str, Any]) -> None:
        path = demo_dir / entry["file"]
        if not path.exists():
            raise CommandError(f"{path} is missing (named by demo/manifest.json, {entry['slug']})")
        expected = entry.get("sha256")
        if expected:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            if actual != expected:
                raise CommandError(
                    f"{path} does not match demo/manifest.json (sha256 {actual[:12]}..., "
                    f"expected {expected[:12]}...): rebuild the demo corpora"
                )

    # --- objects ----------------------------------------------------------------------------

    def _user(self, username: str, password: str, **fields: Any):
        existing = get_user_model().objects.filter(username=username).first()
        if existing is not None:
            return existing
        self.created += 1
        self.stdout.write(f"+ user {username}")
        return user_create(
            username=username,
            email=f"{username}@demo.datamarket.local",
            password=password,
            **fields,
        )

    def _listing(self, demo_dir: Path, entry: dict[str, Any], provider) -> Listing:
        listing = Listing.objects.filter(slug=entry["slug"]).first()
        if listing is not None and listing.provider_id != provider.pk:
            raise CommandError(
                f"listing slug {entry['slug']!r} already belongs to another user; "
                "seed_demo needs a database without conflicting data"
            )
        if listing is None:
            listing = self._create_listing(entry, provider)
        elif NOTICE_FILE in listing.source:  # seeded before the notices page existed
            listing.source = demo_source_text(entry)
            Listing.objects.filter(pk=listing.pk).update(source=listing.source)
        if not listing.versions.filter(status=DatasetVersion.Status.READY).exists():
            path = demo_dir / entry["file"]
            with path.open("rb") as handle:
                version = version_upload(
                    listing=listing,
                    actor=provider,
                    file=File(handle, name=path.name),
                    filename=path.name,
                    inline=True,
                )
            if version.status != DatasetVersion.Status.READY:
                raise CommandError(
                    f"{path}: ingest ended {version.status}: {version.error or ''} "
                    f"{json.dumps(version.validation_report.get('errors', [])[:3])}"
                )
            self.created += 1
            self.stdout.write(
                f"  ingested {path.name}: {version.sample_count} samples, "
                f"{version.token_count:,} tokens, language {version.language}"
            )
        listing.refresh_from_db()
        if listing.status in (Listing.Status.DRAFT, Listing.Status.UNPUBLISHED):
            listing = listing_publish(listing=listing, actor=provider)
            self.created += 1
            counts = version_duplicate_summary(version=listing.current_version)
            self.stdout.write(
                f"  published {listing.slug}: {counts['exact']} exact and {counts['near']} near "
                f"duplicate(s) flagged"
            )
        return listing

    def _create_listing(self, entry: dict[str, Any], provider) -> Listing:
        sheet = entry.get("datasheet", {})
        declared = _LANGUAGE.match(sheet.get("language", "") or "")
        source = demo_source_text(entry)
        try:
            listing = listing_create(
                provider=provider,
                slug=entry["slug"],
                title=entry["title"],
                description=entry.get("description", ""),
                source=source,
                collection_method=sheet.get("collection_method", ""),
                language=declared.group(0).lower() if declared else "",
                intended_use=sheet.get("intended_use", ""),
                known_limitations=sheet.get("known_limitations", ""),
                licence=licence_normalise(entry["license"]),
                tags=entry.get("tags", []),
                floor_price_per_1k_tokens=int(entry["floor_price_cents_per_1k_tokens"]),
                currency=payments_conf.platform_currency(),
            )
        except Invalid as exc:
            reasons = " ".join(exc.messages)
            raise CommandError(f"demo/manifest.json: dataset {entry['slug']!r}: {reasons}") from exc
        self.created += 1
        self.stdout.write(f"+ listing {listing.slug} ({provider.get_username()})")
        return listing

    def _valuation(self, tasks: dict[str, TargetTask], buyer) -> ValuationJob | None:
        """The demo buyer's valuation job, requested once; None when this manifest lacks its
        target or datasets (another demo folder)."""
        spec = DEMO_VALUATION
        task = tasks.get(spec.target)
        listings = {
            listing.slug: listing
            for listing in Listing.objects.filter(slug__in=spec.datasets).select_related(
                "current_version"
            )
        }
        missing = [spec.target] if task is None else []
        missing += [slug for slug in spec.datasets if slug not in listings]
        if missing:
            self.stdout.write(
                f"  demo valuation skipped: this manifest has no {', '.join(missing)}"
            )
            return None
        try:
            job, created = valuation_job_request_once(
                task=task,
                versions=[listings[slug].current_version for slug in spec.datasets],
                model_spec=spec.model_spec,
                method=spec.method,
                label_fraction=spec.label_fraction,
                seed=spec.seed,
                requested_by=buyer,
            )
        except ValuationError as exc:
            raise CommandError(
                f"the demo valuation could not be requested: {exc} "
                "(run with --no-valuation to seed without it)"
            ) from exc
        if created:
            self.created += 1
            self.stdout.write(
                f"+ valuation job #{job.pk}: {job.get_method_display()} of "
                f"{', '.join(spec.datasets)} for {task.name!r}, label fraction "
                f"{job.label_fraction:g}, model {job.model_spec} (queued for a worker)"
            )
        return job

    def _purchases(self, manifest: dict[str, Any], providers: dict[str, Any], buyer) -> None:
        """The demo buyer's purchases from every demo provider, paid and paid out (test mode)."""
        if not gateway_is_test_mode():
            self.stdout.write("  demo purchases skipped: Stripe is configured (STRIPE_API_KEY)")
            return
        listings = {
            listing.slug: listing
            for listing in Listing.objects.filter(
                slug__in=[entry["slug"] for entry in manifest["datasets"]]
            )
        }
        sellers = [
            DemoSeller(
                provider=provider,
                listings=[
                    listings[entry["slug"]]
                    for entry in manifest["datasets"]
                    if entry["provider"] == slug and entry["slug"] in listings
                ],
            )
            for slug, provider in providers.items()
        ]
        try:
            result = demo_purchases_record(buyer=buyer, sellers=sellers)
        except PaymentsError as exc:
            raise CommandError(
                f"the demo purchases could not be recorded: {exc} "
                "(run with --no-purchases to seed without them)"
            ) from exc
        for line in result.created:
            self.created += 1
            self.stdout.write(f"+ demo purchase: {line}")

    def _target(self, demo_dir: Path, entry: dict[str, Any], buyer) -> TargetTask:
        name = entry.get("title") or entry["slug"]
        task = TargetTask.objects.filter(buyer=buyer, name=name).first()
        if task is None:
            task = target_task_create(
                buyer=buyer, name=name, description=entry.get("description", "")
            )
            self.created += 1
            self.stdout.write(f"+ target task {name!r}")
        if task.status != TargetTask.Status.READY:
            path = demo_dir / entry["file"]
            with path.open("rb") as handle:
                target_set_upload(
                    task=task, actor=buyer, file=File(handle, name=path.name), filename=path.name
                )
            task.refresh_from_db()
            self.created += 1
            self.stdout.write(f"  target set {path.name}: {task.sample_count} samples")
        return task
