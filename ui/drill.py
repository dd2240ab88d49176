"""The Drill tab's handlers: next question, grade an answer, per-topic progress (plain data in and out).

    handlers = DrillHandlers(assistant.index, assistant.model, DrillStore.open(path))
    question_md, question, answer, result_md, progress = handlers.next("ana")
    result_md, progress = handlers.submit("ana", question, "L1 的解常在坐标轴上……")
"""

from __future__ import annotations

import logging

from assistant.drill.schedule import until

from assistant.drill import DrillQuestion, DrillSession, DrillStoreError

log = logging.getLogger(__name__)

EMPTY = "输入名字后点击“下一题”开始练习。进度按名字分别保存，重启后仍在。"


class DrillHandlers:
    """One store for every learner; a ``DrillSession`` per call (sessions hold no state of their own)."""

    def __init__(self, index, model, store, error: str | None = None):
        self.index, self.model, self.store = index, model, store
        self.error = error  # why the store could not be opened; shown instead of the drill

    def session(self, learner: str) -> DrillSession:
        return DrillSession(self.index, self.model, self.store, learner or "")

    def next(self, learner: str, question: dict | None = None,
             answer: str = "") -> tuple[str, dict | None, str, str, list[list]]:
        """(question Markdown, question state, cleared answer box, cleared result, progress rows).

        When the progress file cannot be read (locked by another process), the current ``question``
        and ``answer`` come back unchanged and the result says why."""
        if self.error:
            return f"⚠️ {self.error}", None, "", "", []
        if not (learner or "").strip():
            return "请先输入你的名字（用来保存练习进度）。", None, "", "", []
        session = self.session(learner)
        try:
            asked = session.next_question()
            rows = progress_rows(session.progress())
        except DrillStoreError as err:
            shown = question_markdown(DrillQuestion(**question)) if question else EMPTY
            return shown, question, answer or "", f"⚠️ {err}", []
        return question_markdown(asked), asked.__dict__, "", "", rows

    def submit(self, learner: str, question: dict | None, answer: str, rating: str | None = None) -> tuple[str, list[list]]:
        """(result Markdown, progress rows); a short message instead when there is nothing to grade.
        ``rating`` is the learner's own ("again" … "easy"; None or "": by the grade). The answer box
        is not an output: on any failure the learner's text stays there to submit again."""
        if self.error:
            return f"⚠️ {self.error}", []
        if not question or not (learner or "").strip():
            return "先点击“下一题”。", []
        session = self.session(learner)
        try:
            result = session.submit(DrillQuestion(**question), answer or "", rating or None)
        except DrillStoreError as err:  # nothing recorded; the answer stays in its box
            kept = "你的回答还在输入框里，没有保存；稍后再点“提交评分”即可。"
            return f"⚠️ {err}\n\n{kept}", _progress_or_none(session)
        except Exception as err:  # the page keeps serving; details go to the server log
            log.exception("Grading failed")
            return f"⚠️ 评分时出错（{type(err).__name__}），请再试一次。", _progress_or_none(session)
        lines = [f"**得分 {result.score:.0%}**（要点覆盖 {result.coverage:.0%}"
                 + ("" if result.judge is None else f"，模型评分 {result.judge:.0%}") + "）", ""]
        lines += [f"- 答到：{point}" for point in result.covered]
        lines += [f"- **漏掉**：{point}" for point in result.missed]
        lines += ["", f"下次复习：{until(result.next_due - session.clock())}后",
                  f"参考：{result.reference}（在“对话”里问这道题可看到原文与出处）"]
        return "\n".join(lines), _progress_or_none(session)


def question_markdown(question: DrillQuestion) -> str:
    return f"### 第{question.number}题\n{question.title}\n\n<sub>用自己的话回答，写出要点即可。</sub>"


def _progress_or_none(session: DrillSession) -> list[list]:
    """Progress rows, or none while the progress file cannot be read."""
    try:
        return progress_rows(session.progress())
    except DrillStoreError:
        return []


def progress_rows(progress: list[dict]) -> list[list]:
    """Rows for the progress chart: [topic, mean score %, answers], practised topics only."""
    return [[f"{row['number']}. {row['title'][:14]}", round(100 * row["mean"]), row["answers"]]
            for row in progress if row["answers"]]
