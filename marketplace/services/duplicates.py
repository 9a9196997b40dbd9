"""Duplicate detection: exact (normalised hash) and near (MinHash/LSH over word 3-shingles,
plus one-edit keys for short texts), within a version and against every other listed dataset.
See ``marketplace.fingerprints`` for the fingerprints and the near-duplicate test.

Rules
-----
* **Scope.** A version's samples are compared with the earlier samples of the same version
  and with the samples of every *listed* dataset: ready versions of other published listings.
  Versions of one listing are not compared with each other (a new version normally repeats
  the old one; only the current version is sold). Drafts are not a source of originals.
* **Who is the original.** A sample is *listed* from ``max(listing.listed_at,
  version.ready_at)`` (``listed_at`` is the listing's first publication). The earlier-listed
  sample is the original; ties go to the lower id; within a version the lower position.
  A new upload is therefore always later than what is on the market, so copying another
  provider's data flags every copied sample, exactly or with small edits.
* **Publishing re-checks.** ``listing_publish`` re-runs detection for the listing's ready
  versions. A listing that was listed earlier, unpublished, and republished keeps its
  precedence: a sample another provider listed in the meantime becomes the duplicate.
* ``duplicate_of`` always points to a root (an original that is not itself a duplicate); a
  sample whose root belongs to its own listing is not flagged (a provider cannot copy itself
  across versions). Duplicates are never sold nor paid: ``selectors.sellable_samples``.
* A taken-down original stays the original: copies of removed data do not start earning.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from marketplace import conf, fingerprints
from marketplace.models import DatasetVersion, Listing, Sample, SampleBand

CHUNK = 500
MAX_NEAR_CHECKS = 100
EXACT = Sample.DuplicateKind.EXACT
NEAR = Sample.DuplicateKind.NEAR


@dataclass
class _Info:
    id: int
    version_id: int
    listing_id: int
    position: int
    duplicate_of_id: int | None
    listed: float  # timestamp from which the sample counts as listed (inf: not listed)


@dataclass
class DuplicateSummary:
    exact: int = 0
    near: int = 0
    retroactive: int = 0


_FIELDS = (
    "id",
    "version_id",
    "position",
    "duplicate_of_id",
    "version__listing_id",
    "version__ready_at",
    "version__listing__listed_at",
    "version__status",
)


def _listed_time(row: dict) -> float:
    """When a sample was first listed; inf if its listing was never published or its
    version is not ready. An unpublished or taken-down listing keeps its original time."""
    ready = row["version__status"] == DatasetVersion.Status.READY
    listed_at: datetime | None = row["version__listing__listed_at"]
    ready_at: datetime | None = row["version__ready_at"]
    if not (ready and listed_at and ready_at):
        return math.inf
    return max(listed_at, ready_at).timestamp()


def _info(row: dict) -> _Info:
    return _Info(
        id=row["id"],
        version_id=row["version_id"],
        listing_id=row["version__listing_id"],
        position=row["position"],
        duplicate_of_id=row["duplicate_of_id"],
        listed=_listed_time(row),
    )


def _cross_q(listing_id: int, prefix: str = "") -> Q:
    return Q(
        **{
            f"{prefix}version__status": DatasetVersion.Status.READY,
            f"{prefix}version__listing__status": Listing.Status.PUBLISHED,
        }
    ) & ~Q(**{f"{prefix}version__listing_id": listing_id})


class _Detector:
    def __init__(self, version: DatasetVersion, *, own_listed: float):
        self.version = version
        self.listing_id = version.listing_id
        self.own_listed = own_listed
        self.threshold = conf.near_duplicate_threshold()
        self.infos: dict[int, _Info] = {}
        # Decisions not yet flushed: sample id -> (root id, kind).
        self.pending: dict[int, tuple[int, str]] = {}
        self.summary = DuplicateSummary()

    # -- lookups ---------------------------------------------------------------------------

    def _load(self, ids: set[int]) -> None:
        missing = [pk for pk in ids if pk not in self.infos]
        for start in range(0, len(missing), 900):
            rows = Sample.objects.filter(pk__in=missing[start : start + 900]).values(*_FIELDS)
            for row in rows:
                self.infos[row["id"]] = _info(row)

    def _root(self, pk: int) -> int:
        if pk in self.pending:
            return self.pending[pk][0]
        info = self.infos[pk]
        return info.duplicate_of_id or info.id

    def _precedes(self, candidate: _Info, sample: _Info) -> bool:
        """True when ``candidate`` was listed before ``sample`` (so it is the original)."""
        if candidate.version_id == sample.version_id:
            return candidate.position < sample.position
        return (candidate.listed, candidate.id) < (self.own_listed, sample.id)

    # -- decisions ---------------------------------------------------------------------------

    def _decide(self, sample: _Info, matches: list[tuple[int, str]]) -> None:
        """``matches``: (candidate id, kind) pairs already confirmed as duplicates of sample."""
        roots: dict[int, str] = {}
        for candidate_id, kind in matches:
            root_id = self._root(candidate_id)
            if root_id == sample.id:
                continue
            if kind == EXACT or root_id not in roots:
                roots[root_id] = kind
        if not roots:
            return
        self._load(set(roots))
        earlier: list[tuple[tuple, int, str]] = []
        later: list[tuple[int, str]] = []
        for root_id, kind in roots.items():
            root = self.infos[root_id]
            if root.listing_id == self.listing_id and root.version_id != self.version.pk:
                continue  # the provider's own data in another version of this listing
            if self._precedes(root, sample):
                rank = (
                    (0, root.listed, root.id)
                    if root.version_id != self.version.pk
                    else (1, root.position, root.id)
                )
                earlier.append((rank, root_id, kind))
            elif root.version_id != self.version.pk and math.isfinite(self.own_listed):
                later.append((root_id, kind))
        final_root = sample.id
        if earlier:
            _rank, root_id, kind = min(earlier)
            self.pending[sample.id] = (root_id, kind)
            final_root = root_id
            if kind == EXACT:
                self.summary.exact += 1
            else:
                self.summary.near += 1
        for root_id, kind in later:
            if root_id != final_root:
                self.pending[root_id] = (final_root, kind)
                self.summary.retroactive += 1

    def _flush(self) -> None:
        if not self.pending:
            return
        with transaction.atomic():
            by_target: dict[tuple[int, str], list[int]] = defaultdict(list)
            for sample_id, (root_id, kind) in self.pending.items():
                by_target[(root_id, kind)].append(sample_id)
            flagged = list(self.pending)
            for (root_id, kind), sample_ids in by_target.items():
                Sample.objects.filter(pk__in=sample_ids).update(
                    duplicate_of_id=root_id, duplicate_kind=kind
                )
            # Anything that pointed at a sample that is now a duplicate follows it to its root.
            dependants = Sample.objects.filter(duplicate_of_id__in=flagged).values_list(
                "id", "duplicate_of_id"
            )
            moves: dict[int, list[int]] = defaultdict(list)
            for dependant_id, old_root in dependants:
                moves[self.pending[old_root][0]].append(dependant_id)
            for new_root, dependant_ids in moves.items():
                Sample.objects.filter(pk__in=dependant_ids).update(duplicate_of_id=new_root)
        for sample_id, (root_id, _kind) in self.pending.items():
            if sample_id in self.infos:
                self.infos[sample_id].duplicate_of_id = root_id
        self.pending.clear()

    # -- phases ----------------------------------------------------------------------------

    def run_chunk(self, chunk: list[dict]) -> None:
        own = [_info(row) for row in chunk]
        for info in own:
            info.listed = self.own_listed
            self.infos[info.id] = info
        last_position = own[-1].position
        self._exact(own, chunk, last_position)
        self._near([info for info in own if info.id not in self.pending], last_position)
        self._flush()
        # Keep memory flat: forget this chunk's candidates, keep nothing per sample.
        self.infos.clear()

    def _exact(self, own: list[_Info], chunk: list[dict], last_position: int) -> None:
        hashes = {row["norm_hash"] for row in chunk}
        same_version = Sample.objects.filter(
            version=self.version, norm_hash__in=hashes, position__lt=last_position
        )
        cross = Sample.objects.filter(_cross_q(self.listing_id), norm_hash__in=hashes)
        by_hash: dict[str, list[int]] = defaultdict(list)
        for queryset in (same_version, cross):
            for row in queryset.values(*_FIELDS, "norm_hash"):
                if row["id"] not in self.infos:
                    self.infos[row["id"]] = _info(row)
                by_hash[row["norm_hash"]].append(row["id"])
        for info, row in zip(own, chunk, strict=True):
            matches = [
                (candidate, EXACT)
                for candidate in by_hash.get(row["norm_hash"], ())
                if candidate != info.id
                and (
                    self.infos[candidate].version_id != self.version.pk
                    or self.infos[candidate].position < info.position
                )
            ]
            if matches:
                self._decide(info, matches)

    def _near(self, own: list[_Info], last_position: int) -> None:
        if not own:
            return
        own_ids = [info.id for info in own]
        own_keys: dict[int, list[int]] = defaultdict(list)
        for sample_id, key in SampleBand.objects.filter(sample_id__in=own_ids).values_list(
            "sample_id", "key"
        ):
            own_keys[sample_id].append(key)
        own_key_rows = SampleBand.objects.filter(sample_id__in=own_ids).values("key")
        same_version = SampleBand.objects.filter(
            key__in=own_key_rows, sample__version=self.version, sample__position__lt=last_position
        )
        cross = SampleBand.objects.filter(
            _cross_q(self.listing_id, "sample__"), key__in=own_key_rows
        )
        hits: dict[int, set[int]] = defaultdict(set)
        for queryset in (same_version, cross):
            for sample_id, key in queryset.values_list("sample_id", "key"):
                hits[key].add(sample_id)
        candidates_of: dict[int, list[int]] = {}
        wanted: set[int] = set()
        for info in own:
            shared: dict[int, int] = defaultdict(int)
            for key in own_keys.get(info.id, ()):
                for candidate in hits.get(key, ()):
                    if candidate != info.id:
                        shared[candidate] += 1
            ranked = sorted(shared, key=lambda pk: (-shared[pk], pk))[:MAX_NEAR_CHECKS]
            candidates_of[info.id] = ranked
            wanted.update(ranked)
        if not wanted:
            return
        wanted.update(own_ids)
        texts = self._normalised_texts(wanted)
        self._load(wanted)
        for info in own:
            matches = []
            for candidate in candidates_of[info.id]:
                other = self.infos[candidate]
                if other.version_id == self.version.pk and other.position >= info.position:
                    continue
                if fingerprints.is_near_duplicate(
                    texts[info.id], texts[candidate], threshold=self.threshold
                ):
                    matches.append((candidate, NEAR))
            if matches:
                self._decide(info, matches)

    @staticmethod
    def _normalised_texts(ids: set[int]) -> dict[int, str]:
        result: dict[int, str] = {}
        id_list = list(ids)
        for start in range(0, len(id_list), 900):
            rows = Sample.objects.filter(pk__in=id_list[start : start + 900]).values_list(
                "id", "text", "prompt", "response"
            )
            for pk, text, prompt, response in rows:
                result[pk] = fingerprints.normalise(
                    fingerprints.joined_text(text=text, prompt=prompt, response=response)
                )
        return result


def _own_listed_time(version: DatasetVersion, *, recheck: bool) -> float:
    """When this version's samples count as listed (inf while ingesting or unlisted)."""
    listing = version.listing
    if not recheck or listing.status != Listing.Status.PUBLISHED or listing.listed_at is None:
        return math.inf
    if version.status != DatasetVersion.Status.READY or version.ready_at is None:
        return math.inf
    return max(listing.listed_at, version.ready_at).timestamp()


def _detect(
    version: DatasetVersion, *, recheck: bool, progress: Callable[..., None] | None
) -> DuplicateSummary:
    detector = _Detector(version, own_listed=_own_listed_time(version, recheck=recheck))
    total = Sample.objects.filter(version=version).count()
    done = 0
    last_position = -1
    while True:
        chunk = list(
            Sample.objects.filter(version=version, position__gt=last_position)
            .order_by("position")
            .values(*_FIELDS, "norm_hash")[:CHUNK]
        )
        if not chunk:
            break
        detector.run_chunk(chunk)
        last_position = chunk[-1]["position"]
        done += len(chunk)
        if progress is not None:
            progress(done, total, "rows")
    if progress is not None:
        progress(done, total, "rows", force=True)
    return detector.summary


def duplicates_detect_for_version(
    *, version: DatasetVersion, progress: Callable[..., None] | None = None
) -> DuplicateSummary:
    """Flag the duplicates among a version being ingested (it is always the later one)."""
    return _detect(version, recheck=False, progress=progress)


def duplicates_recheck_listing(*, listing: Listing) -> DuplicateSummary:
    """Recompute duplicate flags of a listing's ready versions (on publish/republish).

    The listing's own flags are reset and detected again against what is listed now; other
    listings' samples that were listed after this listing's samples become duplicates.
    """
    total = DuplicateSummary()
    versions = DatasetVersion.objects.select_related("listing").filter(
        listing=listing, status=DatasetVersion.Status.READY
    )
    for version in versions.order_by("number"):
        Sample.objects.filter(version=version).exclude(duplicate_of=None).update(
            duplicate_of=None, duplicate_kind=""
        )
        summary = _detect(version, recheck=True, progress=None)
        total.exact += summary.exact
        total.near += summary.near
        total.retroactive += summary.retroactive
    return total
