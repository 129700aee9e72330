"""Sums gcovr's JSON report per top-level folder, prints line and branch coverage per folder and in all,
and exits 1 when the total is below the floors given (percent): coverage_floor.py REPORT LINES BRANCHES."""
import json
import sys
from collections import defaultdict


def main():
    report, line_floor, branch_floor = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    per = defaultdict(lambda: [0, 0, 0, 0])  # lines covered, lines, branches covered, branches
    for f in json.load(open(report))["files"]:
        folder = f["file"].split("/")[0]
        for line in f["lines"]:
            if line.get("gcovr/noncode"):
                continue
            per[folder][1] += 1
            per[folder][0] += line["count"] > 0
            for b in line.get("branches", []):
                per[folder][3] += 1
                per[folder][2] += b["count"] > 0
    total = [sum(v[i] for v in per.values()) for i in range(4)]
    pct = lambda a, b: 100.0 * a / b if b else 100.0
    for folder, (lc, ln, bc, bn) in sorted(per.items()):
        print(f"coverage {folder + '/':10} lines {pct(lc, ln):5.1f}% ({lc}/{ln})  branches {pct(bc, bn):5.1f}% ({bc}/{bn})")
    lines, branches = pct(total[0], total[1]), pct(total[2], total[3])
    print(f"coverage total      lines {lines:5.1f}% ({total[0]}/{total[1]})  branches {branches:5.1f}% ({total[2]}/{total[3]}); "
          f"floors: lines {line_floor:g}%, branches {branch_floor:g}%")
    if lines < line_floor or branches < branch_floor:
        print("coverage: below the floor")
        sys.exit(1)


if __name__ == "__main__":
    main()
