"""`make bench`: every benchmark, each printing its figures side by side with a peer.

The last line is the sync benchmark's summary: `sync_s=<x> kubectl_s=<y> parse_s=<z> rss_mb=<m>`.
"""

from __future__ import annotations

import sys

from . import sim_large, sync


def main() -> None:
    quick = "--quick" in sys.argv
    sim_large.main(runs=1 if quick else 3)
    line = sync.main(runs=1 if quick else 3, idle_s=5 if quick else 30)
    print(line, flush=True)


if __name__ == "__main__":
    main()
