"""`make bench`: every benchmark, each printing its figures side by side with a peer.

The sync benchmark's summary `sync_s=<x> kubectl_s=<y> parse_s=<z> rss_mb=<m>` is printed, then the
console's `key_p99_ms=<x> change_p99_ms=<y> first_frame_s=<z>` as the last line.
"""

from __future__ import annotations

import sys

from . import sim_large, sync, ui


def main() -> None:
    quick = "--quick" in sys.argv
    sim_large.main(runs=1 if quick else 3)
    line = sync.main(runs=1 if quick else 3, idle_s=5 if quick else 30)
    print(line, flush=True)
    ui.main("large", keys_per_view=10 if quick else 30, changes=10 if quick else 20)


if __name__ == "__main__":
    main()
