"""Fill the app's cache from the database: python3 -m webapp.warm_cache [--limit N]."""

from __future__ import annotations

import argparse
import json
import sys

from webapp import store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="warm at most N items (0: all)")
    parser.add_argument("--ttl", type=int, default=300, help="seconds the warmed keys live")
    args = parser.parse_args(argv)
    cache = store.redis_client()
    items = store.all_items()
    if args.limit:
        items = items[: args.limit]
    pipe = cache.pipeline(transaction=False)
    pipe.set("webstack:items:all", json.dumps(store.all_items(), default=str), ex=60)
    pipe.set("webstack:categories", json.dumps(store.all_categories(), default=str), ex=args.ttl)
    for item in items:
        full = store.one_item(item["id"])
        pipe.set(f"webstack:item:{item['id']}", json.dumps(full, default=str), ex=args.ttl)
    pipe.execute()
    print(json.dumps({"keys_set": len(items) + 2}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
