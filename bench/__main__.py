"""`make bench`: every benchmark, each printing its figures side by side with a peer.

Order: the simulator's large scenario, the model alone, the fair-share table, telemetry (its line
`scrape_s=<x> scrape_floor_s=<y>`), the inference pods' serving metrics (`serving_scrape_s=<x> serving_get_s=<y>`),
the full sync (`sync_s=<x> kubectl_s=<y> parse_s=<z> rss_mb=<m>`), what
HTTPS costs against plain HTTP, the ASCII filter and a shell completion TAB (bench.terminal), the console under
sustained churn (`churn_events_per_s=<n> churn_change_p99_ms=<x> churn_key_p99_ms=<y> rss_growth_mb=<z>`), then
the console on a quiet cluster, whose per-pane lines `key_p99_ms_<pane>=<x>` and summary
`key_p99_ms=<x> change_p99_ms=<y> first_frame_s=<z>` end the run. `--quick` runs smaller, once. The churn soak
(`python -m bench.churn --soak`, 30 minutes) is not part of it.
Each module also runs alone (`python -m bench.sync`, `python -m bench.ui`, ...), ending with its own line.
"""

from __future__ import annotations

import sys

from . import churn, fair_share, model_sync, serving, sim_large, sync, telemetry, terminal, tls, ui


def main() -> None:
    quick = "--quick" in sys.argv
    sim_large.main(runs=1 if quick else 3)
    model_sync.main(["--pods", "6000", "--nodes", "200", "--queues", "50"] if quick else [])
    fair_share.main(["--departments", "10", "--nodes", "200"] if quick else [])
    print(telemetry.main(runs=1 if quick else 3, nodes=200 if quick else 2000, ticks=100 if quick else 500),
          flush=True)
    serving.main(runs=1 if quick else 3, pods=200 if quick else 2000)
    line = sync.main(runs=1 if quick else 3, idle_s=5 if quick else 30)
    print(line, flush=True)
    tls.main(runs=1 if quick else 3, pods=5000 if quick else 20000, nodes=200 if quick else 700,
             queues=50 if quick else 150)
    print(terminal.main(), flush=True)
    churn.main(rate=300 if quick else 1000, seconds=20 if quick else 60)
    ui.main("large", keys_per_view=10 if quick else 30, changes=10 if quick else 20)


if __name__ == "__main__":
    main()
