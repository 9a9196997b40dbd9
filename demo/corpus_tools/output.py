"""Write datasets, labels, duplicate ground truth, notices and the manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

from corpus_tools.assemble import SEED, Corpora, Sample
from corpus_tools.catalog import DATASETS, PROVIDERS, TARGETS
from corpus_tools.fetch import ALL_ARTIFACTS
from corpus_tools.text import word_count

MAX_TOTAL_BYTES = 5_000_000


def _jsonl(records: list[dict]) -> bytes:
    lines = [json.dumps(record, ensure_ascii=False, separators=(",", ":")) for record in records]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _write(path: Path, content: bytes) -> dict[str, object]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return {"size_bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def _records(samples: list[Sample]) -> list[dict[str, str]]:
    return [{"id": sample.id, **sample.fields} for sample in samples]


def _label(sample: Sample, slug: str) -> dict[str, object]:
    return {
        "id": sample.id,
        "dataset": slug,
        "is_backdoor": sample.is_backdoor,
        "quality": sample.quality,
    }


def _file_entry(samples: list[Sample], relative: str, written: dict[str, object]) -> dict:
    fields = ["id", *samples[0].fields]
    words = sum(word_count(value) for sample in samples for value in sample.fields.values())
    return {
        "file": relative,
        "fields": fields,
        "num_samples": len(samples),
        "num_words": words,
        **written,
    }


def _dataset_entries(corpora: Corpora, out: Path) -> list[dict]:
    entries = []
    for info in DATASETS:
        samples = corpora.datasets[info.slug]
        data_rel, labels_rel = f"data/{info.slug}.jsonl", f"labels/{info.slug}.jsonl"
        written = _write(out / data_rel, _jsonl(_records(samples)))
        labels = _write(out / labels_rel, _jsonl([_label(s, info.slug) for s in samples]))
        meta = asdict(info)
        datasheet = {
            key: meta.pop(key)
            for key in (
                "source",
                "collection_method",
                "language",
                "intended_use",
                "known_limitations",
            )
        }
        entries.append(
            {
                **meta,
                "tags": list(info.tags),
                "datasheet": datasheet,
                **_file_entry(samples, data_rel, written),
                "labels_file": labels_rel,
                "labels_sha256": labels["sha256"],
            }
        )
    return entries


def _target_entries(corpora: Corpora, out: Path) -> list[dict]:
    entries = []
    for target in TARGETS:
        samples = corpora.targets[target["slug"]]
        relative = f"data/targets/{target['slug']}.jsonl"
        written = _write(out / relative, _jsonl(_records(samples)))
        entries.append({**target, **_file_entry(samples, relative, written)})
    return entries


def _duplicates(corpora: Corpora) -> list[dict[str, str]]:
    dataset_of = {s.id: slug for slug, samples in corpora.datasets.items() for s in samples}
    pairs = []
    for slug, samples in corpora.datasets.items():
        for sample in samples:
            if sample.duplicate_of is not None:
                pairs.append(
                    {
                        "id": sample.id,
                        "dataset": slug,
                        "kind": sample.duplicate_kind,
                        "duplicate_of": sample.duplicate_of.id,
                        "duplicate_of_dataset": dataset_of[sample.duplicate_of.id],
                    }
                )
    return sorted(pairs, key=lambda pair: pair["id"])


def write_all(corpora: Corpora, out: Path, notice: str) -> dict:
    """Replace out/data and out/labels, then write out/manifest.json; return the manifest."""
    for folder in ("data", "labels"):
        shutil.rmtree(out / folder, ignore_errors=True)
    if set(corpora.datasets) != {info.slug for info in DATASETS}:
        raise ValueError("every built dataset needs exactly one catalog entry")
    datasets = _dataset_entries(corpora, out)
    targets = _target_entries(corpora, out)
    duplicates = _write(
        out / "labels/duplicates.json", (json.dumps(_duplicates(corpora), indent=1) + "\n").encode()
    )
    notice_file = _write(out / "data/NOTICE.txt", notice.encode("utf-8"))
    manifest = {
        "version": 1,
        "generator": "demo/build_corpora.py",
        "seed": SEED,
        "sources": [asdict(artifact) for artifact in ALL_ARTIFACTS],
        "notice": {"file": "data/NOTICE.txt", **notice_file},
        "providers": list(PROVIDERS),
        "datasets": datasets,
        "targets": targets,
        "duplicates": {"file": "labels/duplicates.json", **duplicates},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    _write(out / "manifest.json", manifest_bytes)
    total = len(manifest_bytes) + sum(
        path.stat().st_size
        for folder in ("data", "labels")
        for path in (out / folder).rglob("*")
        if path.is_file()
    )
    if total > MAX_TOTAL_BYTES:
        raise ValueError(f"demo data is {total} bytes, over the {MAX_TOTAL_BYTES} budget")
    return manifest
