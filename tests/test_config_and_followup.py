import pytest

from assistant.config import Config, default_data_dir
from assistant.answer.followup import is_follow_up, retrieval_query


def test_toml_config_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[chunking]\nmax_chars = 300\noverlap_chars = 30\n[retrieval]\nk = 3\n', "utf-8")
    config = Config.load(path)
    assert config.chunking.max_chars == 300 and config.retrieval.k == 3
    assert config.retrieval.mode == "hybrid"  # untouched defaults stay
    config = config.with_overrides(**{"retrieval.k": 7, "corpus.path": "notes", "data_dir": None})
    assert config.retrieval.k == 7 and config.corpus.path == "notes" and config.data_dir is None


def test_config_errors_name_the_problem(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[retreival]\nk = 3\n", "utf-8")
    with pytest.raises(ValueError, match="unknown setting 'retreival'"):
        Config.load(path)
    path.write_text("[retrieval]\nkk = 3\n", "utf-8")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['kk'\]"):
        Config.load(path)
    path.write_text("[retrieval]\nk = 0\n", "utf-8")
    with pytest.raises(ValueError, match="k should be positive, got 0"):
        Config.load(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Config.load(tmp_path / "missing.toml")


def test_data_dir_comes_from_the_environment(data_home):
    assert default_data_dir() == data_home
    assert Config().data_path == data_home


HISTORY = [{"role": "user", "content": "L1正则为什么容易产生稀疏解？"}, {"role": "assistant", "content": "……"}]


@pytest.mark.parametrize(
    "question, follows",
    [("那L2正则呢？", True), ("它会带来什么问题？", True), ("What about L2?", True), ("为什么？", True),
     ("能给个代码层面的例子吗？", True), ("能举个例子吗", True), ("Can you give an example?", True),
     ("Dropout在测试时怎么处理？", False), ("How does dropout work at test time?", False),
     ("举例说明过拟合和欠拟合的区别", False)],
)
def test_follow_up_detection(question, follows):
    assert is_follow_up(question) is follows
    expected = HISTORY[0]["content"] + f"\n{question}" * 3 if follows else question
    assert retrieval_query(question, HISTORY) == expected


def test_a_long_follow_up_is_written_as_often_as_the_search_reads():
    question = "那它呢？" + "为什么" * 300  # 904 characters: twice fits in 2,000 with the turn before
    query = retrieval_query(question, HISTORY)
    assert query == HISTORY[0]["content"] + f"\n{question}" * 2 and len(query) <= 2000
    assert retrieval_query("那它呢？" + "为什么" * 700, HISTORY).count("那它呢？") == 1
    long_before = [{"role": "user", "content": "长" * 2600}]  # the turn before is cut, the follow-up stays
    query = retrieval_query("那它呢？", long_before)
    assert len(query) == 2000 and query.endswith("\n那它呢？")
    assert retrieval_query("那它呢？", HISTORY, max_chars=25).count("那它呢？") == 2  # the search's configured limit


def test_without_history_the_question_is_searched_alone():
    assert retrieval_query("那L2正则呢？", []) == "那L2正则呢？"


def test_the_readme_documents_every_setting_with_its_default(tmp_path):
    """The README's configuration block loads, and gives the defaults (paths aside): a setting
    added or changed in code without the README, or the other way round, fails here."""
    import re
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    block = readme.split("## Configuration", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    settings = tomllib.loads(block)
    settings.pop("data_dir"), settings.pop("corpus")  # examples of paths, not the defaults
    path = tmp_path / "readme.toml"
    path.write_text(re.sub(r"(?ms)^data_dir = .*?$|^\[corpus\].*?(?=^\[)", "", block), "utf-8")
    documented, defaults = Config.load(path), Config.load(None)
    for name in settings:
        assert getattr(documented, name) == getattr(defaults, name), name
        assert set(settings[name]) == set(vars(getattr(defaults, name))), name  # every key, no extra


def test_the_cpu_dtype_follows_what_the_cpu_computes_natively(tmp_path):
    import torch

    from assistant.llm.settings import GenerationConfig, cpu_has_native_bf16, pick_dtype

    avx2, sapphire = tmp_path / "avx2", tmp_path / "spr"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n", "utf-8")
    sapphire.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n", "utf-8")
    assert not cpu_has_native_bf16(str(avx2)) and cpu_has_native_bf16(str(sapphire))
    assert not cpu_has_native_bf16(str(tmp_path / "missing"))  # not Linux: float32
    auto = GenerationConfig()
    expected = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    assert pick_dtype(auto, "cpu") == expected and pick_dtype(auto, "cuda") == torch.bfloat16
    assert pick_dtype(GenerationConfig(cpu_dtype="bfloat16"), "cpu") == torch.bfloat16
    assert pick_dtype(GenerationConfig(dtype="float16"), "cpu") == torch.float16
