"""`make audit`: check the locked dependencies against known vulnerabilities with pip-audit.

pip-audit asks PyPI's advisory data about each pinned package of requirements.lock. Where that
database cannot be reached (an offline machine like the project's own), nothing can be audited:
the script says so plainly and exits 0, so the tests still run; where it can, any known
vulnerability fails the build. The last line is machine-readable:

    audit: packages=N audited=A vulnerable=V
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What requests/urllib3 say when PyPI cannot be reached or not trusted (an offline or proxied machine).
UNREACHABLE = ("ConnectionError", "SSLError", "ConnectTimeout", "ReadTimeout", "NameResolutionError",
               "Max retries exceeded", "Temporary failure in name resolution")


def main() -> int:
    lock = ROOT / "requirements.lock"
    command = [sys.executable, "-m", "pip_audit", "-r", str(lock), "--no-deps", "--disable-pip",
               "--progress-spinner", "off", "-f", "json"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        print("audit: pip-audit took over 10 minutes; advisory database unreachable?")
        print("audit: packages=0 audited=0 vulnerable=0")
        return 0
    locked = sum(1 for line in lock.read_text().splitlines() if "==" in line and not line.startswith("#"))
    if done.returncode != 0 or not done.stdout.strip():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if any(word in done.stderr for word in UNREACHABLE):
            print(f"audit: the advisory database is unreachable from this machine ({last[:300]}). Nothing was "
                  f"audited here; CI with network access audits the {locked} locked packages.")
            print(f"audit: packages={locked} audited=0 vulnerable=0")
            return 0
        print(f"audit: pip-audit failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return 1
    try:
        deps = json.loads(done.stdout).get("dependencies", [])
    except json.JSONDecodeError:
        print(f"audit: pip-audit wrote no JSON:\n{done.stdout[-500:]}\n{done.stderr[-1500:]}", file=sys.stderr)
        return 1
    skipped = [d for d in deps if d.get("skip_reason")]
    vulnerable = [d for d in deps if d.get("vulns")]
    for dep in vulnerable:
        ids = ", ".join(v.get("id", "?") for v in dep["vulns"])
        print(f"VULNERABLE {dep['name']} {dep.get('version', '')}: {ids}")
    audited = len(deps) - len(skipped)
    if deps and not audited:
        print(f"audit: the advisory database is unreachable from this machine: pip-audit could look up none of "
              f"the {len(deps)} locked packages ({skipped[0]['skip_reason']}). Nothing was audited here; CI with "
              "network access audits them.")
    print(f"audit: packages={len(deps)} audited={audited} vulnerable={len(vulnerable)}")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
