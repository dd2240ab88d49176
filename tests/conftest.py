"""Shared fixtures: state in a temp dir, a deterministic fake encoder, tiny corpora."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
WETHINKIN = REPO / "corpus" / "data" / "wethinkin"  # the bundled collection


class BigramEncoder:
    """Deterministic stand-in for a sentence encoder: character bigrams hashed into 64 dims."""

    id = "test-bigram-64"
    dim = 64

    def __init__(self):
        self.calls = 0  # texts embedded so far, to tell a reload from a rebuild

    def embed_batch(self, texts):
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            text = text.lower()
            for a, b in zip(text, text[1:] + " "):
                bucket = int(hashlib.md5((a + b).encode()).hexdigest(), 16) % self.dim
                out[row, bucket] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class BigramQueryEncoder(BigramEncoder):
    """Fake heading encoder: like BigramEncoder, with queries embedded apart (``embed_queries``) as
    the bundled multilingual-e5 does."""

    id = "test-heading-bigram-64"

    def __init__(self):
        super().__init__()
        self.queries = 0  # queries embedded so far

    def embed_queries(self, texts):
        self.queries += len(texts)
        return self.embed_batch(texts)


@pytest.fixture(autouse=True)
def no_heading_encoder(request, monkeypatch):
    """Indexes built in fast tests have no heading encoder (loading the bundled multilingual-e5
    takes seconds, and hashed bigrams are no stand-in for its ranking); the main encoder still
    matches headings. ``fake_heading_encoder`` puts one in; slow tests use the real one."""
    if not request.node.get_closest_marker("slow"):
        monkeypatch.setattr("index.store.make_heading_encoder", lambda name: None)


@pytest.fixture
def fake_heading_encoder(no_heading_encoder, monkeypatch):
    """Indexes built through the config get a fake heading encoder that embeds queries apart."""
    encoder = BigramQueryEncoder()
    monkeypatch.setattr("index.store.make_heading_encoder", lambda name: encoder if name else None)
    return encoder


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    """All state (indexes, caches) goes to a fresh temp dir for every test."""
    home = tmp_path / "home"
    monkeypatch.setenv("STUDY_ASSISTANT_HOME", str(home))
    return home


@pytest.fixture
def fake_encoder():
    return BigramEncoder()


@pytest.fixture
def use_fake_encoder(monkeypatch):
    """Make every index built through the config (CLI included) use the fake encoder."""
    encoder = BigramEncoder()
    monkeypatch.setattr("index.store.make_encoder", lambda name, **_: encoder)
    return encoder


@pytest.fixture
def run(use_fake_encoder, capsys, monkeypatch):
    """Run the CLI in-process with the fake encoder; returns (exit code, stdout, stderr). The default
    corpus is the 17-question seed here, to stay fast; ``--corpus wethinkin`` runs on the collection."""
    from assistant.cli import main

    monkeypatch.setattr("corpus.loading.DEFAULT_CORPUS", "seed")

    def _run(*args):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


SEED_STYLE = """## 目录

- 1.什么是过拟合?
- 2.Dropout的作用?

## 1.什么是过拟合?

过拟合: 模型在训练集上拟合得很好, 在测试集上很差。

#### 解决方法:

- 1. 增加训练数据。
- 2. 加入正则化。

$$\\|w\\|_2^2 = \\sum_i w_i^2$$

### 2.Dropout的作用?

训练时以一定概率让神经元失活, 防止过拟合。

```
# 这不是标题
x = dropout(x, p=0.5)
```

# Saddle Point Example

这句仍属于第2题。

# 3.什么是鞍点?

梯度为零但不是极值的点。
"""

REPO_STYLE = """# 目录

- [1.数据类别不平衡怎么处理？](#user-content-1.数据类别不平衡怎么处理？)
- [2.什么是欠拟合？](#user-content-2.什么是欠拟合？)

<h2 id="1.数据类别不平衡怎么处理？">1.数据类别不平衡怎么处理？</h2>

<font color=DeepSkyBlue>过采样</font>：对少数类别做过采样。

### 1. 阈值调整

<div align="center"><img src="imgs/x.png"></div>

<h3 id="问题1：一个子问题">问题1：一个子问题</h3>

子问题的回答。

<h1 id="第二部分">第二部分：欠拟合</h1>

<h2 id="2.什么是欠拟合？">2.什么是欠拟合？</h2>

欠拟合：模型在训练集上效果也不好。
"""


@pytest.fixture
def seed_corpus_dir(tmp_path):
    """A folder with one seed-style and one repo-style document."""
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "basics.md").write_text(SEED_STYLE, "utf-8")
    (root / "sub" / "repo.md").write_text(REPO_STYLE, "utf-8")
    return root


@pytest.fixture(scope="session")
def real_home(tmp_path_factory):
    """One data dir for every slow test on the real model, so it is converted once per test run."""
    return tmp_path_factory.mktemp("real-home")


@pytest.fixture(scope="session")
def real_assistant(real_home):
    """The assistant on the real bundled model and encoder over the seed corpus, built once per test
    run (slow tests only); the collection's own slow tests are in test_real_collection.py."""
    from assistant import StudyAssistant

    return StudyAssistant.from_config(None, progress=False, data_dir=str(real_home), **{"corpus.path": "seed"})


@pytest.fixture(scope="session")
def real_collection_assistant(real_home):
    """The assistant with its defaults (the bundled collection, model and adapter), built once per test run."""
    from assistant import StudyAssistant

    return StudyAssistant.from_config(None, progress=False, data_dir=str(real_home))
