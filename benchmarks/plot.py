"""The performance page's figure: alert latency against load, and backlog throughput against
the peers, measured in one run on one broker.

    python benchmarks/plot.py --bootstrap HOST:PORT [--rates 1000,2000,3000,4000]
                              [--out docs/performance.png] [--data docs/performance.json]

Runs `latency.py` once per rate (default routing, the contract's keys) and `throughput.py`
once (`mix`), keeps their JSON in `--data`, and draws both panels. `--from-data` redraws from
a kept file without measuring. Figures move between runs on a shared machine: the page says
which run drew it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def measure(bootstrap: str, rates: list[int], hours: float, seed: int) -> dict[str, Any]:
    latency = []
    for rate in rates:
        out = _run(
            "latency.py", "--rate", str(rate), "--hours", str(hours), "--seed", str(seed),
            "--bootstrap", bootstrap, "--json",
        )  # fmt: skip
        latency.append({"target_rate": rate, **out})
        print(f"latency at {rate}/s: {out}", file=sys.stderr)
    throughput = _run("throughput.py", "--shapes", "mix", "--bootstrap", bootstrap, "--json")
    print(f"throughput: {throughput}", file=sys.stderr)
    return {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d"),
        "latency": latency,
        "throughput": throughput,
    }


def _run(script: str, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def draw(data: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    points = sorted(data["latency"], key=lambda p: p["rate"])
    rates = [p["rate"] for p in points]
    left.plot(rates, [p["p50_s"] for p in points], "o-", label="p50")
    left.plot(rates, [p["p99_s"] for p in points], "s-", label="p99")
    left.set_xlabel("events/s produced (live)")
    left.set_ylabel("alert latency, s (event sent to alert published)")
    left.set_ylim(bottom=0)
    left.set_title("Alert latency against load (LIVEWATCH_ROUTING=any)")
    left.grid(alpha=0.3)
    left.legend()
    shape = data["throughput"]
    mix = shape.get("mix", shape)
    names = ["raw", "faust", "livewatch"] + (["quix"] if "quix" in mix else [])
    labels = {
        "raw": "aiokafka consumer\n(decode, count)",
        "faust": "Faust agent\n(count)",
        "livewatch": "livewatch\nworker",
        "quix": "Quix Streams\n(window count)",
    }
    values = [mix[n] for n in names]
    bars = right.bar([labels[n] for n in names], values, color=["#999", "#bbb", "#3f51b5", "#ccc"])
    right.bar_label(bars, fmt="%.0f")
    right.set_ylabel("events/s, backlog of the simulated mix")
    right.set_title("Backlog throughput, one broker, one run")
    fig.suptitle(f"livewatch on a 2-core machine, measured {data['measured']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", help="a broker to measure latency on")
    parser.add_argument("--rates", default="1000,2000,3000,4000")
    parser.add_argument("--hours", type=float, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "performance.png")
    parser.add_argument("--data", type=Path, default=HERE.parent / "docs" / "performance.json")
    parser.add_argument("--from-data", action="store_true", help="redraw from --data")
    args = parser.parse_args()
    if args.from_data:
        data = json.loads(args.data.read_text())
    else:
        if not args.bootstrap:
            parser.error("--bootstrap is needed to measure (or --from-data)")
        rates = [int(r) for r in args.rates.split(",")]
        data = measure(args.bootstrap, rates, args.hours, args.seed)
        args.data.write_text(json.dumps(data, indent=2) + "\n")
    draw(data, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
