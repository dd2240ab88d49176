"""The Drill tab's handlers: next question, grade an answer, per-chapter progress (plain data in and out).

    handlers = DrillHandlers(assistant.index, assistant.model, DrillStore.open(path))
    question_md, question, answer, result_md, progress = handlers.next("ana", scope=["深度学习基础"])
    result_md, progress = handlers.submit("ana", question, "L1 的解常在坐标轴上……", rating="good")
"""

from __future__ import annotations

import logging

from assistant.drill.schedule import until

from assistant.config import DrillConfig
from assistant.drill import DrillQuestion, DrillSession, DrillStoreError

log = logging.getLogger(__name__)

EMPTY = "输入名字后点击“下一题”开始练习。进度按名字分别保存，重启后仍在。"


class DrillHandlers:
    """One store for every learner; a ``DrillSession`` per call (sessions hold no state of their own)."""

    def __init__(self, index, model, store, error: str | None = None, settings: DrillConfig | None = None):
        self.index, self.model, self.store = index, model, store
        self.error = error  # why the store could not be opened; shown instead of the drill
        self.settings = settings or DrillConfig()  # the judge's weight, new questions a day

    def session(self, learner: str, scope=None) -> DrillSession:
        return DrillSession(self.index, self.model, self.store, learner or "", scope=scope or (),
                            judge_weight=self.settings.judge_weight, new_per_day=self.settings.new_per_day,
                            model_check=self.settings.model_check)

    def next(self, learner: str, question: dict | None = None, answer: str = "",
             scope: list[str] | None = None) -> tuple[str, dict | None, str, str, list[list]]:
        """(question Markdown, question state, cleared answer box, cleared result, progress rows)
        from today's queue in the chapters of ``scope`` (none: all); when the queue is done, the
        question says so and when the next one is due.

        When the progress file cannot be read (locked by another process), the current ``question``
        and ``answer`` come back unchanged and the result says why."""
        if self.error:
            return f"⚠️ {self.error}", None, "", "", []
        if not (learner or "").strip():
            return "请先输入你的名字（用来保存练习进度）。", None, "", "", []
        session = self.session(learner, scope)
        try:
            asked = session.next_question()
            rows = progress_rows(session.chapter_progress())
            if asked is None:
                return done_markdown(session), None, "", "", rows
        except DrillStoreError as err:
            shown = question_markdown(DrillQuestion(**question)) if question else EMPTY
            return shown, question, answer or "", f"⚠️ {err}", []
        return question_markdown(asked), asked.__dict__, "", "", rows

    def submit(self, learner: str, question: dict | None, answer: str, rating: str | None = None,
               scope: list[str] | None = None) -> tuple[str, list[list]]:
        """(result Markdown, progress rows); a short message instead when there is nothing to grade.
        ``rating`` is the learner's own ("again" … "easy"; None or "": by the grade). The answer box
        is not an output: on any failure the learner's text stays there to submit again."""
        if self.error:
            return f"⚠️ {self.error}", []
        if not question or not (learner or "").strip():
            return "先点击“下一题”。", []
        session = self.session(learner, scope)
        try:
            result = session.submit(DrillQuestion(**question), answer or "", rating or None)
        except DrillStoreError as err:  # nothing recorded; the answer stays in its box
            kept = "你的回答还在输入框里，没有保存；稍后再点“提交评分”即可。"
            return f"⚠️ {err}\n\n{kept}", _progress_or_none(session)
        except Exception as err:  # the page keeps serving; details go to the server log
            log.exception("Grading failed")
            return f"⚠️ 评分时出错（{type(err).__name__}），请再试一次。", _progress_or_none(session)
        lines = [f"**得分 {result.score:.0%}：{result.verdict}**（要点覆盖 {result.coverage:.0%}"
                 + ("" if result.judge is None else f"，模型评分 {result.judge:.0%}") + "）", ""]
        if result.contradiction:
            lines += [f"与笔记不符：{result.contradiction}", ""]
        lines += [f"- 答到：{point}" for point in result.covered]
        lines += [f"- **漏掉**：{point}" for point in result.missed]
        if result.note:
            lines += ["", f"⚠️ {result.note}"]
        lines += ["", f"下次复习：{until(result.next_due - session.clock())}后",
                  f"参考：{result.reference}（在“对话”里问这道题可看到原文与出处）"]
        return "\n".join(lines), _progress_or_none(session)


def question_markdown(question: DrillQuestion) -> str:
    return f"### 第{question.number}题\n{question.title}\n\n<sub>用自己的话回答，写出要点即可。</sub>"


def done_markdown(session: DrillSession) -> str:
    """Today's queue is done: what was learnt and when the next question is due."""
    queue = session.queue()
    text = f"### 今天的队列已完成\n今天新学 {queue['new_today']} 题（每天上限 {session.new_per_day}）。"
    if queue["next_due"] is not None:
        text += f"下一题 {until(queue['next_due'] - session.clock())}后到期。"
    return text


def _progress_or_none(session: DrillSession) -> list[list]:
    """Progress rows, or none while the progress file cannot be read."""
    try:
        return progress_rows(session.chapter_progress())
    except DrillStoreError:
        return []


def progress_rows(chapters: list[dict]) -> list[list]:
    """Rows for the per-chapter chart and table: [chapter, answered %, mean score %, due now,
    answered / questions], every chapter in scope."""
    return [[row["chapter"], round(100 * row["answered"] / row["questions"]),
             None if row["mean_score"] is None else round(100 * row["mean_score"]), row["due"],
             f"{row['answered']}/{row['questions']}"] for row in chapters]
