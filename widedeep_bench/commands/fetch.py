"""``fetch``: download the real SavedModel, eval.csv and vendor ONNX into the cache, pinned by SHA-256.

Each file comes from the first of its mirrors that serves it (``SeedAsset.urls``: ByteMLPerf's zoo at
lf-bytemlperf.17mh.cn, then lf-xpu-perf.bytetos.com; the vendor ONNX from its one host); ``--base-url``
and ``--url`` replace an asset's mirrors with the one URL they give. The last line's ``served_by`` names
the URL each file was downloaded from (None for a file already in the cache).
"""

from __future__ import annotations

from widedeep_bench.assets import ASSET_NAMES, SEED_ASSETS, lock_path
from widedeep_bench.errors import WidedeepError
from widedeep_bench.progress import say


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fetch", help="download the real assets into the cache and pin their SHA-256",
        description="Download the real open_wide_deep_saved_model.tar (unpacked), eval.csv and the vendor's "
                    "widedeep_dynamicshape_new.onnx into the cache, each from the first of its mirrors that "
                    "serves it, resuming partial downloads. The first fetch pins each file's SHA-256 in "
                    "assets.lock.json; later runs verify against it. Files already in the cache (fetched, or "
                    "put there by hand) are verified or pinned, not downloaded.")
    parser.add_argument("--only", action="append", choices=ASSET_NAMES,
                        help="fetch only this asset (repeatable); default: all three")
    parser.add_argument("--base-url", metavar="URL",
                        help="a mirror: fetch each file from URL/<upstream file name> only, instead of "
                             "trying the seed mirrors")
    parser.add_argument("--url", action="append", default=[], metavar="NAME=URL",
                        help=f"fetch asset NAME ({', '.join(ASSET_NAMES)}) from URL (repeatable; beats --base-url)")
    parser.add_argument("--repin", action="store_true",
                        help="accept files that differ from their pinned SHA-256 (you replaced them knowingly)")
    parser.set_defaults(run=run)


def asset_urls(base_url: str | None, overrides: list[str], names: tuple[str, ...]) -> dict[str, str]:
    """URLs by asset name from ``--base-url`` and ``--url NAME=URL``, each replacing that asset's mirrors;
    assets not named keep their seed mirrors."""
    urls = {}
    if base_url:
        urls = {name: f"{base_url.rstrip('/')}/{SEED_ASSETS[name].file_name}" for name in names}
    for item in overrides:
        name, sep, url = item.partition("=")
        if not sep or not url or name not in ASSET_NAMES:
            raise WidedeepError(f"--url {item!r}: expected NAME=URL with NAME one of {', '.join(ASSET_NAMES)}")
        if name not in names:
            raise WidedeepError(f"--url {item!r}: {name} is not among the assets to fetch ({', '.join(names)})")
        urls[name] = url
    return urls


def run(args) -> dict:
    from widedeep_bench.fetch import fetch_assets

    names = tuple(dict.fromkeys(args.only)) if args.only else ASSET_NAMES
    results = fetch_assets(names, urls=asset_urls(args.base_url, args.url, names), repin=args.repin)
    for name, result in results.items():
        served = f" from {result['served_by']}" if result["served_by"] else ""
        say(f"{name}: {result['status']}{served}, {result['path']} (sha256 {result['sha256'][:16]}...)")
    return {"assets": results, "lock": str(lock_path())}
