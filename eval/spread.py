"""How far a reproduction moves between seeds, and the tolerances its spec takes from that.

    python eval/spread.py scifact --seeds default 1 2 [--quick]

Runs ``jpq-pyserini reproduce SPEC --seed S`` once per seed (a seed's finished report is
reused), then writes ``eval/results/spread/NAME.md`` and ``.json``:

- every system's mean, standard deviation and range over the seeds;
- each of JPQ's significance tests, per seed and on the per-query scores averaged over the
  seeds (the test of the systems, not of one draw);
- the ``expected:`` block for the spec: the mean, and a tolerance wide enough for one more
  run (another seed, or another machine's floating point) to land inside it with family-wise
  probability 0.95. Untrained and trained systems each pool their variance over systems
  (a seed moves every PQ index alike, and every training alike), which gives the tolerance
  enough degrees of freedom to mean something with a handful of seeds.
"""
import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPECS = {"scifact": ROOT / "eval" / "scifact.yaml", "nfcorpus": ROOT / "eval" / "nfcorpus.yaml"}
# no seed reaches these: BM25 is exact; the encoder's floating point differs a little by CPU
DETERMINISTIC = {"bm25": 0.002, "flat": 0.005}
FLOOR = 0.002


def run_seed(spec_path, quick, seed, out):
    if (out / "scores.json").exists():
        print(f"[spread] reusing {out}", file=sys.stderr)
        return
    cmd = [sys.executable, "-m", "jpq_pyserini.cli", "reproduce", str(spec_path), "--output", str(out)]
    cmd += (["--seed", seed] if seed != "default" else []) + (["--quick"] if quick else [])
    print("[spread] " + " ".join(cmd), file=sys.stderr)
    # exit 1 only says that a score left the spec's current tolerance, which is what this measures
    if subprocess.run(cmd).returncode not in (0, 1):
        sys.exit(f"[spread] reproduce failed for seed {seed}")


def per_query(qrels, out, system, metric):
    """{qid: score} of one seed's run of a system (ranx keeps each query's score in the run)."""
    from ranx import Run, evaluate
    run = Run.from_file(str(out / "runs" / f"{system}.trec"), kind="trec")
    evaluate(qrels, run, metric, make_comparable=True)
    return dict(run.scores[metric])


def paired_p(a, b):
    from scipy.stats import ttest_rel
    qids = sorted(a)
    return float(ttest_rel([a[q] for q in qids], [b[q] for q in qids]).pvalue)


def tolerance(sd_pooled, dof, n, checks):
    """Half-width of a prediction interval for one new run around an n-run mean, Bonferroni
    over the spec's checks, rounded up to 0.001."""
    from scipy.stats import t
    if sd_pooled == 0 or dof == 0:
        return FLOOR
    q = t.ppf(1 - 0.05 / (2 * checks), dof)
    return max(FLOOR, math.ceil(1000 * q * sd_pooled * math.sqrt(1 + 1 / n)) / 1000)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("collection", choices=sorted(SPECS))
    p.add_argument("--seeds", nargs="+", required=True,
                   help="integers, or 'default' for the spec's own seeds (the run `make` does)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs", default="runs/spread", help="where the per-seed reports go")
    args = p.parse_args()

    from ranx import Qrels
    from jpq_pyserini.datasets import load_dataset, load_qrels
    from jpq_pyserini.reproduce import init_roles, load_spec

    spec_path = SPECS[args.collection]
    spec = load_spec(spec_path, args.quick)
    name = args.collection + ("-quick" if args.quick else "")
    outs = {s: Path(args.runs) / name / f"seed-{s}" for s in args.seeds}
    for seed, out in outs.items():
        run_seed(spec_path, args.quick, seed, out)
    qrels = Qrels(load_qrels(load_dataset(spec.qrels, "qrels"), spec.qrels, "qrels"))
    results = {s: json.loads((o / "scores.json").read_text()) for s, o in outs.items()}
    n = len(args.seeds)

    # every system by its role (flat-ft-on-init{M}), so that seeds whose JPQ started from
    # different indexes still line up
    def named(seed):
        res = results[seed]
        init = {int(m): v for m, v in res["jpq_init"].items()}
        back = {v: k for k, v in init_roles(init).items()}
        return {back.get(sys_, sys_): sys_ for sys_ in res["scores"]}, init

    names = {s: named(s)[0] for s in args.seeds}
    systems = [r for r in names[args.seeds[0]] if all(r in names[s] for s in args.seeds)]
    metric = spec.metrics[0]
    stats = {}
    for role in systems:
        stats[role] = {}
        for m in spec.metrics:
            v = np.array([results[s]["scores"][names[s][role]][m] for s in args.seeds])
            stats[role][m] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if n > 1 else 0.0,
                              "min": float(v.min()), "max": float(v.max()), "values": v.tolist()}

    # pooled variance per class: untrained (PQ/OPQ: seeded k-means and OPQ) and trained
    def klass(role):
        if role in DETERMINISTIC:
            return "deterministic"
        return "untrained" if role.startswith(("pq", "opq")) else "trained"

    # the full spec's checks even for --quick: its tolerances serve the full spec too
    checks = sum(len(v) for v in (load_spec(spec_path, False).expected or {}).values()) or len(systems)
    pooled = {}  # (class, metric) -> pooled sd, its degrees of freedom, the tolerance
    for k in ("untrained", "trained"):
        members = [r for r in systems if klass(r) == k]
        for m in spec.metrics:
            dof = (n - 1) * len(members)
            sd = math.sqrt(sum((n - 1) * stats[r][m]["sd"] ** 2 for r in members) / dof) if dof else 0.0
            pooled[k, m] = {"class": k, "metric": m, "sd": sd, "dof": dof, "systems": len(members),
                            "tolerance": tolerance(sd, dof, n, checks),
                            "tolerance_one_run": tolerance(sd, dof, 1, checks)}

    # significance: JPQ at each M against the flat-trained query side on its start index, and
    # JPQ at the main M against every Q2 system
    main_m = spec.main_m
    pairs = [(f"jpq{m}", f"flat-ft-on-init{m}") for m in spec.pq_m]
    pairs += [(f"jpq{main_m}", r) for r in ["bm25", "flat", "flat-ft", f"pq{main_m}", f"opq{main_m}"] if r in systems]
    pq_scores = {}
    for s in args.seeds:
        for role in {r for pair in pairs for r in pair}:
            pq_scores[s, role] = per_query(qrels, outs[s], names[s][role], metric)
    tests = []
    for a, b in pairs:
        per_seed = [paired_p(pq_scores[s, a], pq_scores[s, b]) for s in args.seeds]
        qids = sorted(pq_scores[args.seeds[0], a])
        mean_a = {q: np.mean([pq_scores[s, a][q] for s in args.seeds]) for q in qids}
        mean_b = {q: np.mean([pq_scores[s, b][q] for s in args.seeds]) for q in qids}
        tests.append({"a": a, "b": b, "delta": stats[a][metric]["mean"] - stats[b][metric]["mean"],
                      "p_per_seed": per_seed, "p_seed_mean": paired_p(mean_a, mean_b),
                      "significant_seeds": sum(p < 0.05 for p in per_seed)})

    expected = {}
    for role in systems:
        k = klass(role)
        wanted = (spec.expected or {}).get(role, {metric: None})
        expected[role] = {m: [round(stats[role][m]["mean"], 4),
                              DETERMINISTIC[role] if k == "deterministic" else pooled[k, m]["tolerance"]] for m in wanted}

    out_dir = ROOT / "eval" / "results" / "spread"
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"spec": str(spec_path.relative_to(ROOT)), "quick": args.quick, "seeds": args.seeds, "metric": metric,
              "stats": stats, "pooled": list(pooled.values()), "tests": tests, "expected": expected,
              "jpq_init": {s: results[s]["jpq_init"] for s in args.seeds}}
    (out_dir / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    cmd = f"python eval/spread.py {args.collection} --seeds {' '.join(map(str, args.seeds))}" + \
          (" --quick" if args.quick else "")
    lines = [f"# {spec.name}{' (quick)' if args.quick else ''}: spread over {n} seeds", "",
             f"Command: `{cmd}` (each seed: `jpq-pyserini reproduce {spec_path.relative_to(ROOT)} --seed S{' --quick' if args.quick else ''}`). "
             f"Reported on `{spec.topics}`.", "",
             f"| system | {metric} mean | sd | min | max |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r} | {stats[r][metric]['mean']:.4f} | {stats[r][metric]['sd']:.4f} | {stats[r][metric]['min']:.4f} "
              f"| {stats[r][metric]['max']:.4f} |" for r in systems]
    lines += ["", "Pooled standard deviation per class, and the tolerance one more run gets "
              f"(t prediction interval, Bonferroni over {checks} checks, family-wise 0.95), around the "
              f"mean of these {n} seeds, and around a score from one run (a spec row measured once):", "",
              f"| class | metric | systems | dof | pooled sd | tolerance, mean of {n} | tolerance, one run |",
              "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {v['class']} | {v['metric']} | {v['systems']} | {v['dof']} | {v['sd']:.4f} | {v['tolerance']:.3f} "
              f"| {v['tolerance_one_run']:.3f} |" for v in pooled.values()]
    lines += ["", f"Paired t-tests on {metric} (per seed, and on each query's score averaged over the seeds):", "",
              "| JPQ | against | mean delta | p per seed | p on seed means | seeds with p<0.05 |",
              "|---|---|---:|---|---:|---:|"]
    lines += [f"| {t['a']} | {t['b']} | {t['delta']:+.4f} | {', '.join(f'{p:.2g}' for p in t['p_per_seed'])} "
              f"| {t['p_seed_mean']:.2g} | {t['significant_seeds']}/{n} |" for t in tests]
    lines += ["", "JPQ's start index per seed: " + "; ".join(
        f"seed {s}: " + ", ".join(f"M={m} {v}" for m, v in results[s]["jpq_init"].items()) for s in args.seeds)]
    (out_dir / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("\nexpected:")
    for role, ms in expected.items():
        print(f"  {role}: {{" + ", ".join(f"{m}: [{v[0]}, {v[1]}]" for m, v in ms.items()) + "}")


if __name__ == "__main__":
    main()
