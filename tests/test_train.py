import dataclasses
import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from jpq_pyserini.codebook import PQCodebook, split_index
from jpq_pyserini.indexdir import read_index_dir
from jpq_pyserini.errors import UsageError
from jpq_pyserini.train import TrainConfig, train_jpq


def _cfg(pq_dir, tiny_beir, out, **kw):
    return TrainConfig(index=str(pq_dir), output=str(out), train=str(tiny_beir / "train"), dev=str(tiny_beir / "test"),
                       epochs=2, batch_size=8, neg_topk=50, fine_tune="joint", lr=5e-5, centroid_lr=1e-3, **kw)


def _last_weights(out):
    from safetensors.torch import load_file
    return load_file(str(out / "checkpoints" / "last" / "weights.safetensors"))


def test_few_steps_loss_down_centroids_change_codes_fixed(pq_dir, tiny_beir, tmp_path):
    summary = train_jpq(_cfg(pq_dir, tiny_beir, tmp_path / "t"), progress=False)
    log = [json.loads(l) for l in (tmp_path / "t" / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]
    assert log[-1]["loss"] < 0.7
    before, _, _ = read_index_dir(pq_dir)
    after, docids, meta = read_index_dir(tmp_path / "t" / "index")
    a, b = PQCodebook.from_faiss(before), PQCodebook.from_faiss(after)
    assert torch.equal(a.codes, b.codes)
    # the last checkpoint holds the trained centroids; the export is the epoch with the best
    # logged dev nDCG@10 (the first of equals; epoch 0 is the untrained model), bit for bit
    assert not torch.allclose(a.centroids, _last_weights(tmp_path / "t")["centroids"])
    dev = [r["dev_ndcg@10"] for r in log]
    assert summary["best"]["epoch"] == dev.index(max(dev))
    from jpq_pyserini.checkpoint import read_weights
    assert torch.equal(b.centroids, read_weights(tmp_path / "t" / "checkpoints" / "best")["centroids"])
    assert torch.equal(a.centroids, b.centroids) == (summary["best"]["epoch"] == 0)
    assert meta["jpq"] and (tmp_path / "t" / "encoder" / "jpq_encoder.json").exists()
    assert meta["train"]["improved"] == (summary["best"]["epoch"] > 0)
    assert 0.3 < summary["peak_rss_gib"] < 8  # this process's own peak: torch and the encoder, not its parent's


def test_no_dev_improvement_exports_the_untrained_model_and_says_so(pq_dir, tiny_beir, tmp_path):
    cfg = dataclasses.replace(_cfg(pq_dir, tiny_beir, tmp_path / "t"), epochs=1, fine_tune="off", lr=0.0, head_lr=0.0, centroid_lr=0.0)
    summary = train_jpq(cfg, progress=False)
    assert summary["improved"] is False and summary["best"]["epoch"] == 0
    assert summary["verdict"].startswith("training did not improve on dev")
    _, _, meta = read_index_dir(tmp_path / "t" / "index")
    assert meta["train"]["verdict"] == summary["verdict"]
    a, b = PQCodebook.from_faiss(read_index_dir(pq_dir)[0]), PQCodebook.from_faiss(read_index_dir(tmp_path / "t" / "index")[0])
    assert torch.equal(a.centroids, b.centroids)


@pytest.mark.parametrize("negatives", ["dynamic", "random"])  # random: the sampler's generator is checkpointed
def test_resume_matches_uninterrupted(pq_dir, tiny_beir, tmp_path, negatives):
    full = _cfg(pq_dir, tiny_beir, tmp_path / "full", negatives=negatives)
    train_jpq(full, progress=False)
    part = _cfg(pq_dir, tiny_beir, tmp_path / "part", save_steps=2, negatives=negatives)
    assert train_jpq(part, progress=False, stop_after=5) is None  # "killed" mid-epoch 2
    train_jpq(part, resume=True, progress=False)
    a, b = _last_weights(tmp_path / "full"), _last_weights(tmp_path / "part")
    assert not torch.equal(a["centroids"], PQCodebook.from_faiss(read_index_dir(pq_dir)[0]).centroids)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-6, err_msg=k)


def test_two_processes_gloo_match_one_process(pq_dir, tiny_beir, tmp_path):
    """torchrun with 2 CPU ranks (gloo) over the same global batch gives the single-process result."""
    import os
    import subprocess
    import sys

    common = ["--index", str(pq_dir), "--train", str(tiny_beir / "train"), "--dev", str(tiny_beir / "test"),
              "--epochs", "1", "--batch-size", "8", "--neg-topk", "50", "--fine-tune", "joint", "--lr", "5e-5", "--centroid-lr", "1e-3",
              "--dropout", "0", "--threads", "1"]
    run_cli("jpq_pyserini.train", *common, "--output", str(tmp_path / "one"))
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                           "29531", "-m", "jpq_pyserini.train", *common, "--output", str(tmp_path / "two")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, _, _ = read_index_dir(tmp_path / "one" / "index")
    b, _, _ = read_index_dir(tmp_path / "two" / "index")
    ca, cb = PQCodebook.from_faiss(a).centroids.detach(), PQCodebook.from_faiss(b).centroids.detach()
    assert not torch.allclose(ca, PQCodebook.from_faiss(read_index_dir(pq_dir)[0]).centroids.detach())
    np.testing.assert_allclose(ca, cb, atol=2e-5)


def test_positive_sampling():
    """one: one relevant row per step, the same on a rerun (resume) and varying over steps."""
    from jpq_pyserini.train import pick_positives
    drawn = [pick_positives(list(range(10)), "one", 42, step) for step in range(20)]
    assert all(len(d) == 1 for d in drawn) and len({d[0] for d in drawn}) > 3
    assert drawn == [pick_positives(list(range(10)), "one", 42, step) for step in range(20)]
    assert pick_positives([4, 5], "all", 42, 0) == [4, 5]


def test_back_off_restores_best_weights_and_lowers_query_side_lr(pq_dir, tiny_beir, tmp_path):
    from jpq_pyserini import checkpoint
    from jpq_pyserini.train import back_off, setup
    cfg = dataclasses.replace(_cfg(pq_dir, tiny_beir, tmp_path / "t"), backoff=0.25)
    run = setup(cfg, resume=False, overwrite=False)
    best = checkpoint.snapshot(run)
    assert {k.split(".")[0] for k in best} == {"encoder", "head", "centroids"}
    groups = [g["name"] for g in run.optimizer.param_groups]
    assert groups == ["encoder", "encoder-no-decay", "head", "centroids"]
    lrs = [g["lr"] for g in run.optimizer.param_groups]
    with torch.no_grad():
        run.scorer.centroids.add_(1.0)
        run.head.linear.weight.add_(1.0)
        next(run.encoder.model.parameters()).add_(1.0)
    run.optimizer.state[run.scorer.centroids] = {"step": torch.tensor(3.0)}
    back_off(run, best, cfg.backoff)
    now = checkpoint.snapshot(run)
    assert all(torch.equal(now[k], best[k]) for k in best)
    assert [g["lr"] for g in run.optimizer.param_groups] == [lrs[0] * 0.25, lrs[1] * 0.25, lrs[2] * 0.25, lrs[3]]
    assert run.scheduler.base_lrs == [cfg.lr * 0.25, cfg.lr * 0.25, cfg.head_lr * 0.25, cfg.centroid_lr]
    assert not run.optimizer.state


def test_the_defaults_that_depend_on_labels_are_filled_by_check():
    """The Python API gets the command line's defaults: labelled, label-free with real
    queries, label-free with generated ones; a value given explicitly stays."""
    def filled(**kw):
        cfg = TrainConfig(index="", output="", **kw).check()
        return cfg.loss, cfg.patience, cfg.temperature
    assert filled() == ("pairwise", 2, 0.05)
    assert filled(teacher="flat", queries="q") == ("kl", 0, 0.05)
    assert filled(teacher="flat") == ("kl", 0, 0.2)
    assert filled(teacher="flat", temperature=0.1, patience=3) == ("kl", 3, 0.1)
    def fine_tune(**kw):
        cfg = TrainConfig(index="", output="", **kw).check()
        return cfg.fine_tune, cfg.lr
    assert fine_tune() == ("auto", 5e-5) and fine_tune(lr=1e-4) == ("auto", 1e-4)
    assert fine_tune(teacher="flat") == ("off", 0.0) and fine_tune(lr=0.0) == ("off", 0.0)
    assert fine_tune(teacher="flat", lr=1e-5) == ("joint", 1e-5)
    assert fine_tune(fine_tune="joint") == ("joint", 5e-5)
    with pytest.raises(UsageError, match="--lr 0.0001 with --fine-tune off"):
        fine_tune(fine_tune="off", lr=1e-4)
    assert TrainConfig(index="", output="", negatives="pool").check().pool_size == 20_000
    with pytest.raises(UsageError, match="--pool-size 500: only --negatives pool takes it"):
        TrainConfig(index="", output="", pool_size=500).check()


def test_patience_counts_from_the_last_back_off():
    from jpq_pyserini.train import early_stop
    cfg = TrainConfig(index="", output="", patience=2)
    best = {"epoch": 0, "ndcg@10": 0.3}
    assert early_stop(cfg, 0, 1, 2, best)                       # epochs 1, 2: no new best
    best["patience_from"] = 1                                   # backed off after epoch 1
    assert not early_stop(cfg, 0, 1, 2, best) and early_stop(cfg, 0, 1, 3, best)
    assert not early_stop(dataclasses.replace(cfg, patience=0), 0, 1, 9, best)


def test_faiss_mining_trains_like_torch_mining(pq_dir, tiny_beir, tmp_path):
    """Mining with faiss: the same negatives and ranks as the torch path give the same trained
    weights (up to float summation order)."""
    runs = {}
    for name in ("torch", "faiss"):
        cfg = dataclasses.replace(_cfg(pq_dir, tiny_beir, tmp_path / name), epochs=1, dropout=0.0, mining=name)
        train_jpq(cfg, progress=False)
        runs[name] = _last_weights(tmp_path / name)
    assert not torch.equal(runs["torch"]["centroids"], PQCodebook.from_faiss(read_index_dir(pq_dir)[0]).centroids)
    for k in runs["torch"]:
        np.testing.assert_allclose(runs["torch"][k], runs["faiss"][k], atol=1e-5, err_msg=k)


def test_jpq_on_a_fast_scan_index(flat_dir, tiny_beir, tmp_path):
    """4-bit fast-scan: codes read from its SIMD blocks, trained centroids written back into the
    IndexPQFastScan, which Pyserini's FaissSearcher loads and ranks as faiss does; codes unchanged."""
    import faiss
    from pyserini.search.faiss import FaissSearcher
    from jpq_pyserini import JpqQueryEncoder

    fs_dir = tmp_path / "fs"
    run_cli("jpq_pyserini.index", "--input", str(flat_dir), "--output", str(fs_dir), "--pq-m", "96",
            "--pq-nbits", "4", "--fast-scan")
    cfg = dataclasses.replace(_cfg(fs_dir, tiny_beir, tmp_path / "t"), epochs=1, patience=0)
    train_jpq(cfg, progress=False)
    before, trained = read_index_dir(fs_dir)[0], read_index_dir(tmp_path / "t" / "index")[0]
    assert isinstance(split_index(trained)[1], faiss.IndexPQFastScan)
    a, b = PQCodebook.from_faiss(before), PQCodebook.from_faiss(trained)
    assert torch.equal(a.codes, b.codes)
    last = _last_weights(tmp_path / "t")["centroids"]
    assert not torch.allclose(a.centroids, last)
    enc = JpqQueryEncoder(str(tmp_path / "t" / "encoder"))
    q = enc.encode("stem cell differentiation")
    _, docids, _ = read_index_dir(tmp_path / "t" / "index")
    hits = FaissSearcher(str(tmp_path / "t" / "index"), enc).search("stem cell differentiation", k=20)
    D, I = trained.search(q[None], 20)
    assert [h.docid for h in hits] == [docids[i] for i in I[0]]
    # fast-scan ranks by 8-bit-quantised lookup tables: close to the exact ADC that training sees
    exact = b.score_pairs(torch.as_tensor(q[None]), torch.as_tensor(I))
    np.testing.assert_allclose(D[0], exact[0].detach().numpy(), atol=0.05)
    with torch.no_grad():  # centroids written into the fast-scan index are the ones it ranks by
        b.centroids.mul_(-1)
    D2, I2 = b.to_faiss(trained).search(q[None], 20)
    exact2 = b.score_pairs(torch.as_tensor(q[None]), torch.as_tensor(I2))
    np.testing.assert_allclose(D2[0], exact2[0].detach().numpy(), atol=0.05)
    assert set(I2[0]).isdisjoint(I[0][:5])


def test_jpq_on_an_ivf_index_and_search_with_nprobe(flat_dir, tiny_beir, tmp_path):
    """index --ivf: one codebook shared by the lists; train writes the trained centroids back into
    the IVF index; search --nprobe N gives faiss's own IVF ranking at N probes."""
    import faiss

    ivf_dir = tmp_path / "ivf"
    run_cli("jpq_pyserini.index", "--input", str(flat_dir), "--output", str(ivf_dir), "--pq-m", "16", "--no-opq",
            "--ivf", "8", "--nprobe", "2")
    cfg = dataclasses.replace(_cfg(ivf_dir, tiny_beir, tmp_path / "t"), epochs=1, patience=0, mining="faiss")
    train_jpq(cfg, progress=False)
    before, trained = read_index_dir(ivf_dir)[0], read_index_dir(tmp_path / "t" / "index")[0]
    ivf = faiss.extract_index_ivf(trained)
    assert ivf.nlist == 8 and ivf.nprobe == 2 and not ivf.by_residual
    assert torch.equal(PQCodebook.from_faiss(before).codes, PQCodebook.from_faiss(trained).codes)
    out = tmp_path / "run.trec"
    run_cli("jpq_pyserini.search", "--index", str(tmp_path / "t" / "index"), "--encoder", str(tmp_path / "t" / "encoder"),
            "--topics", str(tiny_beir / "test"), "--output", str(out), "--hits", "10", "--nprobe", "5")
    from jpq_pyserini.encoder import TextEncoder
    from jpq_pyserini.datasets import iter_queries, load_dataset
    _, docids, _ = read_index_dir(tmp_path / "t" / "index")
    qid, text = next(iter(iter_queries(load_dataset(str(tiny_beir / "test")))))
    enc = TextEncoder(str(tmp_path / "t" / "encoder"))
    ivf.nprobe = 5
    _, I = trained.search(enc.encode([text]), 10)
    ranked = [l.split()[2] for l in out.read_text().splitlines() if l.split()[0] == qid]
    assert ranked == [docids[i] for i in I[0]]
    ivf.nprobe = 1
    assert ranked != [docids[i] for i in trained.search(enc.encode([text]), 10)[1][0]]


def test_default_trains_head_and_centroids_on_a_frozen_encoder(pq_dir, tiny_beir, tmp_path):
    """--lr 0 (the default): the transformer's output is computed once and never changes, the
    exported encoder is the source transformer plus the dev-selected head, and Pyserini's
    FaissSearcher over the exported index ranks and scores as training did."""
    from pyserini.search.faiss import FaissSearcher
    from jpq_pyserini import JpqQueryEncoder
    from jpq_pyserini.encoder import TextEncoder
    from jpq_pyserini.query_head import HEAD_FILE, QueryHead

    cfg = dataclasses.replace(_cfg(pq_dir, tiny_beir, tmp_path / "t"), fine_tune="off", lr=0.0, patience=0, backoff=0.0)
    train_jpq(cfg, progress=False)
    last = _last_weights(tmp_path / "t")
    assert not any(k.startswith("encoder.") for k in last)  # frozen: nothing of it to checkpoint
    src, out = TextEncoder(read_index_dir(pq_dir)[2]["encoder"]), TextEncoder(str(tmp_path / "t" / "encoder"))
    for (k, a), b in zip(src.model.state_dict().items(), out.model.state_dict().values()):
        assert torch.equal(a, b), k
    head = QueryHead.load(tmp_path / "t" / "encoder" / HEAD_FILE)
    assert not torch.allclose(head.linear.weight, torch.eye(head.linear.weight.shape[0]))
    from jpq_pyserini.checkpoint import read_weights
    best = read_weights(tmp_path / "t" / "checkpoints" / "best")  # export: the dev-selected epoch
    assert torch.equal(head.linear.weight, best["head.linear.weight"])
    trained, docids, meta = read_index_dir(tmp_path / "t" / "index")
    assert meta["train"]["query_head"] == "linear" and meta["train"]["encoder_trained"] is False
    codebook = PQCodebook.from_faiss(trained)
    assert torch.equal(codebook.centroids, best["centroids"]) and codebook.rotation is None  # no head in the index
    text = "stem cell differentiation"
    src.config.max_length = cfg.query_max_length
    with torch.no_grad():
        q = head(torch.as_tensor(src.encode([text])))
        expected = codebook.score_all(q)[0]
    ranked_in_training = expected.topk(10).indices.tolist()
    hits = FaissSearcher(str(tmp_path / "t" / "index"), JpqQueryEncoder(str(tmp_path / "t" / "encoder"))).search(text, k=10)
    assert [h.docid for h in hits] == [docids[i] for i in ranked_in_training]
    np.testing.assert_allclose([h.score for h in hits], expected[ranked_in_training].numpy(), rtol=1e-4, atol=1e-4)


def test_preset_paper_sets_the_reference_settings_and_a_flag_overrides_one():
    from jpq_pyserini.train import PAPER, parse_args
    args = parse_args(["--index", "x", "--output", "y", "--preset", "paper", "--epochs", "2"])
    assert args["epochs"] == 2  # given explicitly: the flag wins
    assert {k: args[k] for k in PAPER if k != "epochs"} == {k: v for k, (v, _) in PAPER.items() if k != "epochs"}
    assert args["query_head"] == "none" and args["lr"] == 5e-6 and args["select"] == "last"
    assert parse_args(["--index", "x", "--output", "y"])["select"] == "dev"  # no preset: the defaults


def test_select_last_exports_the_last_epoch_whatever_dev_says(pq_dir, tiny_beir, tmp_path):
    """The reference exports its last epoch: with --select last the export is the last
    checkpoint's weights, even when an earlier epoch scored higher on dev."""
    cfg = dataclasses.replace(_cfg(pq_dir, tiny_beir, tmp_path / "t"), epochs=3, head_lr=0.5, centroid_lr=0.05,
                              select="last", backoff=0.0, patience=0)
    summary = train_jpq(cfg, progress=False)
    assert summary["best"]["epoch"] == 3 and "last epoch (3)" in summary["verdict"]
    from jpq_pyserini.checkpoint import read_weights
    exported = PQCodebook.from_faiss(read_index_dir(tmp_path / "t" / "index")[0]).centroids
    assert torch.equal(exported, _last_weights(tmp_path / "t")["centroids"])
    assert torch.equal(exported, read_weights(tmp_path / "t" / "checkpoints" / "best")["centroids"])


def _transformer_changed(src_dir, out_dir):
    from jpq_pyserini.encoder import TextEncoder
    a, b = TextEncoder(src_dir).model.state_dict(), TextEncoder(str(out_dir)).model.state_dict()
    return any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("lr,others", [(5e-5, 1e-3), (1e-12, 0.0)])  # rates that move the model; ones that cannot
def test_fine_tune_auto_keeps_the_transformer_only_if_dev_rises(pq_dir, tiny_beir, tmp_path, lr, others):
    """Stage 1 (head and centroids, frozen transformer) into OUT, stage 2 (the transformer too)
    from its export into OUT/fine-tune; the export is stage 2's only if an epoch of it beat
    stage 1's dev nDCG@10, and train_summary.json and meta.json say which and why."""
    out = tmp_path / "t"
    cfg = dataclasses.replace(_cfg(pq_dir, tiny_beir, out), fine_tune="auto", lr=lr, fine_tune_epochs=2,
                              head_lr=others, centroid_lr=others)
    summary = train_jpq(cfg, progress=False)
    head_log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    ft_log = [json.loads(l) for l in (out / "fine-tune" / "train_log.jsonl").read_text().splitlines()]
    head_best = max(r["dev_ndcg@10"] for r in head_log)
    assert ft_log[0]["dev_ndcg@10"] == pytest.approx(head_best, abs=1e-4)  # stage 2 starts from stage 1's best
    record = summary["fine_tune"]
    kept = max(r["dev_ndcg@10"] for r in ft_log[1:]) > ft_log[0]["dev_ndcg@10"]
    assert record["kept"] is kept and record["head_stage"]["dev_ndcg@10"] == head_best
    if lr == 1e-12:
        assert not kept
    assert summary["best"]["ndcg@10"] == pytest.approx(max(head_best, ft_log[0]["dev_ndcg@10"] if not kept else
                                                           max(r["dev_ndcg@10"] for r in ft_log)), abs=1e-9)
    assert _transformer_changed(read_index_dir(pq_dir)[2]["encoder"], out / "encoder") is kept
    meta = read_index_dir(out / "index")[2]
    assert meta["source_index"] == str(pq_dir) and meta["query_encoder"] == str(out / "encoder")
    assert meta["train"]["fine_tune_kept"] is kept and meta["train"]["verdict"] == summary["verdict"]
    assert ("kept" if kept else "the frozen transformer with its head is exported") in summary["verdict"]
    assert sorted(p.name for p in (out / "fine-tune").iterdir()) == ["train_config.json", "train_log.jsonl",
                                                                    "train_summary.json"]
    assert summary["steps"] == record["head_stage"]["epochs_run"] * 3 + len(ft_log[1:]) * 3


def test_fine_tune_auto_resumes_in_either_stage(pq_dir, tiny_beir, tmp_path):
    full = dataclasses.replace(_cfg(pq_dir, tiny_beir, tmp_path / "full"), fine_tune="auto", fine_tune_epochs=1,
                               dropout=0.0)
    expected = train_jpq(full, progress=False)
    part = dataclasses.replace(full, output=str(tmp_path / "part"))
    assert train_jpq(part, progress=False, stop_after=4) is None  # "killed" in stage 1's second epoch
    resumed = train_jpq(part, resume=True, progress=False)
    assert resumed["fine_tune"]["kept"] == expected["fine_tune"]["kept"]
    assert resumed["best"]["ndcg@10"] == pytest.approx(expected["best"]["ndcg@10"], abs=1e-6)
    assert train_jpq(part, resume=True, progress=False) == resumed  # finished: nothing to do


def test_fine_tune_layers_trains_only_the_top_blocks(pq_dir, tiny_beir, tmp_path):
    """--fine-tune-layers 2: the embeddings and the lower blocks come out bit for bit as they
    went in, the top two blocks moved."""
    import re
    from jpq_pyserini.encoder import TextEncoder
    cfg = dataclasses.replace(_cfg(pq_dir, tiny_beir, tmp_path / "t"), epochs=1, fine_tune_layers=2, select="last",
                              backoff=0.0)
    train_jpq(cfg, progress=False)
    src = TextEncoder(read_index_dir(pq_dir)[2]["encoder"]).model.state_dict()
    out = TextEncoder(str(tmp_path / "t" / "encoder")).model.state_dict()
    blocks = max(int(m.group(1)) for k in src if (m := re.search(r"layer\.(\d+)\.", k))) + 1
    moved = {k for k in src if not torch.equal(src[k], out[k])}
    top = {k for k in src if (m := re.search(r"layer\.(\d+)\.", k)) and int(m.group(1)) >= blocks - 2}
    assert moved and moved <= top
    with pytest.raises(UsageError, match="--fine-tune-layers 0: expected a positive integer"):
        dataclasses.replace(cfg, fine_tune_layers=0).check()
