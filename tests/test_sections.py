from conftest import REPO_STYLE, SEED_STYLE

from corpus import parse_sections


def test_seed_style_sections_are_exact():
    sections = parse_sections(SEED_STYLE, "basics")
    assert [(s.number, s.title) for s in sections] == [
        ("1", "什么是过拟合?"),
        ("2", "Dropout的作用?"),
        ("3", "什么是鞍点?"),
    ]
    first, second, third = sections
    assert first.text == (
        "过拟合: 模型在训练集上拟合得很好, 在测试集上很差。\n\n#### 解决方法:\n\n"
        "- 1. 增加训练数据。\n- 2. 加入正则化。\n\n$$\\|w\\|_2^2 = \\sum_i w_i^2$$"
    )
    # A "#" line inside a code fence is code, and an unnumbered "#" heading stays in its question.
    assert "```\n# 这不是标题\nx = dropout(x, p=0.5)\n```" in second.text
    assert second.text.endswith("# Saddle Point Example\n\n这句仍属于第2题。")
    assert third.text == "梯度为零但不是极值的点。"
    assert first.ref == "basics#1"
    assert first.heading_path == ("1.什么是过拟合?",)


def test_repo_style_sections_are_exact():
    sections = parse_sections(REPO_STYLE, "repo")
    assert [(s.number, s.title) for s in sections] == [("1", "数据类别不平衡怎么处理？"), ("2", "什么是欠拟合？")]
    first, second = sections
    # Markup goes, words stay; markdown and "问题N" headings are sub-headings of the question.
    assert first.text == "过采样：对少数类别做过采样。\n\n### 1. 阈值调整\n\n### 问题1：一个子问题\n\n子问题的回答。"
    # A group heading leading into a question belongs to its path, not to the previous answer.
    assert second.heading_path == ("第二部分：欠拟合", "2.什么是欠拟合？")
    assert second.text == "欠拟合：模型在训练集上效果也不好。"


def test_toc_and_preface_are_not_sections():
    text = "前言文字\n\n## 目录\n- 1.A?\n- 2.B?\n\n## 1.A?\n答案A\n\n## 目录\n- 9.在目录里\n"
    sections = parse_sections(text, "d")
    assert [(s.number, s.text) for s in sections] == [("1", "答案A")]


def test_repeated_numbers_get_distinct_refs():
    text = "## 1.A?\na\n## 2.B?\nb\n## 1.C?\nc\n"
    refs = [s.ref for s in parse_sections(text, "d")]
    assert refs == ["d#1", "d#2", "d#1-2"]


def test_number_formats_and_decimals():
    text = "## 1、顿号标题\na\n##2.无空格\nb\n## 2.5D 不是题号\nc\n### **3.加粗**\nd\n"
    sections = parse_sections(text, "d")
    assert [(s.number, s.title) for s in sections] == [("1", "顿号标题"), ("2", "无空格"), ("3", "加粗")]
    assert sections[1].text == "b\n## 2.5D 不是题号\nc"


def test_document_without_numbered_questions_has_no_sections():
    assert parse_sections("# Readme\n\nSome links.\n", "readme") == []
    assert parse_sections("", "empty") == []


def test_numbered_group_headings_hold_questions_without_being_questions():
    text = (
        '<h2 id="1.RAG应用"> 1.RAG应用 </h2>\n\n<h3 id="1.召回率">1.召回率是什么？</h3>\n召回率的定义。\n'
        '<h3 id="2.难点">2.难点有哪些？</h3>\n难点。\n'
        '<h2 id="2.提示工程"> 2.提示工程 </h2>\n<h3 id="1.CoT">1.什么是CoT？</h3>\n思维链。\n'
    )
    sections = parse_sections(text, "d")
    assert [(s.ref, s.title, s.text) for s in sections] == [
        ("d#1", "召回率是什么？", "召回率的定义。"),
        ("d#2", "难点有哪些？", "难点。"),
        ("d#1-2", "什么是CoT？", "思维链。"),
    ]
    assert sections[1].heading_path == ("1.RAG应用", "2.难点有哪些？")
    assert sections[2].heading_path == ("2.提示工程", "1.什么是CoT？")
