"""Label-free JPQ: the uncompressed index's ranking stands in for relevance labels.

The teacher is the flat index the PQ index was quantized from: the same documents in the same
order, scored by inner product with the document encoder's own query vectors. Its top-K for
each training query is what the student (the query side and the centroids) learns to rank as
it does (``loss.listwise_distill_loss``, as Distill-VQ), or, with ``--loss pairwise``, its top
documents serve as the relevant ones of the paper's pairwise loss. The queries are real ones
without qrels (``--queries``) or generated from the corpus (``pseudo_queries``: a sentence of a
sampled document, as the inverse cloze task). A held-out tenth of them selects the epoch by
agreement with the teacher: nDCG@10 of the student's ranking against the teacher's top 10.
"""
import random
import re
from dataclasses import dataclass

import torch

from .datasets import JudgedQueries, doc_text, iter_queries, load_dataset, reading
from .errors import UsageError
from .indexdir import flat_vectors, read_index_dir
from .retrieval import FlatScorer, stream_topk

DEFAULT_PSEUDO_QUERIES = 4000
HOLDOUT = 0.10          # of the queries, for selection by agreement
AGREEMENT_DEPTH = 10    # the teacher's top 10 are the held-out queries' "relevant" documents
TEACHER_K = 50          # the teacher's candidates per query in the listwise loss
PSEUDO_POSITIVES = 1    # --loss pairwise: the teacher's top documents taken as relevant
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Teacher:
    vectors: torch.Tensor   # [N, d] the uncompressed document vectors
    query: dict             # qid -> the teacher's query vector [d]
    top: dict               # qid -> its top TEACHER_K rows
    source: str             # where the queries came from, for the summary


def load_vectors(path, docids, dim, flag="--teacher"):
    """The teacher's document vectors, after checking that it is the uncompressed index of
    the same documents in the same order."""
    index, teacher_docids, meta = read_index_dir(path, flag)
    if meta.get("kind", "flat") != "flat":
        raise UsageError(f"{flag} {path}: a {meta.get('kind')} index; the teacher is the uncompressed (flat) index "
                         f"the PQ index was built from")
    if index.d != dim:
        raise UsageError(f"{flag} {path}: {index.d}-dimensional vectors, where --index holds {dim}")
    if teacher_docids != docids:
        diff = next((i for i, (a, b) in enumerate(zip(teacher_docids, docids)) if a != b), min(len(docids), len(teacher_docids)))
        raise UsageError(f"{flag} {path}: its documents differ from --index's ({len(teacher_docids)} against "
                         f"{len(docids)}; first difference at row {diff}); pass the flat index the PQ index came from")
    return torch.as_tensor(flat_vectors(index, f"{flag} {path}")), meta


GENERATORS = ("sentence", "lead", "span")  # eval/results/labelfree/sweeps.md chose the first


def pseudo_queries(corpus, n, seed, flag="--corpus", generator="sentence"):
    """[(qid, text)] from ``n`` documents sampled with ``seed``: ``sentence``, one of a
    document's sentences (4 to 64 words) at random, as the inverse cloze task; ``lead``, its
    title or else its first sentence; ``span``, 8 to 16 consecutive words at random. A document
    with no such text gives its first 32 words."""
    ds = load_dataset(corpus, flag)
    if not ds.has_docs():
        raise UsageError(f"{flag} {corpus}: the dataset has no documents to generate queries from")
    rng = random.Random(seed)
    sample = []
    with reading(corpus, flag):
        for i, doc in enumerate(ds.docs_iter()):  # reservoir sampling: one pass, any corpus size
            if len(sample) < n:
                sample.append(doc)
            elif (j := rng.randrange(i + 1)) < n:
                sample[j] = doc
    out = []
    for doc in sample:
        text = _generate(doc, generator, rng)
        if text.strip():
            out.append((f"pseudo-{doc.doc_id}-{len(out)}", text.strip()))
    if not out:
        raise UsageError(f"{flag} {corpus}: no document has text to generate queries from")
    return out


def _generate(doc, generator, rng):
    body = getattr(doc, "text", "") or ""
    sentences = [s for s in _SENTENCE.split(body) if 4 <= len(s.split()) <= 64]
    words = body.split()
    if generator == "lead" and (getattr(doc, "title", "") or sentences):
        return getattr(doc, "title", "") or sentences[0]
    if generator == "span" and len(words) >= 8:
        width = rng.randint(8, min(16, len(words)))
        start = rng.randrange(len(words) - width + 1)
        return " ".join(words[start:start + width])
    if generator == "sentence" and sentences:
        return rng.choice(sentences)
    return " ".join(doc_text(doc).split()[:32])


def real_queries(name):
    queries = iter_queries(load_dataset(name, "--queries"), name, "--queries")
    queries = [(q, t) for q, t in queries if t and t.strip()]
    if not queries:
        raise UsageError(f"--queries {name}: no queries with text")
    return queries


def splits(queries, encoder, vectors, docids, seed, positives=PSEUDO_POSITIVES, k=TEACHER_K, batch_size=512):
    """(train, held-out, Teacher): JudgedQueries whose relevant documents are the teacher's top
    ``positives`` (train) or top AGREEMENT_DEPTH (held out, for selection by agreement)."""
    texts = dict(queries)
    qids = list(texts)
    n_held = max(1, round(len(qids) * HOLDOUT)) if len(qids) > 1 else 0
    held = set(random.Random(seed).sample(qids, n_held))
    scorer, query, top = FlatScorer(vectors), {}, {}
    for s in range(0, len(qids), batch_size):
        batch = qids[s:s + batch_size]
        q = torch.as_tensor(encoder.encode([texts[i] for i in batch])).to(scorer.vectors.device)
        query.update(zip(batch, q))
        top.update(zip(batch, stream_topk(scorer, q, max(k, AGREEMENT_DEPTH))[1]))

    def split(ids, depth):
        ids = sorted(ids)
        return JudgedQueries(ids, {i: texts[i] for i in ids}, {i: top[i][:depth].tolist() for i in ids},
                             {i: {docids[r]: 1 for r in top[i][:AGREEMENT_DEPTH].tolist()} for i in ids})

    train = split([q for q in qids if q not in held], positives)
    return train, split(held, AGREEMENT_DEPTH), Teacher(vectors, query, {q: top[q][:k] for q in qids}, "")
