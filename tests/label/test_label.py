"""posterior label serve / export: on a tiny model made here (a BPE tokenizer and 2 steps of
training). Over HTTP: bad and huge bodies (400, 413), unknown and judged items (404, 409),
the server keeps answering; a port in use and a database of another prompts file are clear
errors. In headless chromium (tests/cdp.py; skipped when it is missing): 10 prompts judged by
keyboard and by mouse clicks with one undo, the server killed with SIGKILL after the 6th and
restarted on the same database (nothing lost, the same pair shown again), the SQLite rows
checked, the export parsed as preference pairs, a prompt holding <script> and <img onerror>
shown as text."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import cdp  # noqa: E402
from checks import check, finish  # noqa: E402

BIN = os.path.abspath(os.environ.get("POSTERIOR_BIN", "build/posterior"))


def posterior(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True)


if "not built" in posterior("label", "export", "--db", "x", "--out", "y").stderr:
    print("SKIP: this posterior was built without libmicrohttpd and SQLite")
    sys.exit(77)


def serve(model, prompts, db, port="0"):
    p = subprocess.Popen([BIN, "label", "serve", "--model", model, "--prompts", prompts, "--db", db,
                          "--port", port, "--max-new-tokens", "12"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line:
        raise RuntimeError("label serve did not start: " + p.stderr.read())
    return p, json.loads(line)["url"]


def http(url, method="GET", body=None):
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


HOSTILE = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"

with tempfile.TemporaryDirectory() as d:
    # a tiny model with a tokenizer
    os.makedirs(os.path.join(d, "corpus"))
    rng = random.Random(1)
    words = "the cat sat on a mat you and your dog are here".split()
    with open(os.path.join(d, "corpus", "c.txt"), "w") as f:
        f.write("\n".join(" ".join(rng.choice(words) for _ in range(10)) for _ in range(300)))
    with open(os.path.join(d, "ids.txt"), "w") as f:
        f.write(" ".join(str(rng.randrange(256)) for _ in range(3000)))
    r = posterior("tokenizer", "train", "--corpus", os.path.join(d, "corpus"), "--vocab-size", "300",
                  "--out", os.path.join(d, "tok"))
    check(r.returncode == 0, f"tokenizer: {r.stderr}")
    r = posterior("train", "--data", os.path.join(d, "ids.txt"), "--tokenizer", os.path.join(d, "tok"),
                  "--out", os.path.join(d, "run"), "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
                  "--n-positions", "64", "--steps", "2", "--batch", "2", "--seq", "16", "--quiet")
    check(r.returncode == 0, f"train: {r.stderr}")
    model = os.path.join(d, "run", "model")
    prompts = os.path.join(d, "prompts.txt")
    with open(prompts, "w") as f:
        f.write("\n".join([HOSTILE, ""] + [f"the cat {i}" for i in range(10)]) + "\n")  # 12 prompts
    db = os.path.join(d, "labels.sqlite")

    # ---- HTTP: bad input, the server keeps running --------------------------------------
    p, url = serve(model, prompts, db)
    try:
        st, j = http(url + "api/next")
        check(st == 200 and j["item"] == 1 and j["prompt"] == HOSTILE and j["total"] == 12, f"next: {st} {j}")
        st, j = http(url + "api/judge", "POST", b"{not json")
        check(st == 400 and "expected a JSON object" in j["error"], f"bad body: {st} {j}")
        st, j = http(url + "api/judge", "POST", json.dumps({"item": 1, "choice": "maybe"}).encode())
        check(st == 400, f"bad choice: {st}")
        st, j = http(url + "api/judge", "POST", b"x" * 5_000_000)
        check(st == 413 and "over 4096 bytes" in j["error"], f"huge body: {st} {j}")
        st, j = http(url + "api/judge", "POST", json.dumps({"item": 99, "choice": "a"}).encode())
        check(st == 404 and "no item 99" in j["error"], f"unknown item: {st} {j}")
        st, j = http(url + "api/judge", "GET")
        check(st == 405, f"GET judge: {st}")
        st, j = http(url + "nothing")
        check(st == 404, f"unknown page: {st}")
        st, j = http(url + "api/next")
        check(st == 200 and j["item"] == 1 and j["judged"] == 0, f"still serving, nothing recorded: {st} {j}")
        port = url.rsplit(":", 1)[1].strip("/")
        r = posterior("label", "serve", "--model", model, "--prompts", prompts, "--db", db + "2", "--port", port)
        check(r.returncode == 1 and f"127.0.0.1:{port} is in use" in r.stderr and "--port" in r.stderr,
              f"port in use: {r.returncode} {r.stderr}")
    finally:
        p.terminate()
        p.wait(10)
    other = os.path.join(d, "other.txt")
    with open(other, "w") as f:
        f.write("another prompt\n")
    r = posterior("label", "serve", "--model", model, "--prompts", other, "--db", db, "--port", "0")
    check(r.returncode == 1 and "another prompts file" in r.stderr and "prompts.txt" in r.stderr,
          f"database of another prompt set: {r.stderr}")
    r = posterior("label", "export", "--db", db, "--out", os.path.join(d, "none.jsonl"))
    check(r.returncode == 1 and "no judged pair" in r.stderr, f"export of nothing: {r.stderr}")
    r = posterior("label", "export", "--db", prompts, "--out", os.path.join(d, "none.jsonl"))
    check(r.returncode == 1 and "not a database of posterior label serve" in r.stderr, f"not a db: {r.stderr}")

    # ---- in the browser -----------------------------------------------------------------
    if not cdp.find_chromium():
        print("SKIP (browser part): needs Debian's chromium (scripts/bootstrap.sh installs it)")
    else:
        b = cdp.Browser()
        p, url = serve(model, prompts, db)
        try:
            page = b.new_page(url)
            page.wait("document.body.dataset.busy === '0' && document.body.dataset.item === '1'")
            check(page.eval("document.getElementById('prompt').textContent") == HOSTILE, "the prompt shown as text")
            check(page.eval("document.querySelectorAll('img').length") == 0 and
                  page.eval("window.__pwned === undefined"),
                  "the prompt's markup ran nothing")
            want = {}  # item -> choice

            def act(how, what, item):
                if how == "key":
                    page.key(what)
                else:
                    page.click(what)
                page.wait(f"document.body.dataset.busy === '0' && document.body.dataset.item !== '{item}'")

            plan = [("key", "a", "a"), ("key", "b", "b"), ("key", "t", "tie"), ("key", "s", "skip"),
                    ("key", "a", "a"), ("click", "#btn-b", "b")]
            for i, (how, what, choice) in enumerate(plan, 1):
                act(how, what, i)
                want[i] = choice
                if i == 2:  # undo the second: item 2 is shown again, judged anew
                    act("key", "u", 3)
                    check(page.eval("document.body.dataset.item") == "2", "undo shows item 2 again")
                    del want[2]
                    act("key", "b", 2)
                    want[2] = "b"
            rows = sqlite3.connect(db).execute("SELECT item, choice FROM judgements ORDER BY item").fetchall()
            check(rows == sorted(want.items()), f"rows after 6: {rows}")
            shown = page.eval("[document.getElementById('a').textContent, document.getElementById('b').textContent]")
            p.send_signal(signal.SIGKILL)  # mid-way: nothing answered may be lost
            p.wait(10)
            p, url2 = serve(model, prompts, db)
            page.goto(url2)
            page.wait("document.body.dataset.busy === '0' && document.body.dataset.item === '7'")
            check(page.eval("[document.getElementById('a').textContent, document.getElementById('b').textContent]")
                  == shown, "after the kill, the same pair is shown again")
            rows = sqlite3.connect(db).execute("SELECT item, choice FROM judgements ORDER BY item").fetchall()
            check(rows == sorted(want.items()), f"nothing lost by the kill: {rows}")
            for i, (sel, choice) in enumerate([("#btn-a", "a"), ("#btn-tie", "tie"), ("#btn-b", "b"),
                                               ("#btn-a", "a")], 7):
                act("click", sel, i)
                want[i] = choice
            progress = page.eval("document.getElementById('progress').textContent")
            check(progress.startswith("9 judged, 1 skipped, 10 of 12"), "progress " + progress)
            errors = page.errors()
            check(not [e for e in errors if "the server does not answer" not in e], f"console errors: {errors}")
            if os.environ.get("PST_SCREENSHOT_LABEL"):  # docs/: a screenshot of the page
                open(os.environ["PST_SCREENSHOT_LABEL"], "wb").write(page.screenshot())
        finally:
            p.terminate()
            p.wait(10)
            b.close()
        con = sqlite3.connect(db)
        rows = con.execute("SELECT item, choice FROM judgements ORDER BY item").fetchall()
        check(rows == sorted(want.items()) and len(rows) == 10, f"10 judgements stored: {rows}")
        check(con.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "WAL")
        items = {i: (pr, a, bb) for i, pr, a, bb in con.execute("SELECT id, prompt, a, b FROM items")}
        out = os.path.join(d, "pairs.jsonl")
        r = posterior("label", "export", "--db", db, "--out", out)
        check(r.returncode == 0, f"export: {r.stderr}")
        pairs = [json.loads(line) for line in open(out)]
        judged = [(i, c) for i, c in sorted(want.items()) if c != "skip" and items[i][1] != items[i][2]]
        check(len(pairs) == len(judged) == json.loads(r.stdout)["pairs"], f"{len(pairs)} pairs exported")
        for pair, (i, c) in zip(pairs, judged):
            pr, a, bb = items[i]
            ok = pair["prompt"] == pr and pair["tie"] == (c == "tie") and \
                (pair["chosen"], pair["rejected"]) == ((bb, a) if c == "b" else (a, bb))
            check(ok, f"pair of item {i} ({c}): {pair}")

finish()
