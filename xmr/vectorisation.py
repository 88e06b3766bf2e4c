"""idcmr's vectorisation study (Results, item 1; Fig. 4): do a text vectorisation's word vectors
place words that should be similar closer (cosine) than words that should not?

Pairs come from the corpus itself, by category (WordNet is not installable offline): over the
training documents, each word with document frequency >= ``min_df`` gets the category in which
most of its documents lie and its purity, the share of its documents there. The ``per_category``
purest words of each category with purity >= ``min_purity`` (ties: more documents first, then
alphabetical) are its characteristic words. Similar pairs: two characteristic words of one category; dissimilar pairs:
words of two different categories, as many as the similar ones, drawn with ``seed``. Only words
every vectorisation knows are candidates, so all are scored on the same pairs.

Vectorisations: ``bow`` (a word is its one-hot vector, the paper's definition: distinct words
always have cosine 0), ``cbow`` and ``skipgram`` (gensim word2vec trained on the training
documents, the `word2vec_*` extractors' defaults), ``glove`` (GloVe 6B 50-d, the `glove_mean`
extractor's vectors) and ``glove_corpus`` (GloVe trained on the training documents, the
`glove_corpus` extractor's defaults). Scores per vectorisation: the mean cosine of similar and of
dissimilar pairs, their gap, and the ROC AUC of separating the two by cosine (0.5 = chance).
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

METHODS = ("bow", "cbow", "skipgram", "glove", "glove_corpus")


def characteristic_words(docs: Sequence[Sequence[str]], categories: Sequence[int],
                         per_category: int, min_df: int, min_purity: float = 0.0,
                         known=lambda w: True) -> dict[int, list[str]]:
    """Category -> its ``per_category`` purest words (see the module docstring)."""
    df: Counter = Counter()
    by_cat: dict[str, Counter] = {}
    for tokens, c in zip(docs, categories):
        for w in set(tokens):
            df[w] += 1
            by_cat.setdefault(w, Counter())[c] += 1
    ranked: dict[int, list[tuple]] = {}
    for w, n in df.items():
        if n < min_df or not known(w):
            continue
        c, k = max(by_cat[w].items(), key=lambda ck: (ck[1], -ck[0]))
        if k / n >= min_purity:
            ranked.setdefault(c, []).append((-k / n, -n, w))
    return {c: [w for *_, w in sorted(rows)[:per_category]] for c, rows in sorted(ranked.items())}


def word_pairs(words: dict[int, list[str]], seed: int) -> tuple[list[tuple], list[tuple]]:
    """(similar, dissimilar) word pairs: within a category, and across categories (as many)."""
    similar = [(a, b) for ws in words.values() for i, a in enumerate(ws) for b in ws[i + 1:]]
    cats = [c for c, ws in words.items() if ws]
    across = [(a, b) for i, c in enumerate(cats) for d in cats[i + 1:]
              for a in words[c] for b in words[d]]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(across), size=min(len(similar), len(across)), replace=False)
    return similar, [across[i] for i in sorted(pick)]


def pair_scores(vectors: dict[str, np.ndarray], similar, dissimilar) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    def cos(pairs):
        a = np.stack([vectors[x] for x, _ in pairs]).astype(np.float64)
        b = np.stack([vectors[y] for _, y in pairs]).astype(np.float64)
        den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        return np.divide((a * b).sum(1), den, out=np.zeros(len(pairs)), where=den > 0)

    s, d = cos(similar), cos(dissimilar)
    auc = roc_auc_score(np.r_[np.ones(len(s)), np.zeros(len(d))], np.r_[s, d])
    return {"similar": float(s.mean()), "dissimilar": float(d.mean()),
            "gap": float(s.mean() - d.mean()), "auc": float(auc)}


def vectorisers(train_texts: Sequence[str], seed: int) -> tuple[dict, list[list[str]]]:
    """The trained word-vector lookups (cbow, skipgram: gensim KeyedVectors; glove, glove_corpus:
    (word index, matrix)), and the training documents as token lists (xmr's tokenizer, English
    stop words removed, as the extractors read them). BoW needs no lookup: it is one-hot."""
    from .extractors.glove import GloVeCorpus
    from .extractors.text import (GloVeMean, Word2VecCBOW, Word2VecSkipGram, stop_word_set,
                                  tokenize)

    texts = list(train_texts)
    lookups: dict = {}
    for name, cls in (("cbow", Word2VecCBOW), ("skipgram", Word2VecSkipGram)):
        w2v = cls({"seed": seed})
        w2v.fit(texts)
        lookups[name] = w2v.model.wv
    lookups["glove"] = GloVeMean({})._load()
    corpus = GloVeCorpus({"seed": seed})
    corpus.fit(texts)
    lookups["glove_corpus"] = corpus._load()
    stop = stop_word_set("english")
    return lookups, [[t for t in tokenize(text) if t not in stop] for text in texts]


def study(train_texts: Sequence[str], categories: Sequence[int], per_category: int = 10,
          min_df: int = 5, min_purity: float = 0.5, seed: int = 0) -> dict:
    """The study on one corpus's training split: the pairs and each vectorisation's scores."""
    lookups, docs = vectorisers(train_texts, seed)

    def known(w):
        return (all(w in lookups[m].key_to_index for m in ("cbow", "skipgram"))
                and all(w in lookups[m][0] for m in ("glove", "glove_corpus")))

    words = characteristic_words(docs, categories, per_category, min_df, min_purity, known)
    similar, dissimilar = word_pairs(words, seed)
    if not similar or not dissimilar:
        raise ValueError(f"vectorisation study: too few characteristic words (min_df {min_df}, "
                         f"min_purity {min_purity}, {per_category} per category) to form similar "
                         "and dissimilar pairs")
    vocab = sorted({w for ws in words.values() for w in ws})
    one_hot = np.eye(len(vocab), dtype=np.float32)
    vectors = {"bow": {w: one_hot[i] for i, w in enumerate(vocab)},
               "cbow": {w: lookups["cbow"][w] for w in vocab},
               "skipgram": {w: lookups["skipgram"][w] for w in vocab},
               **{m: {w: np.asarray(lookups[m][1][lookups[m][0][w]]) for w in vocab}
                  for m in ("glove", "glove_corpus")}}
    return {"pairs": {"similar": len(similar), "dissimilar": len(dissimilar),
                      "rule": f"co-category words: {per_category} purest per category, "
                              f"min_df {min_df}, min_purity {min_purity}, seed {seed}"},
            "words": {str(c): ws for c, ws in words.items()},
            "methods": {m: pair_scores(vectors[m], similar, dissimilar) for m in METHODS}}
