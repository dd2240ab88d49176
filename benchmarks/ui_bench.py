"""The browser chat under real use: `serve` start-up, first token in the browser, five users at once.

    python benchmarks/ui_bench.py                  # real bundled model (converted once, cached)
    python benchmarks/ui_bench.py --users 5 --out benchmarks/results/ui.json

1. Starts `study-assistant serve` as a subprocess and times process start -> the page loaded in
   headless Chromium with its input box visible (the model and index already cached).
2. Asks one question in the page and times Enter -> first answer text on screen, and -> the
   sources panel filled (answer complete).
3. Sends --users questions at once through gradio_client and records each one's latency (queue
   wait + generation; generation is serialised) and whether it got an answer.
Needs Debian's /usr/bin/chromium (apt-get install chromium fonts-wqy-zenhei).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
QUESTION = "L1正则为什么比L2正则更容易产生稀疏解？"
USER_QUESTIONS = ["什么是鞍点？", "Dropout有什么作用？", "数据类别不平衡怎么处理？", "什么是PEFT技术？",
                  "How do I pick the classification threshold that maximises F1?", "梯度消失的原因是什么？",
                  "什么是哈达玛积？", "欠拟合怎么解决？"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5, help="concurrent API clients")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for anything")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ui.json"))
    args = parser.parse_args()

    from gradio_client import Client
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "ui", "--port", str(port)], cwd=REPO, env=os.environ.copy())
    report: dict = {"question": QUESTION}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            while True:  # the port opens only once the model is loaded
                try:
                    page.goto(url, timeout=2_000)
                    break
                except Exception:
                    if server.poll() is not None or time.perf_counter() - started > args.timeout:
                        raise RuntimeError("the server did not come up") from None
                    time.sleep(0.25)
            box = page.locator("#sa-input textarea")
            expect(box).to_be_visible(timeout=args.timeout * 1000)
            report["serve_to_ready_page_s"] = round(time.perf_counter() - started, 2)
            print(f"serve -> ready page: {report['serve_to_ready_page_s']} s", flush=True)

            box.fill(QUESTION)
            asked = time.perf_counter()
            box.press("Enter")
            page.wait_for_function(
                """() => { const bots = document.querySelectorAll('#sa-chat .message.bot');
                           const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
                           return text && text !== '…'; }""", timeout=args.timeout * 1000)
            report["browser_first_token_s"] = round(time.perf_counter() - asked, 2)
            expect(page.locator("#sa-sources")).to_contain_text("[1]", timeout=args.timeout * 1000)
            report["browser_answer_complete_s"] = round(time.perf_counter() - asked, 2)
            print(f"browser: first text {report['browser_first_token_s']} s, complete "
                  f"{report['browser_answer_complete_s']} s", flush=True)
            page.screenshot(path=str(Path(args.out).with_suffix(".png")), full_page=True)
            browser.close()

        def ask(question: str) -> dict:
            client = Client(url, verbose=False)
            sent = time.perf_counter()
            _, chat, sources = client.predict(question, [], 3, 0, False, api_name="/respond")
            text = "".join(p["text"] for p in chat[-1]["content"] if p["type"] == "text")
            return {"question": question, "seconds": round(time.perf_counter() - sent, 2),
                    "answered": bool(text) and not text.startswith("⚠️"), "refused": "资料未覆盖" in text
                    or "Not covered" in text, "sources": sources.count("\n#### [")}

        questions = (USER_QUESTIONS * args.users)[: args.users]
        with ThreadPoolExecutor(args.users) as pool:
            users = list(pool.map(ask, questions))
        seconds = [u["seconds"] for u in users]
        report["concurrent"] = {"users": args.users, "all_answered": all(u["answered"] for u in users),
                                "max_wait_s": max(seconds), "median_s": statistics.median(seconds),
                                "per_user": users}
        print(f"{args.users} users: all answered={report['concurrent']['all_answered']}, "
              f"max {max(seconds):.1f} s, median {statistics.median(seconds):.1f} s", flush=True)
    finally:
        server.terminate()
        server.wait(30)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
