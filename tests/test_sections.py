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


def test_number_followed_by_a_digit_starts_a_question_when_it_continues_the_numbering():
    text = (
        "## 1.2D数字人有什么方向?\n方向。\n## 1.1 表面描述子\n描述子。\n## 1.2小节\n小节。\n"
        "## 2.如何扩展到视频?\n视频。\n## 2.5D 不是题号\nc\n## 3.3D-LLM如何处理三维点云数据?\n点云。\n"
    )
    sections = parse_sections(text, "d")
    assert [(s.number, s.title) for s in sections] == [
        ("1", "2D数字人有什么方向?"),
        ("2", "如何扩展到视频?"),
        ("3", "3D-LLM如何处理三维点云数据?"),
    ]
    # Decimals followed by a space or a Chinese character are sub-headings of the question above.
    assert sections[0].text == "方向。\n## 1.1 表面描述子\n描述子。\n## 1.2小节\n小节。"
    assert sections[1].text == "视频。\n## 2.5D 不是题号\nc"

    html = (
        '<h1 id="5网络每一层">5.网络每一层是否只能用一种尺寸的卷积核</h1>\n五。\n'
        '<h1 id="611卷积的作用">6.1*1卷积的作用</h1>\n六。\n'
    )
    assert [(s.ref, s.title, s.text) for s in parse_sections(html, "d")] == [
        ("d#5", "网络每一层是否只能用一种尺寸的卷积核", "五。"),
        ("d#6", "1*1卷积的作用", "六。"),
    ]
    only = '# 目录\n- [1.3D数据的表示](#user-content-13D数据的表示)\n<h2 id="1.3D数据的表示">1.3D数据的表示</h2>\n体素。\n'
    assert [(s.ref, s.title, s.text) for s in parse_sections(only, "d")] == [("d#1", "3D数据的表示", "体素。")]


def test_html_id_number_wins_over_a_wrong_printed_number():
    text = (
        '<h2 id="1.什么是人脸识别？">1.什么是人脸识别？</h2>\n识别。\n'
        # The printed heading is a copy of the one above; the id carries number and title.
        '<h2 id="2.什么是1：1人脸验证？">1.什么是人脸识别？</h2>\n验证。\n'
        '<h2 id="3.从算法层面介绍DPO和PPO有什么区别？">2.DPO和PPO有什么区别？</h2>\nDPO。\n'
    )
    assert [(s.ref, s.title, s.text) for s in parse_sections(text, "d")] == [
        ("d#1", "什么是人脸识别？", "识别。"),
        ("d#2", "什么是1：1人脸验证？", "验证。"),
        ("d#3", "DPO和PPO有什么区别？", "DPO。"),
    ]


def test_html_heading_whose_id_holds_a_tag_like_text_is_read_whole():
    text = (
        '<h2 id="29.C++定义常量两种方式是什么？">29.C++定义常量两种方式是什么？</h2>\nconst。\n'
        '<h2 id="30.＃include<file.h>与＃include"file.h"的区别？">30.＃include<file.h>与＃include"file.h"的区别？</h2>\n'
        "查找路径不同。\n"
    )
    sections = parse_sections(text, "d")
    assert [(s.number, s.text) for s in sections] == [("29", "const。"), ("30", "查找路径不同。")]


_TOC_DATA = (
    "# 目录\n\n"
    "- [1.标准化/归一化（Normalization）](#user-content-1标准化/归一化（Normalization）)\n"
    "- [2.图像数据预处理方法总结](#user-content-2图像数据预处理方法总结)\n"
    "- [3.Mixup](#3.Mixup)\n\n"
)
_BODY_DATA = (
    "#### 标准化/归一化（Normalization）：\n缩放到同一区间。\n\n"
    "#### 图像数据预处理方法总结：\n裁剪、缩放。\n##### 数据增强：\n翻转。\n\n"
    '<h3 id="3.Mixup">3.Mixup </h3>\n混合两张图。\n'
)


def test_toc_entry_written_as_an_unnumbered_heading_is_that_question():
    sections = parse_sections(_TOC_DATA + _BODY_DATA, "d")
    assert [(s.ref, s.title, s.text) for s in sections] == [
        ("d#1", "标准化/归一化（Normalization）", "缩放到同一区间。"),
        ("d#2", "图像数据预处理方法总结", "裁剪、缩放。\n##### 数据增强：\n翻转。"),
        ("d#3", "Mixup", "混合两张图。"),
    ]
    # Without a table of contents an unnumbered heading is never a question.
    assert [s.ref for s in parse_sections(_BODY_DATA, "d")] == ["d#3"]


def test_numbered_tips_under_a_question_are_sub_headings_not_questions():
    body = (
        '<h2 id="1什么是bn">1.什么是BN？</h2>\n归一化。\n'
        '<h2 id="2有哪些提高gan训练稳定性的tricks">2.有哪些提高GAN训练稳定性的Tricks</h2>\n\n'
        '<h3 id="1输入normalize">1.输入Normalize</h3>\n缩放到[-1,1]。\n'
        '<h3 id="2使用batchnorm">2.使用BatchNorm</h3>\n不要混合real和fake。\n'
        '<h2 id="3什么是超参数">3.什么是超参数？</h2>\n学习率。\n'
    )
    tips = "### 1.输入Normalize\n缩放到[-1,1]。\n### 2.使用BatchNorm\n不要混合real和fake。"
    questions = "- [1.什么是BN？](#1)\n- [2.有哪些提高GAN训练稳定性的Tricks](#2)\n"
    sub_items = "  - [1.输入Normalize](#a)\n  - [2.使用BatchNorm](#b)\n"
    last = "- [3.什么是超参数？](#3)\n\n"
    # Tips left out of the TOC, or listed under their question among plain questions: same answer.
    for toc in ("# 目录\n" + questions + last, "# 目录\n" + questions + sub_items + last):
        sections = parse_sections(toc + body, "d")
        assert [(s.ref, s.title) for s in sections] == [
            ("d#1", "什么是BN？"),
            ("d#2", "有哪些提高GAN训练稳定性的Tricks"),
            ("d#3", "什么是超参数？"),
        ]
        assert sections[1].text == tips
        assert sections[1].heading_path == ("2.有哪些提高GAN训练稳定性的Tricks",)

    # A TOC whose entries all have children lists groups: their numbered children are questions.
    groups = (
        "<h1>目录</h1>\n- [1.RAG应用](#1.RAG应用)\n\t- [1.召回率是什么？](#1)\n"
        "- [2.提示工程](#2.提示工程)\n\t- [1.什么是CoT？](#1)\n\n"
        '<h2 id="1.RAG应用"> 1.RAG应用 </h2>\n\n<h3 id="1.召回率">1.召回率是什么？</h3>\n召回率。\n'
        '<h2 id="2.提示工程"> 2.提示工程 </h2>\n<h3 id="1.CoT">1.什么是CoT？</h3>\n思维链。\n'
    )
    assert [(s.ref, s.heading_path) for s in parse_sections(groups, "d")] == [
        ("d#1", ("1.RAG应用", "1.召回率是什么？")),
        ("d#1-2", ("2.提示工程", "1.什么是CoT？")),
    ]


def test_number_printed_twice_takes_the_toc_number_of_its_title():
    toc = (
        "# 目录\n- [1.AI算法如何赋能电商业务？](#1)\n- [2.AI业务的本质价值？](#2)\n"
        "- [3.AI公司如何评估成本与效益？](#3)\n- [4.什么是HotFlip？](#4)\n- [4.什么是UAT？](#4)\n\n"
    )
    body = (
        "## 1.AI算法如何赋能电商业务？\n电商。\n## 2.AI业务的本质价值？\n价值。\n"
        "## 2.AI公司如何评估成本与效益？\n成本。\n"
        # Printed twice in the TOC too: a true repeat.
        "## 4.什么是HotFlip？\n翻转。\n## 4.什么是UAT？\n触发词。\n"
        # Not in the TOC at all, and the title's number already taken: both keep their number.
        "## 5.常见的分词原则有哪些？\n原则。\n## 1.AI业务的本质价值？\n重复。\n"
    )
    sections = parse_sections(toc + body, "d")
    assert [(s.ref, s.title) for s in sections] == [
        ("d#1", "AI算法如何赋能电商业务？"),
        ("d#2", "AI业务的本质价值？"),
        ("d#3", "AI公司如何评估成本与效益？"),
        ("d#4", "什么是HotFlip？"),
        ("d#4-2", "什么是UAT？"),
        ("d#5", "常见的分词原则有哪些？"),
        ("d#1-2", "AI业务的本质价值？"),
    ]
    assert sections[2].text == "成本。"


def test_title_printed_twice_takes_the_toc_title_of_its_number():
    text = (
        "# 目录\n- [3.目前有哪些开源的3D人脸重建方案?](#3)\n- [4.3D人脸重建的技术难点有哪些?](#4)\n\n"
        '<h2 id="3.目前有哪些开源的3D人脸重建方案?">3. 目前有哪些开源的3D人脸重建方案?</h2>\n方案。\n'
        '<h2 id="4.目前有哪些开源的3D人脸重建方案?">4. 目前有哪些开源的3D人脸重建方案?</h2>\n难点。\n'
    )
    assert [(s.ref, s.title, s.text) for s in parse_sections(text, "d")] == [
        ("d#3", "目前有哪些开源的3D人脸重建方案?", "方案。"),
        ("d#4", "3D人脸重建的技术难点有哪些?", "难点。"),
    ]
