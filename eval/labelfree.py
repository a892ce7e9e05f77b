"""Label-free JPQ (``train --teacher``) against OPQ, the flat teacher and labelled JPQ.

    python eval/labelfree.py sweeps     # the loss and the pseudo-query generator, on dev
    python eval/labelfree.py evidence   # M = 16, 24, 48 and PQ96x4 fast-scan, both collections

Every training runs through ``jpq-pyserini train`` under ``/usr/bin/time -v`` (wall clock and
peak RSS), with ``--watch`` the spec's dev split: its qrels are scored into the training log
for the tables here, never for training or selection. Label-free runs start from OPQ (no
qrels choose between PQ and OPQ), with the flat index it was built from as the teacher. Queries are (a) the spec's training queries with
their labels dropped, or (b) pseudo-queries generated from the corpus. Reported: SciFact test
and NFCorpus's official dev split (the selection split of the labelled recipe), searched
through ``jpq-pyserini search``, with paired t-tests. Tables go to eval/results/labelfree/.
"""
import dataclasses
import json
import os
import re
import subprocess
import sys

from experiments import ROOT, SPECS, score, write_table

OUT = ROOT / "runs" / "labelfree"
NAMES = {"scifact": "SciFact test", "nfcorpus": "NFCorpus dev (selection split)"}
SETTINGS = {"M=16": (16, 8), "M=24": (24, 8), "M=48": (48, 8), "PQ96x4 fast-scan": (96, 4)}


def built(collection):
    """(spec, flat dir, {setting: (start index dir, start name, labelled JPQ output dir)})."""
    from jpq_pyserini.index import index_flat_dir
    from jpq_pyserini.reproduce import artifact, build_systems, load_spec, training_key
    from jpq_pyserini.train import TrainConfig, train_jpq

    spec = dataclasses.replace(load_spec(SPECS[collection]), pq_m=[16, 24, 48], ablations=[])
    systems, init = build_systems(spec)
    enc = spec.encoder_recipe
    flat = systems["flat"].index_dir
    out = {f"M={m}": (systems[f"opq{m}"].index_dir, f"OPQ{m}", systems[f"jpq{m}"].index_dir.parent)
           for m in (16, 24, 48)}  # label-free starts from OPQ: no qrels choose between PQ and OPQ
    rec = {"corpus": spec.index_recipe.corpus, "model": enc.model, "max_length": enc.doc_max_length,
           "m": 96, "nbits": 4, "fast_scan": True}
    fast = artifact("opq96x4fs", rec, lambda p: index_flat_dir(flat, p, 96, 4, None, fast_scan=True, threads=1))
    cfg = TrainConfig(index=str(fast), output="", train=spec.train, dev=spec.dev, encoder=enc.model,
                      query_max_length=enc.query_max_length, **enc.train)
    labelled = artifact("jpq96x4fs", training_key(cfg),
                        lambda p: train_jpq(dataclasses.replace(cfg, output=str(p)), progress=False))
    out["PQ96x4 fast-scan"] = (fast, "OPQ96x4", labelled)
    return spec, flat, out


def train(out, index, flat, spec, *flags):
    """``jpq-pyserini train --teacher`` under /usr/bin/time -v, once; (summary, log, seconds, GiB)."""
    if not (out / "train_summary.json").exists():
        cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "jpq_pyserini.train", "--index", str(index),
               "--teacher", str(flat), "--watch", spec.dev, "--output", str(out), "--overwrite", *map(str, flags)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)}:\n{proc.stderr[-3000:]}")
        (out / "time.txt").write_text(proc.stderr[proc.stderr.find("Command being timed"):])
    time_text = (out / "time.txt").read_text()
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", time_text)
    seconds = (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))) if wall else None
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_text)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return (json.loads((out / "train_summary.json").read_text()), log, seconds,
            int(rss.group(1)) / 2 ** 20 if rss else None)


def tracking(log, summary):
    """(labelled dev of the epoch agreement chose, the best labelled dev of any epoch)."""
    chosen = next(r for r in log if r["epoch"] == summary["best"]["epoch"])
    return chosen["watch_ndcg@10"], max(r["watch_ndcg@10"] for r in log)


def queries_file(path, corpus, n, seed, generator):
    from jpq_pyserini.teacher import pseudo_queries
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{q}\t{' '.join(t.split())}\n" for q, t in pseudo_queries(corpus, n, seed,
                                                                                          generator=generator)))
    return path


def sweeps():
    from jpq_pyserini.teacher import DEFAULT_PSEUDO_QUERIES, GENERATORS
    rows = []
    for collection in NAMES:
        spec, flat, starts = built(collection)
        index, start, _ = starts["M=16"]
        variants = {f"--loss {loss}, own queries": ["--queries", spec.train, "--loss", loss] for loss in ("kl", "pairwise")}
        variants["--loss kl --temperature 0.2, own queries"] = ["--queries", spec.train, "--temperature", 0.2]
        for gen in GENERATORS if collection == "scifact" else GENERATORS[:1]:  # the generators on one collection
            file = queries_file(OUT / collection / f"pseudo-{gen}.tsv", spec.index_recipe.corpus,
                                DEFAULT_PSEUDO_QUERIES, 42, gen)
            variants[f"--loss kl, {DEFAULT_PSEUDO_QUERIES} pseudo-queries: {gen}"] = ["--queries", file]
            variants[f"--loss kl --temperature 0.2, {DEFAULT_PSEUDO_QUERIES} pseudo-queries: {gen}"] = [
                "--queries", file, "--temperature", 0.2]
        for name, flags in variants.items():
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            summary, log, seconds, _ = train(OUT / collection / "sweep" / slug, index, flat, spec, *flags)
            chosen, best = tracking(log, summary)
            rows.append([collection, f"{start} (M=16)", name, f"{log[0]['watch_ndcg@10']:.4f}", f"{chosen:.4f}",
                         f"{best:.4f}", summary["best"]["epoch"], f"{seconds:.0f} s"])
    write_table("sweeps", ["collection", "start", "variant", "dev nDCG@10 at the start", "dev nDCG@10, epoch chosen "
                           "by agreement", "dev nDCG@10, best epoch", "epoch chosen", "wall clock"], rows,
                "python eval/labelfree.py sweeps", folder="labelfree")


def evidence():
    from ranx import Run, compare
    from jpq_pyserini.eval import read_qrels

    rows, track = [], []
    for collection, label in NAMES.items():
        spec, flat, starts = built(collection)
        runs_dir = OUT / collection / "runs"
        qrels = read_qrels(spec.qrels)
        flat_s = score(flat, spec.encoder_recipe.model, spec, runs_dir / "flat.trec")
        for setting, (index, start, labelled) in starts.items():
            tag = setting.split()[0].lower().replace("=", "")
            cells = {"start": score(index, spec.encoder_recipe.model, spec, runs_dir / f"{tag}-start.trec"),
                     "labelled": score(labelled / "index", labelled / "encoder", spec, runs_dir / f"{tag}-labelled.trec")}
            costs = {}
            for source, flags in (("own", ["--queries", spec.train]), ("pseudo", [])):
                out = OUT / collection / f"{tag}-{source}"
                summary, log, seconds, gib = train(out, index, flat, spec, *flags)
                cells[source] = score(out / "index", out / "encoder", spec, runs_dir / f"{tag}-{source}.trec")
                costs[source] = (seconds, gib)
                chosen, best = tracking(log, summary)
                track.append([f"{collection} (train split's dev carve)", setting, source, summary["best"]["epoch"], f"{chosen:.4f}", f"{best:.4f}",
                              f"{chosen - best:+.4f}"])
            names = ["start", "own", "pseudo", "labelled"]
            trec = {n: Run.from_file(str(runs_dir / f"{tag}-{n}.trec"), kind="trec", name=n) for n in names}
            trec["flat"] = Run.from_file(str(runs_dir / "flat.trec"), kind="trec", name="flat")
            report = compare(qrels, list(trec.values()), ["ndcg@10"], stat_test="student", make_comparable=True)

            def p(a, b):
                return report.comparisons[a, b]["ndcg@10"]["p_value"]

            s, f = cells["start"]["ndcg@10"], flat_s["ndcg@10"]
            gap = f - s

            def cell(n):
                v = cells[n]["ndcg@10"]
                return f"{v:.4f} ({100 * (v - s) / gap:.0f}%; p {p(n, 'start'):.2g} vs start, {p(n, 'flat'):.2g} vs flat)"

            rows.append([label, setting, f"{start}: {s:.4f}", f"{f:.4f}", cell("own"), cell("pseudo"),
                         f"{cells['labelled']['ndcg@10']:.4f}",
                         f"{costs['own'][0]:.0f} s / {costs['own'][1]:.2f} GiB; {costs['pseudo'][0]:.0f} s / "
                         f"{costs['pseudo'][1]:.2f} GiB"])
    write_table("evidence", ["collection", "index", "start (untrained)", "flat (the teacher)",
                             "label-free, own queries (gap recovered; p)", "label-free, pseudo-queries (gap recovered; p)",
                             "labelled JPQ", "label-free training: wall clock / peak RSS (own; pseudo)"],
                rows, "python eval/labelfree.py evidence", folder="labelfree")
    write_table("selection", ["collection", "index", "queries", "epoch chosen by agreement", "dev nDCG@10 there",
                              "best dev nDCG@10 of any epoch", "difference"], track,
                "python eval/labelfree.py evidence", folder="labelfree")


if __name__ == "__main__":
    {"sweeps": sweeps, "evidence": evidence}[sys.argv[1]]()
