"""Where PQ/OPQ indexes diverge between machines: one build per floating-point code path.

    python eval/kernels.py scifact --m 16 24 48 96

A machine picks its own SIMD code paths at load time: OpenBLAS (which faiss calls for OPQ's
matrix products and SVDs, and for k-means distances) chooses a kernel per CPU family, faiss
dispatches to its AVX-512, AVX2 or scalar kernels. This script builds each untrained index of a
spec once per code path on this one machine, forcing the choice another CPU would make
(``OPENBLAS_CORETYPE``, ``faiss.SIMDConfig``), and once per seed, then scores them on the
spec's topics. Written to ``eval/results/spread/NAME-kernels.md``.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = {"scifact": ROOT / "eval" / "scifact.yaml", "nfcorpus": ROOT / "eval" / "nfcorpus.yaml"}
# name -> environment: the code paths an x86-64 CPU without AVX-512 (or an older one) takes
# (faiss-cpu's wheel dispatches at run time; the script asks faiss.SIMDConfig for the level)
PATHS = {
    "this CPU's own": {},
    "this CPU's own, 2 threads": {"BUILD_THREADS": "2"},
    "OpenBLAS Haswell (AVX2)": {"OPENBLAS_CORETYPE": "Haswell"},
    "OpenBLAS SkylakeX (AVX-512, Intel servers)": {"OPENBLAS_CORETYPE": "SkylakeX"},
    "OpenBLAS Sandybridge (AVX)": {"OPENBLAS_CORETYPE": "Sandybridge"},
    "faiss AVX2": {"SIMD_LEVEL": "AVX2"},
    "faiss scalar": {"SIMD_LEVEL": "NONE"},
    "OpenBLAS and faiss AVX2": {"OPENBLAS_CORETYPE": "Haswell", "SIMD_LEVEL": "AVX2"},
}


def build_and_score(flat, m, opq, seed, queries, qrels_path, work):
    """In this process (under the caller's environment): build, search, score; print JSON."""
    import faiss
    import numpy as np
    from ranx import Qrels, Run, evaluate
    from jpq_pyserini.index import index_flat_dir
    from jpq_pyserini.indexdir import read_index_dir

    if os.environ.get("SIMD_LEVEL"):
        faiss.SIMDConfig.set_level(getattr(faiss, "SIMDLevel_" + os.environ["SIMD_LEVEL"]))
    out = Path(work) / "index"
    index_flat_dir(flat, out, m, 8, opq, threads=int(os.environ.get("BUILD_THREADS", "1")), seed=seed)
    index, docids, _ = read_index_dir(out)
    data = np.load(queries)
    qids = json.loads(Path(str(queries) + ".json").read_text())
    scores, ids = index.search(data, 100)
    run = Run({q: {docids[j]: float(s) for s, j in zip(srow, irow) if j >= 0} for q, srow, irow in zip(qids, scores, ids)})
    qrels = Qrels(json.loads(Path(qrels_path).read_text()))
    chain = faiss.serialize_index(index)
    print(json.dumps({"ndcg@10": float(evaluate(qrels, run, "ndcg@10", make_comparable=True)),
                      "index sha1": hashlib.sha1(chain.tobytes()).hexdigest()[:10],
                      "faiss": faiss.SIMDConfig.get_level_name()}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("collection", choices=sorted(SPECS))
    p.add_argument("--m", type=int, nargs="+", default=[24, 48])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        flat, m, opq, seed, queries, qrels = args.child
        with tempfile.TemporaryDirectory() as work:
            build_and_score(flat, int(m), opq == "1", int(seed), queries, qrels, work)
        return

    import numpy as np
    from jpq_pyserini.datasets import iter_queries, load_dataset, load_qrels
    from jpq_pyserini.encoder import TextEncoder
    from jpq_pyserini.reproduce import artifact, load_spec

    spec = load_spec(SPECS[args.collection])
    enc = spec.encoder_recipe
    flat = artifact("flat", {"corpus": spec.index_recipe.corpus, "model": enc.model, "max_length": enc.doc_max_length},
                    lambda _: sys.exit("encode the corpus first: jpq-pyserini reproduce SPEC --quick"))
    tmp = Path(tempfile.mkdtemp())
    queries = iter_queries(load_dataset(spec.topics), spec.topics)
    encoder = TextEncoder(enc.model)
    encoder.config.max_length = enc.query_max_length
    np.save(tmp / "q.npy", encoder.encode([t for _, t in queries]).astype("float32"))
    Path(str(tmp / "q.npy") + ".json").write_text(json.dumps([q for q, _ in queries]))
    (tmp / "qrels.json").write_text(json.dumps(load_qrels(load_dataset(spec.qrels, "qrels"), spec.qrels, "qrels")))

    def one(env, m, opq, seed):
        cmd = [sys.executable, __file__, args.collection, "--child", str(flat), str(m), "1" if opq else "0", str(seed),
               str(tmp / "q.npy"), str(tmp / "qrels.json")]
        res = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
        if res.returncode:
            sys.exit(res.stderr[-2000:])
        return json.loads(res.stdout.strip().splitlines()[-1])

    rows = []
    for m in args.m:
        for opq in (False, True):
            name = f"{'opq' if opq else 'pq'}{m}"
            for label, env in PATHS.items():
                r = one(env, m, opq, 1234)
                rows.append((name, f"code path: {label}", r["ndcg@10"], r["index sha1"]))
                print(rows[-1], file=sys.stderr)
            for seed in args.seeds:
                r = one({}, m, opq, seed)
                rows.append((name, f"seed {seed}", r["ndcg@10"], r["index sha1"]))
                print(rows[-1], file=sys.stderr)
    out = ROOT / "eval" / "results" / "spread" / f"{args.collection}-kernels.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {spec.name}: untrained indexes per floating-point code path and per seed", "",
             f"Command: `python eval/kernels.py {args.collection} --m {' '.join(map(str, args.m))} "
             f"--seeds {' '.join(map(str, args.seeds))}`; one thread per build unless named; nDCG@10 on `{spec.topics}` "
             "(the untrained encoder, 100 hits). Code paths other than this CPU's own are forced through "
             "`OPENBLAS_CORETYPE` and `faiss.SIMDConfig.set_level`, with seed 1234, the index verb's default.", "",
             "| index | build | nDCG@10 | faiss file sha1 |", "|---|---|---:|---|"]
    lines += [f"| {a} | {b} | {c:.4f} | {d} |" for a, b, c, d in rows]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
