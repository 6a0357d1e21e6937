#!/usr/bin/env python3
"""Deterministic GitHub-style push events for the nested benchmark: `github_events.py OUT N`.

About 1 KB per event: the Events API's `PushEvent` shape, 0-6 commits each (a struct with a
nested author), as datasets/examples/github_push.toml maps them.
"""

import json
import random
import sys


def main() -> None:
    out, count = sys.argv[1], int(sys.argv[2])
    rng = random.Random(20261202)
    with open(out, "w") as f:
        for i in range(count):
            n = rng.randint(0, 6)
            commits = [
                {
                    "sha": "%040x" % rng.getrandbits(160),
                    "author": {"email": f"dev{rng.randint(1, 500)}@example.com", "name": f"Dev {rng.randint(1, 500)}"},
                    "message": "Fix issue #%d in %s" % (rng.randint(1, 9999), rng.choice(["core", "api", "ui", "db"])),
                    "distinct": rng.random() < 0.9,
                    "url": "https://api.github.com/repos/o/r/commits/%040x" % rng.getrandbits(160),
                }
                for _ in range(n)
            ]
            event = {
                "id": str(2489651045 + i),
                "type": "PushEvent",
                "actor": {"id": rng.randint(1, 10**6), "login": f"user{rng.randint(1, 50000)}", "display_login": "u",
                          "gravatar_id": "", "url": "https://api.github.com/users/u",
                          "avatar_url": "https://avatars.githubusercontent.com/u/1?"},
                "repo": {"id": rng.randint(1, 10**7), "name": f"org{rng.randint(1, 3000)}/repo{rng.randint(1, 100)}",
                         "url": "https://api.github.com/repos/o/r"},
                "payload": {"push_id": rng.randint(1, 10**9), "size": n, "distinct_size": n,
                            "ref": rng.choice(["refs/heads/main", "refs/heads/dev"]),
                            "head": "%040x" % rng.getrandbits(160), "before": "%040x" % rng.getrandbits(160),
                            "commits": commits},
                "public": True,
                "created_at": "2026-11-%02dT%02d:%02d:%02dZ" % (rng.randint(1, 30), rng.randint(0, 23),
                                                                rng.randint(0, 59), rng.randint(0, 59)),
            }
            f.write(json.dumps(event, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
