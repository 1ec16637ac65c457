#!/usr/bin/env python3
"""An example external scorer for `posterior score --scorer external:CMD`.

Protocol (JSON lines on stdin/stdout, one answer per request, any order):
    request  {"id": 7, "text": "...", "context": "..."}   (context optional)
    answer   {"id": 7, "score": 0.25}
         or  {"id": 7, "features": [1.0, 0.0, ...]}     (with --features)

This one scores the length of a text in words divided by 100; with --features
it answers phi(x) = [characters / 100, words / 100, has_context]. Replace the
body of score() with a call to any model (e.g. Detoxify) to use it as evidence:

    posterior score --scorer 'external:python3 examples/scorers/length_scorer.py' FILE
"""
import json
import sys


def score(text, context, features):
    words = len(text.split())
    if features:
        return {"features": [len(text) / 100.0, words / 100.0, 1.0 if context else 0.0]}
    return {"score": words / 100.0}


def main():
    features = "--features" in sys.argv[1:]
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        answer = score(request["text"], request.get("context"), features)
        answer["id"] = request["id"]
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
