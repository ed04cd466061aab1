#!/usr/bin/env python3
"""Print the README's tables from a run's report files, so no figure there is typed by hand.

Usage:
  ./fusion report --out results/             # copies the latest report (results.csv, claims.csv, ...) into results/
  python3 infra/readme-figures.py results/            # the per-variant figures (results.csv; the real-images and
                                                      # chance rows from report.md's results table)
  python3 infra/readme-figures.py results/ --claims   # the headline claims of the paper's model (claims.csv)

The argument is a report folder or one of its CSV files. Standard library only.
"""
import argparse
import csv
import os
import sys

# (results.csv column, header, how to print it): the exact and the quality figures, which a run's fingerprints fix;
# timings depend on the machine and its load and stay in docs/benchmarks.md. Alignment columns are fractions, printed
# as percentages as the report prints them.
FIGURES = [
    ("parameters", "parameters", lambda x: f"{x:,.0f}"),
    ("forward_gmacs", "forward GMACs", lambda x: f"{x:.4f}"),
    ("clip_score", "CLIP Score", lambda x: f"{x:.1f}"),
    ("fid", "FID", lambda x: f"{x:.2f}"),
    ("alignment_count", "count", lambda x: f"{100 * x:.1f} %"),
    ("alignment_colour", "colour", lambda x: f"{100 * x:.1f} %"),
    ("alignment_shape", "shape", lambda x: f"{100 * x:.1f} %"),
    ("alignment_all", "all", lambda x: f"{100 * x:.1f} %"),
]

PAPER_MODEL = "intermediate-cross vs early-concat"


def read_rows(folder, name):
    path = os.path.join(os.path.dirname(folder) if folder.endswith(".csv") else folder, name)
    if not os.path.isfile(path):
        sys.exit(f"readme-figures: no {name} at {path}; make one with `./fusion report --out DIR` and pass DIR")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def reference_rows(folder):
    """The report's reference rows (real images, chance), which results.csv does not hold, as report.md prints them
    (re-rounding its already rounded cells could change a last digit): {label: {column: cell text}}."""
    path = os.path.join(os.path.dirname(folder) if folder.endswith(".csv") else folder, "report.md")
    if not os.path.isfile(path):
        return {}
    columns, rows = None, {}
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| variant |") and columns is None:
            columns = [c.replace(" ", "_") for c in cells[1:]]
        elif columns and line.startswith("| *"):
            rows[cells[0]] = {column: cell for column, cell in zip(columns, cells[1:]) if cell}
        elif columns and not line.startswith("|"):
            break
    return rows


def figures_table(rows, references):
    present = [c for c in FIGURES if any(r.get(c[0]) for r in rows)]
    if not rows or not present:
        sys.exit("readme-figures: results.csv has no variant rows with figures")
    lines = ["| variant | " + " | ".join(h for _, h, _ in present) + " |",
             "|---|" + "---:|" * len(present)]
    for r in rows:
        cells = [fmt(float(r[c])) if r.get(c) else "" for c, _, fmt in present]
        lines.append(f"| {r['variant']} | " + " | ".join(cells) + " |")
    for label, values in references.items():
        lines.append(f"| {label} | " + " | ".join(values.get(c, "") for c, _, _ in present) + " |")
    return lines


def claims_table(rows):
    picked = [r for r in rows if r["scope"] == "headline" and r["comparison"].startswith(PAPER_MODEL)]
    if not picked:
        sys.exit(f"readme-figures: claims.csv has no headline rows for {PAPER_MODEL}")
    lines = ["| claim | measured [interval] | n | verdict |", "|---|---|---:|---|"]
    for r in picked:
        measured = r["measurement"].split(" (")[0]   # the report's own text, without how the interval was made
        verdict = r["verdict"] + (f" ({r['caveat']})" if r["verdict"] == "inconclusive" and r["caveat"] else "")
        lines.append(f"| {r['claim']} | {measured} | {r['n']} | {verdict} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", help="a report folder (from `fusion report --out`) or a CSV file in it")
    parser.add_argument("--claims", action="store_true", help="print the paper's model's headline claims instead")
    args = parser.parse_args()
    if args.claims:
        lines = claims_table(read_rows(args.report, "claims.csv"))
    else:
        lines = figures_table(read_rows(args.report, "results.csv"), reference_rows(args.report))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
